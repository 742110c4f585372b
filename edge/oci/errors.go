package oci

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// The error codes of the distribution spec (and the few distribution adds
// that clients know).
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	codeTagInvalid          = "TAG_INVALID"
	codeRangeInvalid        = "RANGE_INVALID"
	codePaginationInvalid   = "PAGINATION_NUMBER_INVALID"
	codeUnavailable         = "UNAVAILABLE"
	codeUnknown             = "UNKNOWN"
)

// codedError gives a fault error the spec's code. The wrapped error's kind
// (or an edge.StatusError around it) decides the HTTP status.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.code + ": " + e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// errf builds a coded error of kind k with a client-facing message.
func errf(code string, k fault.Kind, op, format string, args ...any) error {
	return &codedError{code: code, err: fault.Newf(op, k, format, args...)}
}

// withCode gives err the code, keeping its kind; nil stays nil.
func withCode(code string, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// codeOf is the code err is answered with: its own, or one derived from
// its kind.
func codeOf(err error) string {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	switch fault.KindOf(err) {
	case fault.Invalid:
		return codeUnsupported
	case fault.Unauthorized:
		return codeUnauthorized
	case fault.Forbidden:
		return codeDenied
	case fault.NotFound:
		return codeNameUnknown
	case fault.Conflict:
		return codeDenied
	case fault.TooLarge:
		return codeSizeInvalid
	case fault.RateLimited:
		return codeTooManyRequests
	case fault.Upstream, fault.Unavailable:
		return codeUnavailable
	}
	return codeUnknown
}

// challenge is what a 401 asks the client to get: the scope the request
// needed (set by authorize) and whether a token it had fell short.
type challenge struct {
	scope        string
	insufficient bool
}

const challengeKey = "oci.challenge"

// render writes err as the spec's error document, with the Bearer
// challenge docker, podman and skopeo need on a 401: where to get a token
// (this edge's /v2/token), for which service and scope.
func (h *Handler) render(ctx *fasthttp.RequestCtx, err error) {
	if ctx.Response.StatusCode() == fasthttp.StatusUnauthorized {
		v := `Bearer realm="` + h.r.Base.For(ctx) + `/v2/token",service="` + h.service(ctx) + `"`
		if c, ok := ctx.UserValue(challengeKey).(challenge); ok && c.scope != "" {
			v += `,scope="` + c.scope + `"`
			if c.insufficient {
				v += `,error="insufficient_scope"`
			}
		}
		ctx.Response.Header.Set("WWW-Authenticate", v)
	}
	if rl, ok := retryAfter(err); ok {
		edge.RetryAfter(ctx, rl)
	}
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  any    `json:"detail,omitempty"`
	}
	id := edge.RequestID(ctx)
	b, _ := json.Marshal(map[string][]item{"errors": {{
		Code:    codeOf(err),
		Message: edge.ClientMessage(err, id),
		Detail:  map[string]string{"requestId": id},
	}}})
	ctx.SetContentType("application/json")
	if ctx.IsHead() {
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

func retryAfter(err error) (int, bool) {
	if fault.KindOf(err) != fault.RateLimited {
		return 0, false
	}
	return 1, true
}

// service names this registry in tokens: the host clients reach it by.
func (h *Handler) service(ctx *fasthttp.RequestCtx) string {
	base := h.r.Base.For(ctx)
	if i := strings.Index(base, "://"); i >= 0 {
		base = base[i+3:]
	}
	return strings.TrimSuffix(base, "/")
}
