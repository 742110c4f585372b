package edge

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// DocOptions describe a metadata document (a packument, a simple page, an
// index file, maven-metadata.xml, a gemspec) beside its bytes.
type DocOptions struct {
	ContentType string
	// CacheControl is sent as is; "" sends none.
	CacheControl string
	// ETag is the entity tag of the identity body, quoted; "" = one
	// derived from a hash of the body. The gzip variant's tag is derived
	// from it.
	ETag string
	// LastModified, when set, is sent and answers If-Modified-Since.
	LastModified time.Time
	// Vary names the request headers, besides Accept-Encoding, that chose
	// this document (npm's Accept); "" = none.
	Vary string
	// NoGzip leaves out the gzip variant (and Accept-Encoding from Vary):
	// for a body that is compressed already (a deflated gemspec), or a
	// protocol whose documents are promised to vary on Accept alone
	// (PyPI's pages).
	NoGzip bool
}

// Document is a metadata document prepared to be served many times: its
// entity tags and its gzip variant are computed once, by NewDocument. It
// is immutable and safe for concurrent use.
type Document struct {
	body, gz     []byte
	etag, gzETag string
	vary         string
	o            DocOptions
	// file, gzFile name the prepared files that hold a body too large to
	// be worth memory (Budget.NewDocument); size, gzSize are their lengths.
	file, gzFile string
	size, gzSize int
}

// sendfileMin is the body size from which fasthttp sends an *os.File by
// sendfile (its maxSmallFileSize) instead of copying it: a prepared file
// smaller than that would be copied, so it is never made.
const sendfileMin = 8 << 10

// fileWeight is the part of a prepared file's size that its document
// weighs in the budget: the file costs no memory, but the budget bounds
// the disk too, at fileWeight × CACHE_MEMORY.
const fileWeight = 8

// NewDocument is NewDocument for a document held on b: a body (or gzip
// variant) above b's file threshold (a 64th of the budget, and never
// below the sendfile threshold) goes to a prepared file, which leaves by
// sendfile, and only the document's header stays in memory. The
// file is removed when the document leaves b (a document made here must
// be added to a Shelf of b, or its files live until the next start).
func (b *Budget) NewDocument(body []byte, o DocOptions) *Document {
	d := NewDocument(body, o)
	if len(d.body) > b.fileMin {
		if d.file = b.prepare("d", d.body); d.file != "" {
			d.size, d.body = len(d.body), nil
		}
	}
	if len(d.gz) > b.fileMin {
		if d.gzFile = b.prepare("z", d.gz); d.gzFile != "" {
			d.gzSize, d.gz = len(d.gz), nil
		}
	}
	return d
}

// Weight is what d costs the budget, in bytes.
func (d *Document) Weight() int {
	return len(d.body) + len(d.gz) + (d.size+d.gzSize)/fileWeight + len(d.etag) + len(d.gzETag) + len(d.file) + len(d.gzFile) + 256
}

// release removes d's prepared files, after linger (a request may have
// found d just before).
func (d *Document) release(linger time.Duration) {
	if d.file != "" || d.gzFile != "" {
		removeLater(linger, d.file, d.gzFile)
	}
}

// NewDocument prepares body for serving: its tags and its gzip variant
// (best compression, paid once). body is kept, not copied: it must not
// change afterwards.
func NewDocument(body []byte, o DocOptions) *Document {
	d := newDoc(body, o)
	if !o.NoGzip {
		d.gz = compress(body, gzip.BestCompression)
	}
	return d
}

func newDoc(body []byte, o DocOptions) *Document {
	etag := o.ETag
	if etag == "" {
		sum := sha256.Sum256(body)
		etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	}
	vary := o.Vary
	switch {
	case o.NoGzip:
	case vary == "":
		vary = "Accept-Encoding"
	default:
		vary += ", Accept-Encoding"
	}
	return &Document{body: body, etag: etag, gzETag: gzTag(etag), vary: vary, o: o}
}

// gzTag is the entity tag of the gzip variant of the body tagged etag:
// another representation, so another tag.
func gzTag(etag string) string {
	return strings.TrimSuffix(etag, `"`) + `-gz"`
}

// lazyGzipMin is the size from which a document built for one request is
// compressed: below it gzip saves less than it costs.
const lazyGzipMin = 1024

