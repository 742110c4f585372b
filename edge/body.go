package edge

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

// Body returns the request body as a stream that fails with a TooLarge
// error past limit bytes. The server streams request bodies, so fasthttp's
// own size limit does not apply (see DESIGN.md, pitfalls): every handler
// that reads a body goes through here. A declared Content-Length over the
// limit is refused before a byte is read. A streamed body that arrives
// slower than the server's minimum rate fails with a 408 (pace.go).
func Body(ctx *fasthttp.RequestCtx, limit int64) (io.Reader, error) {
	if n := ctx.Request.Header.ContentLength(); n > 0 && int64(n) > limit {
		return nil, fault.Newf("edge.Body", fault.TooLarge, "request body of %d bytes is over the limit of %d bytes", n, limit)
	}
	over := func() error {
		return fault.Newf("edge.Body", fault.TooLarge, "request body is over the limit of %d bytes", limit)
	}
	if s := ctx.RequestBodyStream(); s != nil {
		return archive.Cap(ownErrors{paced(ctx, s)}, limit, over), nil
	}
	return archive.Cap(bytes.NewReader(ctx.Request.Body()), limit, over), nil
}

// ReadBody reads a whole (small) body, for JSON documents and the like.
func ReadBody(ctx *fasthttp.RequestCtx, limit int64) ([]byte, error) {
	r, err := Body(ctx, limit)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		if fault.Is(err, fault.TooLarge) {
			return nil, err
		}
		return nil, fault.Wrap("edge.ReadBody", fault.Invalid, err)
	}
	return b, nil
}

// ownErrors stands between fasthttp's body stream and every reader of a
// request body. fasthttp's errors for a malformed chunked body or trailer
// quote the raw bytes that follow, and on a kept-alive connection those
// can be the next pipelined request with its Authorization header: such
// an error must reach neither the client nor the log. It becomes an
// Invalid error with a fixed message, keeping only a redacted cause for
// the log; the edge's own errors (pacing's 408, a size limit) and io.EOF
// pass as they are.
type ownErrors struct{ r io.Reader }

func (o ownErrors) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var fe *fault.Error
	var se *StatusError
	if errors.As(err, &se) || errors.As(err, &fe) {
		return n, err
	}
	return n, fault.WrapMsg("edge.Body", fault.Invalid, "the request body is malformed", errors.New(Redact(err.Error())))
}

// drainRefused reads and drops what is left of the body of a request that
// is answered with an error, before the answer is written. fasthttp
// itself discards an unread body only after the answer, and only up to
// 256 KiB, closing the connection on more: a client still sending then
// gets a reset instead of the error, and a proxy in front (nginx) turns
// the answer into a 502. At most drainLimit bytes are read, for at most
// drainWait, so that a client cannot hold the answer up; a body left
// unread then, or one refused for its size, closes the connection after
// the answer.
func drainRefused(ctx *fasthttp.RequestCtx, tooLarge bool) {
	if tooLarge {
		ctx.SetConnectionClose()
	}
	s := ctx.RequestBodyStream()
	if s == nil || !hasBody(&ctx.Request.Header) {
		return
	}
	if c := ctx.Conn(); c != nil {
		c.SetReadDeadline(time.Now().Add(drainWait))
	}
	if _, err := io.CopyN(io.Discard, s, drainLimit); err != io.EOF {
		ctx.SetConnectionClose()
	}
}

// drainLimit is how much of a refused body is read and dropped: a chunk
// of an upload, or the start of a body over the limit.
const drainLimit = 64 << 20

// drainWait bounds how long drainRefused waits for a client to send more.
const drainWait = time.Second
