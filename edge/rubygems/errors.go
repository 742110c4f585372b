package rubygems

import (
	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// render writes errors as rubygems.org does: a plain-text message, which
// `gem push` and `gem yank` print as they are. A 401 carries a Basic
// challenge: Bundler and RubyGems send the credentials of a source URL
// (user:token@host) or of `bundle config` preemptively, and the
// challenge tells other tools what to send.
func render(ctx *fasthttp.RequestCtx, err error) {
	edge.Challenge(ctx, `Basic realm="Entrepot RubyGems"`)
	msg := edge.ClientMessage(err, edge.RequestID(ctx))
	if fault.Is(err, fault.Unauthorized) && msg == fault.Unauthorized.String() {
		msg = "authentication required: give an Entrepot API token (GEM_HOST_API_KEY, or user:token in the source URL)"
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(msg + "\n")
}