// ServeDocument answers with a document built for this request (a page
// rendered from the catalog): its tag is hashed from body unless o names
// one, and it is compressed, quickly, only when the client accepts gzip,
// body is large enough, and the answer is not a 304. body is handed to
// fasthttp without a copy: it must not change afterwards.
func ServeDocument(ctx *fasthttp.RequestCtx, body []byte, o DocOptions) {
	newDoc(body, o).serve(ctx, true)
}

// Unchanged answers 304 when a request conditional on modification time
// alone (If-Modified-Since without If-None-Match) finds the document as
// old as modified, so that a handler which knows the time before it
// builds the document can skip building it. It reports whether it
// answered.
func Unchanged(ctx *fasthttp.RequestCtx, modified time.Time) bool {
	if modified.IsZero() || !notModified(ctx, "", modified) {
		return false
	}
	ctx.Response.Header.Set("Last-Modified", modified.UTC().Format(http.TimeFormat))
	ctx.SetStatusCode(fasthttp.StatusNotModified)
	return true
}

// Serve answers with d, as ServeDocument does.
func (d *Document) Serve(ctx *fasthttp.RequestCtx) { d.serve(ctx, false) }

// serve answers GET and HEAD with d: the gzip variant when the client
// accepts it, 304 when If-None-Match names the variant it would get (or,
// without one, If-Modified-Since is as recent as LastModified), headers
// only for HEAD. lazy compresses on demand a document that has no
// prepared variant.
func (d *Document) serve(ctx *fasthttp.RequestCtx, lazy bool) {
	h := &ctx.Response.Header
	body, etag := d.body, d.etag
	gz := acceptsGzip(ctx.Request.Header.Peek("Accept-Encoding")) && (d.gz != nil || d.gzFile != "" || lazy && !d.o.NoGzip && len(d.body) >= lazyGzipMin)
	if gz {
		etag = d.gzETag
	}
	if d.vary != "" {
		h.Set("Vary", d.vary)
	}
	if d.o.CacheControl != "" {
		h.Set("Cache-Control", d.o.CacheControl)
	}
	h.Set("ETag", etag)
	if !d.o.LastModified.IsZero() {
		h.Set("Last-Modified", d.o.LastModified.UTC().Format(http.TimeFormat))
	}
	if notModified(ctx, etag, d.o.LastModified) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	file, size := d.file, d.size
	if gz {
		body, file, size = d.gz, d.gzFile, d.gzSize
		if body == nil && file == "" {
			body = compress(d.body, gzip.BestSpeed)
		}
		h.Set("Content-Encoding", "gzip")
	}
	h.SetContentType(d.o.ContentType)
	if file == "" {
		size = len(body)
	}
	if ctx.IsHead() {
		h.SetContentLength(size)
		ctx.Response.SkipBody = true
		return
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			// Removed under us: only after the document left the budget
			// and its linger passed, so this request is very late.
			h.Del("ETag")
			h.Del("Cache-Control")
			ctx.Error("prepared document gone, retry", fasthttp.StatusServiceUnavailable)
			return
		}
		ctx.Response.SetBodyStream(f, size) // fasthttp closes f; an *os.File leaves by sendfile
		return
	}
	ctx.Response.SetBodyRaw(body)
	h.SetContentLength(len(body))
}

var gzipWriters [gzip.BestCompression + 1]sync.Pool

// compress gzips b at level, with a pooled writer.
func compress(b []byte, level int) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/4 + 64)
	zw, _ := gzipWriters[level].Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, level) // errs only on a bad level
	} else {
		zw.Reset(&buf)
	}
	zw.Write(b)
	zw.Close()
	gzipWriters[level].Put(zw)
	return buf.Bytes()
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip. A
// "gzip;q=0" refusal is rare enough to be read literally.
func acceptsGzip(ae []byte) bool {
	i := bytes.Index(ae, []byte("gzip"))
	if i < 0 {
		return false
	}
	rest := ae[i+4:]
	if j := bytes.IndexByte(rest, ','); j >= 0 {
		rest = rest[:j]
	}
	rest = bytes.ReplaceAll(rest, []byte(" "), nil)
	return !bytes.HasPrefix(rest, []byte(";q=0")) || bytes.HasPrefix(rest, []byte(";q=0."))
}
