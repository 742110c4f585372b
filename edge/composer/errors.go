package composer

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// render writes an error the way Packagist does,
// {"status":"error","message":"..."}, which Composer shows. A 401 carries
// a Basic challenge: Composer then uses (or asks for) the http-basic or
// bearer credentials configured for the host.
func render(ctx *fasthttp.RequestCtx, err error) {
	id := edge.RequestID(ctx)
	if ctx.Response.StatusCode() == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="Entrepot Composer repository", charset="UTF-8"`)
	}
	if d, ok := auth.RetryAfter(err); ok {
		edge.RetryAfter(ctx, int(d.Seconds()+0.999))
	}
	b, _ := json.Marshal(struct {
		Status    string `json:"status"`
		Message   string `json:"message"`
		Code      string `json:"code"`
		RequestID string `json:"requestId,omitempty"`
	}{"error", edge.ClientMessage(err, id), codeOf(fault.KindOf(err)), id})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func codeOf(k fault.Kind) string {
	switch k {
	case fault.NotFound:
		return "not_found"
	case fault.TooLarge:
		return "too_large"
	case fault.RateLimited:
		return "rate_limited"
	}
	return k.String()
}
