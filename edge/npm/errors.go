package npm

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
)

// Render writes an error the way npm registries do: {"error":"message"}
// with the status already chosen from the error's kind. A 401 carries a
// Bearer challenge: the npm CLI reports it as E401 and tells the user to
// log in (its "otp" and "ipaddress" variants are not ours to ask for).
// Internal errors show the request id only.
func Render(ctx *fasthttp.RequestCtx, err error) {
	edge.Challenge(ctx, `Bearer realm="entrepot"`)
	b, _ := json.Marshal(struct {
		Error     string `json:"error"`
		RequestID string `json:"requestId,omitempty"`
	}{edge.ClientMessage(err, edge.RequestID(ctx)), edge.RequestID(ctx)})
	ctx.SetContentType("application/json")
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

var _ edge.Renderer = Render
