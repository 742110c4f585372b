package gomod

import (
	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// render writes errors as module proxies do: plain text, which the go
// command prints after the status. A 404 or 410 tells it the module is
// not here (it then tries the next GOPROXY entry, if any); a 401 carries
// a Basic challenge, since the go command sends .netrc credentials and
// GOAUTH's on a challenge.
func render(ctx *fasthttp.RequestCtx, err error) {
	if fault.Is(err, fault.Unauthorized) {
		edge.Challenge(ctx, `Basic realm="Entrepot Go modules"`)
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(edge.ClientMessage(err, edge.RequestID(ctx)) + "\n")
}
