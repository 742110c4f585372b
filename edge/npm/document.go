package npm

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/fasthttp"
)

// The media types of packuments.
const (
	typeFull        = "application/json"
	typeAbbreviated = "application/vnd.npm.install-v1+json"
)

// document is a prepared response body: the JSON, its gzip and their
// entity tags, built once and then served as is by every request. It is
// immutable once built.
type document struct {
	body, gz     []byte
	etag, gzETag string // quoted
	contentType  string
	cacheControl string
}

// newDocument prepares body for serving.
func newDocument(body []byte, contentType, cacheControl string) *document {
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // errs only on a bad level
	zw.Write(body)
	zw.Close()
	return &document{
		body:         body,
		gz:           buf.Bytes(),
		etag:         `"` + tag + `"`,
		gzETag:       `"` + tag + `-gz"`,
		contentType:  contentType,
		cacheControl: cacheControl,
	}
}

// serve answers with d: gzip when the client accepts it, 304 when its
// If-None-Match names the variant it would get, headers only for HEAD.
// The body is handed to fasthttp without a copy.
func (d *document) serve(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	body, etag := d.body, d.etag
	if acceptsGzip(ctx.Request.Header.Peek("Accept-Encoding")) {
		body, etag = d.gz, d.gzETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Vary", "Accept, Accept-Encoding")
	h.Set("Cache-Control", d.cacheControl)
	h.Set("ETag", etag)
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(inm, etag) {
		h.Del("Content-Encoding")
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentType(d.contentType)
	if ctx.IsHead() {
		h.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.Response.SetBodyRaw(body)
	h.SetContentLength(len(body))
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

// etagMatch is the weak comparison of If-None-Match against one tag.
func etagMatch(header []byte, etag string) bool {
	for len(header) > 0 {
		var t []byte
		t, header, _ = bytes.Cut(header, []byte(","))
		t = bytes.TrimPrefix(bytes.TrimSpace(t), []byte("W/"))
		if string(t) == etag || string(t) == "*" {
			return true
		}
	}
	return false
}

// documents holds prepared documents by key, and for hosted packages the
// serial last seen, trusted for a moment so that a hot GET makes no store
// round trip. A change made in this process forgets the serial at once;
// one made by another edge is seen within serialTTL.
type documents struct {
	lru     *lru.Cache[string, *document]
	serials *expirable.LRU[string, uint64]
}

const serialTTL = time.Second

func newDocuments(n int) *documents {
	l, _ := lru.New[string, *document](n) // errs only on n <= 0
	return &documents{lru: l, serials: expirable.NewLRU[string, uint64](65536, nil, serialTTL)}
}

// docKey names a prepared document: its form, the package, what its
// content came from (a serial or a cached blob's digest) and the base URL
// written into it.
func docKey(form, name, source, base string) string {
	return form + "\x00" + name + "\x00" + source + "\x00" + base
}

func (d *documents) get(key string) (*document, bool) { return d.lru.Get(key) }
func (d *documents) add(key string, doc *document)    { d.lru.Add(key, doc) }

func (d *documents) serial(n Name) (uint64, bool) { return d.serials.Get(n.String()) }
func (d *documents) setSerial(n Name, s uint64)   { d.serials.Add(n.String(), s) }
func (d *documents) forgetHosted(n Name)          { d.serials.Remove(n.String()) }
