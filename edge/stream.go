package edge

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Blob describes what ServeBlob sends.
type Blob struct {
	Digest blob.Digest // sha256 of the stored bytes
	// ContentType is the media type clients expect ("" =
	// application/octet-stream). One a browser could render (XML, HTML,
	// SVG, text, ...) is sent with Content-Disposition: attachment, see
	// inert.
	ContentType string
	// ETag is the entity tag, quoted; "" = the quoted sha256 digest, which
	// is exact for content-addressed bytes.
	ETag string
	// LastModified, when set, is sent and answers If-Modified-Since.
	LastModified time.Time
	// Immutable adds a year-long Cache-Control for content that never
	// changes under its URL (artifacts addressed by version or digest).
	Immutable bool
}

// ServeBlob answers GET and HEAD with a stored blob: conditional requests
// (If-None-Match, or without it If-Modified-Since → 304), a single byte
// Range (206, or 416 with the size), and, where the store keeps plain
// files, the body goes out by sendfile. Errors are left to the caller's
// renderer, and the Mux drops the caching headers of an answer that ends
// in one.
func ServeBlob(ctx *fasthttp.RequestCtx, store blob.Store, b Blob) error {
	const op = "edge.ServeBlob"
	etag := b.ETag
	if etag == "" {
		etag = `"` + string(b.Digest) + `"`
	}
	rctx := Context(ctx)

	var (
		f    *os.File
		info blob.Info
		err  error
	)
	if fo, ok := store.(blob.FileOpener); ok {
		f, info, err = fo.OpenFile(rctx, b.Digest)
	} else {
		info, err = store.Stat(rctx, b.Digest)
	}
	if err != nil {
		return fault.Op(op, err)
	}
	closeFile := func() {
		if f != nil {
			f.Close()
		}
	}

	h := &ctx.Response.Header
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	if !b.LastModified.IsZero() {
		h.Set("Last-Modified", b.LastModified.UTC().Format(http.TimeFormat))
	}
	if b.Immutable {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	if notModified(ctx, etag, b.LastModified) {
		closeFile()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return nil
	}
	ct := b.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.SetContentType(ct)
	if !inert(ct) {
		h.Set("Content-Disposition", "attachment")
	}

	offset, length := int64(0), info.Size
	if rh := ctx.Request.Header.Peek("Range"); len(rh) > 0 && ifRange(ctx, etag) {
		start, end, ok := parseRange(rh, info.Size)
		if !ok {
			closeFile()
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			return WithStatus(fasthttp.StatusRequestedRangeNotSatisfiable,
				fault.Newf(op, fault.Invalid, "range %q not satisfiable for %d bytes", rh, info.Size))
		}
		if start >= 0 {
			offset, length = start, end-start+1
			ctx.SetStatusCode(fasthttp.StatusPartialContent)
			h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(info.Size, 10))
		}
	}

	if ctx.IsHead() {
		closeFile()
		h.SetContentLength(int(length))
		ctx.Response.SkipBody = true
		return nil
	}
	if f != nil {
		if offset > 0 {
			if _, err := f.Seek(offset, io.SeekStart); err != nil {
				f.Close()
				return fault.Wrap(op, fault.Unavailable, err)
			}
		}
		// A bare *os.File with a size is what fasthttp sends with
		// sendfile; it stops at the size and closes the file.
		ctx.SetBodyStream(f, int(length))
		return nil
	}
	// fasthttp reads the body after the handler returns, when rctx has
	// ended: the stream has a context of its own, ended with it.
	sctx, cancel := StreamContext(ctx)
	r, err := store.Open(sctx, b.Digest, offset, length)
	if err != nil {
		cancel()
		return fault.Op(op, err)
	}
	ctx.SetBodyStream(CancelOnClose(r, cancel), int(length))
	return nil
}

// CancelOnClose returns r, whose Close (which fasthttp calls when a body
// stream ends, sent or not) also runs cancel: the end of a
// StreamContext.
func CancelOnClose(r io.ReadCloser, cancel context.CancelFunc) io.ReadCloser {
	return &cancelOnClose{ReadCloser: r, cancel: cancel}
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// inert reports whether a browser shown ct would display the bytes as
// data, not run them as a page: archives, binary data and JSON. Anything
// else (XML and so a POM, HTML, XHTML, SVG, text, a type a member made up)
// is sent as an attachment. The list is short on purpose: a type missing
// from it costs a download prompt, a type wrongly on it an XSS.
func inert(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case "application/octet-stream", "application/zip", "application/gzip", "application/x-gzip",
		"application/x-tar", "application/java-archive", "application/json":
		return true
	}
	return strings.HasPrefix(mt, "application/vnd.oci.") || strings.HasPrefix(mt, "application/vnd.docker.")
}

// notModified evaluates a GET's conditional headers against the answer's
// validators (RFC 9110, 13.2.2): If-None-Match when present, with the weak
// comparison, else If-Modified-Since against modified at the second HTTP
// dates have. It is the one evaluator of blobs and documents.
func notModified(ctx *fasthttp.RequestCtx, etag string, modified time.Time) bool {
	if !ctx.IsGet() && !ctx.IsHead() {
		return false
	}
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 {
		return etag != "" && etagMatch(inm, etag)
	}
	if ims := ctx.Request.Header.Peek("If-Modified-Since"); len(ims) > 0 && !modified.IsZero() {
		t, err := http.ParseTime(string(ims))
		return err == nil && !modified.Truncate(time.Second).After(t)
	}
	return false
}

// etagMatch implements the weak comparison of an If-None-Match list
// against one entity tag.
func etagMatch(header []byte, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for len(header) > 0 {
		var t []byte
		t, header, _ = bytes.Cut(header, []byte(","))
		t = bytes.TrimPrefix(bytes.TrimSpace(t), []byte("W/"))
		if string(t) == want || string(t) == "*" {
			return true
		}
	}
	return false
}

// ifRange reports whether a Range header applies: with no If-Range, or an
// If-Range naming the current entity tag.
func ifRange(ctx *fasthttp.RequestCtx, etag string) bool {
	ir := ctx.Request.Header.Peek("If-Range")
	return len(ir) == 0 || string(bytes.TrimSpace(ir)) == etag
}

// parseRange parses one "bytes=" range against size. It returns start -1
// when the header should be ignored (another unit, or several ranges,
// which RFC 9110 lets a server answer with the whole body), and ok false
// when the range cannot be satisfied.
func parseRange(h []byte, size int64) (start, end int64, ok bool) {
	spec, found := bytes.CutPrefix(bytes.TrimSpace(h), []byte("bytes="))
	if !found || bytes.IndexByte(spec, ',') >= 0 {
		return -1, -1, true
	}
	first, last, found := bytes.Cut(spec, []byte("-"))
	if !found {
		return -1, -1, true
	}
	first, last = bytes.TrimSpace(first), bytes.TrimSpace(last)
	if len(first) == 0 { // suffix: the last n bytes
		n, err := strconv.ParseInt(string(last), 10, 64)
		if err != nil || n < 0 {
			return -1, -1, true
		}
		if n == 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	s, err := strconv.ParseInt(string(first), 10, 64)
	if err != nil || s < 0 {
		return -1, -1, true
	}
	if s >= size {
		return 0, 0, false
	}
	e := size - 1
	if len(last) > 0 {
		e, err = strconv.ParseInt(string(last), 10, 64)
		if err != nil || e < s {
			return -1, -1, true
		}
		e = min(e, size-1)
	}
	return s, e, true
}
