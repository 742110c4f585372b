package edge

import (
	"context"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
)

// A fasthttp.RequestCtx is no cancellation context: it is never cancelled
// when its client leaves, and it is reused once the handler returns (see
// DESIGN.md, pitfalls). Context gives each request a context.Context of
// its own for store and auth calls.

// Context returns the request's context: it carries the request id
// (RequestIDOf) and, once Who has run, the caller (PrincipalOf); its
// deadline is the request's time budget (the server's ReadTimeout, or
// UploadTimeout for a request with a body, counted from the first call);
// it is cancelled when the handler returns.
//
// Bytes that stream after the handler returns (ServeBlob's body, read by
// fasthttp later) must not be read under it: StreamContext is theirs.
// Registry.Cached waits for a cache fill without its deadline, and the
// time it waits does not count against it; fills stay detached under
// their own timeouts. It is created on first use, so that a request that
// makes no store call pays nothing. Safe for concurrent use.
func Context(ctx *fasthttp.RequestCtx) context.Context {
	if rc := requestContextOf(ctx); rc != nil {
		return rc
	}
	// Outside a Mux (a handler called directly): no budget of ours.
	return context.Background()
}

// StreamContext is the context of a body that fasthttp reads after the
// handler returns (SetBodyStream), when the request's context has ended:
// the request's values, bounded by the server's WriteTimeout, the longest
// a response may take to go out. cancel must run when the stream ends;
// CancelOnClose ties it to the body's Close, which fasthttp calls.
func StreamContext(ctx *fasthttp.RequestCtx) (c context.Context, cancel context.CancelFunc) {
	if rc := requestContextOf(ctx); rc != nil {
		return context.WithTimeout(&rc.wait, rc.stream)
	}
	return context.WithCancel(context.Background())
}

// requestContextOf is the request's context, made on first use; nil
// outside a Mux.
func requestContextOf(ctx *fasthttp.RequestCtx) *requestContext {
	switch v := ctx.UserValue(contextKey).(type) {
	case *requestContext:
		return v
	case *Mux:
		rc := &requestContext{id: RequestID(ctx), deadline: time.Now().Add(v.budget(ctx)), stream: v.streamBudget}
		rc.wait.rc = rc
		rc.principal, rc.known = ctx.UserValue(principalKey).(auth.Principal)
		ctx.SetUserValue(contextKey, rc)
		return rc
	}
	return nil
}

// RequestIDOf is the id of the request ctx belongs to (Context), "" for
// another context.
func RequestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtx{}).(string)
	return id
}

// PrincipalOf is the caller of the request ctx belongs to (Context), once
// Who has authenticated it; false before, or for another context.
func PrincipalOf(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalCtx{}).(auth.Principal)
	return p, ok
}

const contextKey = "edge.context"

type (
	requestIDCtx struct{}
	principalCtx struct{}
)

// requestContext is Context's value. Its cancellation is a standard
// context made on the first Done or Err, so that calls that never wait
// (a warm cache) cost no timer.
type requestContext struct {
	id     string
	stream time.Duration // StreamContext's bound
	wait   waitContext   // the values without the deadline (Cached, StreamContext)

	mu        sync.Mutex
	deadline  time.Time
	principal auth.Principal
	known     bool // principal is set
	inner     context.Context
	cancel    context.CancelFunc
	ended     bool
}

func (c *requestContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, true
}
func (c *requestContext) Done() <-chan struct{} { return c.ctx().Done() }
func (c *requestContext) Err() error            { return c.ctx().Err() }

func (c *requestContext) Value(key any) any {
	switch key.(type) {
	case requestIDCtx:
		return c.id
	case principalCtx:
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.known {
			return nil
		}
		return c.principal
	}
	return nil
}

// waitContext is a request's values without its deadline or
// cancellation.
type waitContext struct{ rc *requestContext }

func (waitContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (waitContext) Done() <-chan struct{}       { return nil }
func (waitContext) Err() error                  { return nil }
func (w *waitContext) Value(key any) any        { return w.rc.Value(key) }

func (c *requestContext) ctx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(context.Background(), c.deadline)
		if c.ended {
			c.cancel()
		}
	}
	return c.inner
}

// extend moves the deadline d later: the request waited that long for
// work that is not its own (a shared fill). A context already made for
// Done is replaced; whoever still holds the old one (no call in
// progress: the request was waiting) sees it cancelled.
func (c *requestContext) extend(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = c.deadline.Add(d)
	if c.inner != nil && !c.ended {
		old := c.cancel
		c.inner, c.cancel = context.WithDeadline(context.Background(), c.deadline)
		old()
	}
}

// end cancels the context: the handler has returned.
func (c *requestContext) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
}

// setPrincipal records the request's caller for PrincipalOf.
//
// It reports false outside a Mux, where there is no request context: the
// caller then keeps p as a user value. Inside one, the request context is
// the one place p is kept, which spares boxing it into a user value on
// every authenticated request.
func setPrincipal(ctx *fasthttp.RequestCtx, p auth.Principal) bool {
	rc := requestContextOf(ctx)
	if rc == nil {
		return false
	}
	rc.mu.Lock()
	rc.principal, rc.known = p, true
	rc.mu.Unlock()
	return true
}

// principalOf is the request's caller once Who or Assume set it: from the
// request context, or the user value Who sets for the anonymous caller
// (a zero Principal boxes without allocating) and Assume outside a Mux.
func principalOf(ctx *fasthttp.RequestCtx) (auth.Principal, bool) {
	if rc, ok := ctx.UserValue(contextKey).(*requestContext); ok {
		rc.mu.Lock()
		p, known := rc.principal, rc.known
		rc.mu.Unlock()
		if known {
			return p, true
		}
	}
	p, ok := ctx.UserValue(principalKey).(auth.Principal)
	return p, ok
}

// endContext cancels the request's context, if it made one.
func endContext(ctx *fasthttp.RequestCtx) {
	if rc, ok := ctx.UserValue(contextKey).(*requestContext); ok {
		rc.end()
	}
}

// budget is how long a request's store calls may take: ReadTimeout for a
// request without a body, UploadTimeout for one with a body, whose
// commit comes after a long upload.
func (m *Mux) budget(ctx *fasthttp.RequestCtx) time.Duration {
	if hasBody(&ctx.Request.Header) {
		return m.uploadBudget
	}
	return m.readBudget
}
