package edge

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/fault"
)

// DefaultMinBodyRate is the slowest a request body may arrive, in bytes
// per second, unless configured otherwise: far below any real client's
// upload, far above what keeps a connection open for free.
const DefaultMinBodyRate = 8 << 10

// pacing is the server's minimum body rate: need bytes in every window,
// within the request's whole read timeout (upload for a request with
// credentials, anonymous for one without).
type pacing struct {
	need              int64
	window            time.Duration
	upload, anonymous time.Duration
}

const pacingKey = "edge.pacing"

// total is how long a whole body may take.
func (p *pacing) total(credentials bool) time.Duration {
	if credentials {
		return p.upload
	}
	return p.anonymous
}

// firstRead is the read timeout of a request with a body until its
// handler runs and paced takes over: one window, within the whole.
func (p *pacing) firstRead(credentials bool) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{ReadTimeout: min(p.window, p.total(credentials))}
}

// paced wraps a streamed request body so that each window must deliver
// the pacing's bytes. The window is enforced with the connection's read
// deadline, armed once per window rather than per read, up to the
// request's whole read timeout (upload for a request with credentials,
// anonymous for one without) counted from when the handler began.
//
// fasthttp reads up to 8 KiB of a body before the handler runs, under the
// deadline HeaderReceived set: with pacing on, that deadline is one window
// (firstRead), so a body trickled from its first byte is cut there too.
func paced(ctx *fasthttp.RequestCtx, r io.Reader) io.Reader {
	p, ok := ctx.UserValue(pacingKey).(*pacing)
	if !ok {
		return r
	}
	return &pacedReader{ctx: ctx, r: r, p: p, end: ctx.Time().Add(p.total(hasCredentials(&ctx.Request.Header)))}
}

type pacedReader struct {
	ctx   *fasthttp.RequestCtx
	r     io.Reader
	p     *pacing
	end   time.Time
	got   int64 // bytes in the current window
	armed bool
}

func (r *pacedReader) Read(b []byte) (int, error) {
	if !r.armed || r.got >= r.p.need {
		r.got, r.armed = 0, true
		d := time.Now().Add(r.p.window)
		if d.After(r.end) {
			d = r.end
		}
		r.ctx.SetReadDeadline(d)
	}
	n, err := r.r.Read(b)
	r.got += int64(n)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		// The connection's state is unknown past a timeout: close it
		// after the answer instead of reading on.
		r.ctx.SetConnectionClose()
		return n, WithStatus(fasthttp.StatusRequestTimeout, fault.Newf("edge.Body", fault.Invalid,
			"the request body arrived too slowly (under %d bytes in %s) or too late", r.p.need, r.p.window))
	}
	return n, err
}
