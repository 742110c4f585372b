package edge

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/fault"
)

// Status maps an error kind to the HTTP status most clients understand.
func Status(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return fasthttp.StatusBadRequest
	case fault.Unauthorized:
		return fasthttp.StatusUnauthorized
	case fault.Forbidden:
		return fasthttp.StatusForbidden
	case fault.NotFound:
		return fasthttp.StatusNotFound
	case fault.Conflict:
		return fasthttp.StatusConflict
	case fault.TooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	case fault.RateLimited:
		return fasthttp.StatusTooManyRequests
	case fault.Upstream:
		return fasthttp.StatusBadGateway
	case fault.Unavailable:
		return fasthttp.StatusServiceUnavailable
	}
	return fasthttp.StatusInternalServerError
}

// StatusError lets a handler choose the exact status of an error whose kind
// maps to a less precise one (a 416 is Invalid, a 504 is Upstream).
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// WithStatus wraps err so that it is answered with code.
func WithStatus(code int, err error) error { return &StatusError{Code: code, Err: err} }

// StatusOf is the status an error is answered with: a StatusError's code,
// else its kind's status, except that an upstream which did not answer in
// time is a 504 on every protocol: an Upstream or Unavailable error caused
// by a deadline (the upstream client's header timeout, a fill's own
// timeout, a waiter giving up on a fill).
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	k := fault.KindOf(err)
	if (k == fault.Upstream || k == fault.Unavailable) && errors.Is(err, context.DeadlineExceeded) {
		return fasthttp.StatusGatewayTimeout
	}
	return Status(k)
}

// ClientMessage is the text a client may see for err: its fault message, or
// for an Internal error only a pointer to the request id, so that nothing of
// the cause leaks.
func ClientMessage(err error, requestID string) string {
	k := fault.KindOf(err)
	if m := fault.Message(err); m != "" && k != fault.Internal {
		return m
	}
	if k == fault.Internal {
		return "internal error (request id " + requestID + ")"
	}
	return k.String()
}

// conceal gives a protocol request that found nothing one answer,
// whatever the cause: a private name the caller may not read
// (Registry.May), a name nobody hosts and the upstream lacks, no upstream
// at all, a missing version. The causes' own messages would tell a
// private name from a missing one (the existence oracle). The chain
// stays, so a protocol keeps its wire code (OCI's NAME_UNKNOWN) and its
// status; a platform admin, who may read everything, keeps the cause's
// message.
//
// A read answers message, the protocol's text (Group.ConcealReads), ""
// for "not found"; closed says that anonymous callers read nothing but
// public hosted packages: then an anonymous read is asked to
// authenticate (Mux.AnonymousReads). A state-changing request (publish,
// yank, delete, owners) authenticates first: an anonymous one that found
// nothing is asked to authenticate, as one on a private name is (May's
// Unauthorized), and an authenticated one answers concealedWrite, for
// a missing name as for one May found the caller may not read.
func conceal(ctx *fasthttp.RequestCtx, err error, message string, closed bool) error {
	read := ctx.IsGet() || ctx.IsHead()
	anonymous := !hasCredentials(&ctx.Request.Header)
	switch k := fault.KindOf(err); {
	case k == fault.Unauthorized && anonymous && !read:
		// whatever the handler found before it asked: one text
		return fault.WrapMsg("edge", fault.Unauthorized, authRequired, err)
	case k != fault.NotFound:
		return err
	case anonymous && (closed || !read):
		return fault.New("edge", fault.Unauthorized, authRequired)
	}
	if p, _ := principalOf(ctx); p.PlatformAdmin {
		return err
	}
	switch {
	case !read:
		message = concealedWrite
	case message == "":
		message = "not found"
	}
	return fault.WrapMsg("edge", fault.NotFound, message, err)
}

// authRequired is what an anonymous request that must authenticate is
// told, whatever it asked for.
const authRequired = "authentication required"

// concealedWrite is what a state-changing protocol request that found
// nothing answers, true of a missing name and of one the caller may not
// see alike.
const concealedWrite = "not found: not hosted here, or not visible to you"

// Renderer writes err to the response in a protocol's own error format.
// The status is set already, and the headers of the answer that failed
// (caching, validators, content description) are dropped (clearForError);
// the renderer writes its headers (a challenge, a precise Retry-After)
// and the body.
type Renderer func(ctx *fasthttp.RequestCtx, err error)

// RenderJSON is the default error format, used by the management API and
// edge endpoints: {"error":{"code":"not_found","message":"..."}}.
func RenderJSON(ctx *fasthttp.RequestCtx, err error) {
	type body struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId,omitempty"`
	}
	id := RequestID(ctx)
	b, _ := json.Marshal(map[string]body{"error": {
		Code:      ErrorCode(fault.KindOf(err)),
		Message:   ClientMessage(err, id),
		RequestID: id,
	}})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// ErrorCode is the code of a JSON error answer of kind k ("not_found").
func ErrorCode(k fault.Kind) string {
	switch k {
	case fault.NotFound:
		return "not_found"
	case fault.TooLarge:
		return "too_large"
	case fault.RateLimited:
		return "rate_limited"
	}
	return k.String()
}

// Challenge sets the WWW-Authenticate challenge of a 401 answer: a
// renderer calls it with its protocol's scheme; other answers carry none.
func Challenge(ctx *fasthttp.RequestCtx, challenge string) {
	if ctx.Response.StatusCode() == fasthttp.StatusUnauthorized {
		ctx.Response.Header.Set("WWW-Authenticate", challenge)
	}
}

// RetryAfter sets Retry-After in seconds, for RateLimited answers.
func RetryAfter(ctx *fasthttp.RequestCtx, seconds int) {
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(seconds, 1)))
}
