package pypi

import (
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
)

// Render writes an error the way PyPI does: the message in the status
// line's reason phrase, which is what twine and pip print, and again as
// the plain-text body. A 401 carries a Basic challenge, so that pip asks
// its keyring or netrc for credentials. Internal errors show the request
// id only.
func Render(ctx *fasthttp.RequestCtx, err error) {
	edge.Challenge(ctx, `Basic realm="entrepot"`)
	msg := edge.ClientMessage(err, edge.RequestID(ctx))
	ctx.Response.Header.SetStatusMessage([]byte(reason(msg)))
	ctx.SetContentType("text/plain; charset=utf-8")
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBodyString(msg + "\n")
}

// reason makes msg safe for a status line: printable ASCII, bounded.
func reason(msg string) string {
	b := []byte(msg)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = ' '
		}
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

var _ edge.Renderer = Render
