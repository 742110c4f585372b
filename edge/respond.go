package edge

import "github.com/valyala/fasthttp"

// The security headers of every answer that is not the dashboard. Bytes a
// member uploads or a mirror fills (a POM with an XHTML script, an HTML
// file in a wheel's place, an SVG) are then never run as a page of the
// dashboard's origin: the sandbox gives the document an opaque origin and
// no scripts, default-src 'none' loads nothing, and nosniff stops a
// browser from guessing a renderable type.
//
// CSP is the Content-Security-Policy of every answer but the dashboard's.
const CSP = "default-src 'none'; sandbox"

var (
	headerCSP     = []byte("Content-Security-Policy")
	valueCSP      = []byte(CSP)
	headerNoSniff = []byte("X-Content-Type-Options")
	valueNoSniff  = []byte("nosniff")
)

// secure sets the security headers; the Mux calls it before every handler.
func secure(h *fasthttp.ResponseHeader) {
	h.SetCanonical(headerCSP, valueCSP)
	h.SetCanonical(headerNoSniff, valueNoSniff)
}

// errorDropped are the headers a handler may have set for the answer it
// meant to give, which an error answer must not carry: caching (a 503 or
// a 416 must not be stored by a shared cache for the year an artifact
// is), validators, and whatever describes a body that is not sent.
// Content-Range stays on a 416, where RFC 9110 asks for it;
// WWW-Authenticate, Retry-After, X-Request-Id and the security headers
// always stay.
var errorDropped = []string{
	"Cache-Control", "Expires", "ETag", "Last-Modified", "Vary", "Age",
	"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Location",
	"Accept-Ranges", "Repr-Digest", "Digest", "Docker-Content-Digest",
}

// retryAfterDefault is the Retry-After, in seconds, of a 429 or 503 whose
// renderer knows no better wait.
const retryAfterDefault = "5"

// clearForError prepares resp for an error answer with status: the body
// and the headers of the answer that was not given are dropped, errors are
// never stored by caches, and a 429 or 503 says when to come back. The
// renderer then writes the protocol's error format (and may set a more
// precise Retry-After). A HEAD keeps sending no body.
func clearForError(resp *fasthttp.Response, status int) {
	h := &resp.Header
	for _, k := range errorDropped {
		h.Del(k)
	}
	if status != fasthttp.StatusRequestedRangeNotSatisfiable {
		h.Del("Content-Range")
	}
	resp.ResetBody()
	h.SetContentLength(0)
	resp.SkipBody = false
	resp.SetStatusCode(status)
	h.Set("Cache-Control", "no-store")
	if status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable {
		if len(h.Peek("Retry-After")) == 0 {
			h.Set("Retry-After", retryAfterDefault)
		}
	}
}
