package composer

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// render writes an error the way Packagist does,
// {"status":"error","message":"..."}, which Composer shows. A 401 carries
// a Basic challenge: Composer then uses (or asks for) the http-basic or
// bearer credentials configured for the host.
func render(ctx *fasthttp.RequestCtx, err error) {
	id := edge.RequestID(ctx)
	edge.Challenge(ctx, `Basic realm="Entrepot Composer repository", charset="UTF-8"`)
	b, _ := json.Marshal(struct {
		Status    string `json:"status"`
		Message   string `json:"message"`
		Code      string `json:"code"`
		RequestID string `json:"requestId,omitempty"`
	}{"error", edge.ClientMessage(err, id), edge.ErrorCode(fault.KindOf(err)), id})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
