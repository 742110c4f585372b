package cargo

import (
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
)

// render writes an error as cargo's registries do,
// {"errors":[{"detail":"..."}]}, which cargo prints, with the status
// already chosen from the error's kind. A 401 carries the challenge
// cargo needs to send its token (and to tell the user where to get one):
// WWW-Authenticate: Cargo login_url="...". Internal errors show the
// request id only.
func (h *Handler) render(ctx *fasthttp.RequestCtx, err error) {
	edge.Challenge(ctx, "Cargo login_url="+strconv.Quote(h.r.Base.For(ctx)+"/"))
	type detail struct {
		Detail string `json:"detail"`
	}
	b, _ := json.Marshal(struct {
		Errors []detail `json:"errors"`
	}{[]detail{{edge.ClientMessage(err, edge.RequestID(ctx))}}})
	ctx.SetContentType("application/json")
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

var _ edge.Renderer = (*Handler)(nil).render
