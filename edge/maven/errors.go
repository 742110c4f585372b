package maven

import (
	"net/http"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
)

// Realm is the Basic realm of the 401 challenge.
const Realm = "entrepot"

// Render writes an error the way Maven repositories do: a plain-text body
// with the status already chosen from the error's kind. Maven prints only
// the status line of a failed transfer ("status code: 409, reason phrase:
// ..."), so the message also goes into the reason phrase, where mvn shows
// it to the user. A 401 carries the Basic challenge: Maven sends the
// credentials of settings.xml only after it (preemptive auth is off by
// default), so private content must answer anonymous reads with 401,
// never 403 or 404. Internal errors show the request id only.
func Render(ctx *fasthttp.RequestCtx, err error) {
	status := ctx.Response.StatusCode()
	edge.Challenge(ctx, `Basic realm="`+Realm+`"`)
	msg := edge.ClientMessage(err, edge.RequestID(ctx))
	if status >= 400 && status < 500 && status != fasthttp.StatusNotFound {
		ctx.Response.Header.SetStatusMessage([]byte(http.StatusText(status) + ": " + reasonPhrase(msg)))
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBodyString(msg + "\n")
}

// reasonPhrase keeps what a status line may carry: printable ASCII, short
// enough for a log line, long enough for the hint that ends a refused
// claim (the management API call an administrator makes).
func reasonPhrase(s string) string {
	const max = 400
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}

var _ edge.Renderer = Render
