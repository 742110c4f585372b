package edge

import (
	"bytes"
	"io"

	"github.com/valyala/fasthttp"

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
	if s := ctx.RequestBodyStream(); s != nil {
		return &limitReader{r: paced(ctx, s), left: limit, limit: limit}, nil
	}
	return &limitReader{r: bytes.NewReader(ctx.Request.Body()), left: limit, limit: limit}, nil
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

type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Read one byte more to tell "exactly the limit" from "over it".
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fault.Newf("edge.Body", fault.TooLarge, "request body is over the limit of %d bytes", l.limit)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
