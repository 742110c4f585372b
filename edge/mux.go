package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/hosted/fault"
)

// HandlerFunc is an edge handler: it answers the request or returns an
// error, which the route's Renderer writes in the protocol's format.
type HandlerFunc func(ctx *fasthttp.RequestCtx) error

// Route describes a registered endpoint, for logs, metrics and limits.
type Route struct {
	Protocol string   // "npm", "oci", "api", "edge", ...
	Name     string   // a stable name for metrics, like "packument"
	Render   Renderer // nil = RenderJSON
	// Redact logs the route's pattern instead of the request's path, for
	// routes whose path carries a secret (npm logout's token).
	Redact bool
}

// Mux registers routes. Each route's middleware chain (recover, request
// id, security headers, access log, metrics, error rendering) is built
// once, at registration, not per request.
//
// Every answer carries the security headers of secure, set before the
// handler runs, so that no route can forget them: whatever a protocol
// serves (an artifact, a document, an error) is inert in a browser on the
// dashboard's origin. The dashboard's own routes replace the
// Content-Security-Policy with theirs; nothing else may.
type Mux struct {
	r       *router.Router
	log     *slog.Logger
	metrics *metrics
	unseen  map[string]string // package protocol → what its reads say when they find nothing
	mounts  map[string]string // package protocol → its group's prefix
	// anonymousReads reports whether anonymous callers may read mirrored
	// names (Registry.AnonymousMirrorReads); nil: they may.
	anonymousReads func() bool
	// readBudget and uploadBudget are the deadlines of a request's
	// context (Context), without and with a body; streamBudget bounds a
	// body streamed after the handler returns (StreamContext).
	readBudget, uploadBudget, streamBudget time.Duration
	// rootSegments are the first segments of the routes registered, and
	// root the root paths (RootPaths), nil when none are served.
	rootSegments []string
	root         *rootPaths
	// access writes the access log's Info lines (nil: slog does).
	access *AccessLog
}

// AnonymousReads tells the mux whether anonymous callers may read
// mirrored names now. While they may not, an anonymous protocol read that
// finds nothing is asked to authenticate, as one of a private name is, so
// that neither a claim nor a package shows through. Call it before
// serving.
func (m *Mux) AnonymousReads(open func() bool) { m.anonymousReads = open }

// ConcealReads declares protocol a package protocol, whose reads conceal
// what they did not find (see conceal): each answers one message, "not
// found", or NoUpstream when the protocol has no mirror (what is true of
// every name, never anything about one name). Every protocol package calls
// it in Mount: routes of a protocol not declared (the API's, the
// dashboard's, the edge's own) keep their errors. Call it while mounting,
// before serving.
func (g *Group) ConcealReads(protocol string, noUpstream bool) {
	if g.m.unseen == nil {
		g.m.unseen = map[string]string{}
	}
	g.m.unseen[protocol] = ""
	if noUpstream {
		g.m.unseen[protocol] = NoUpstream
	}
	if g.m.mounts == nil {
		g.m.mounts = map[string]string{}
	}
	g.m.mounts[protocol] = g.prefix
}

// Protocols returns the package protocols mounted (those that called
// ConcealReads), each with the prefix of its group: what the protocol
// table's test compares with the table.
func (m *Mux) Protocols() map[string]string { return maps.Clone(m.mounts) }

// NoUpstream is what reads of a protocol without a mirror answer when
// they find nothing.
const NoUpstream = "not found: not published here, and no upstream registry is configured"

func newMux(log *slog.Logger, m *metrics) *Mux {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	mx := &Mux{r: r, log: log, metrics: m, readBudget: time.Minute, uploadBudget: time.Hour, streamBudget: time.Hour}
	notFound := Route{Protocol: "edge", Name: "not_found"}
	r.NotFound = mx.wrap(notFound, "", func(ctx *fasthttp.RequestCtx) error {
		return fault.Newf("edge", fault.NotFound, "no route for %s %s", ctx.Method(), ctx.Path())
	})
	// The router answers OPTIONS itself (with Allow): through a wrapped
	// handler, so that the answer carries the security headers and a
	// request id and is logged like any other.
	r.GlobalOPTIONS = mx.wrap(Route{Protocol: "edge", Name: "options"}, "", func(ctx *fasthttp.RequestCtx) error {
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return nil
	})
	r.MethodNotAllowed = mx.wrap(Route{Protocol: "edge", Name: "method_not_allowed"}, "", func(ctx *fasthttp.RequestCtx) error {
		return WithStatus(fasthttp.StatusMethodNotAllowed, fault.Newf("edge", fault.Invalid, "method %s not allowed here", ctx.Method()))
	})
	return mx
}

// Handle registers h for method and path (fasthttp/router syntax:
// {name}, {name?}, {name:*}).
func (m *Mux) Handle(method, path string, rt Route, h HandlerFunc) {
	m.noteRoute(path)
	m.r.Handle(method, path, m.wrap(rt, path, h))
}

// Group returns a Mux view that prefixes paths, for protocol mounts.
func (m *Mux) Group(prefix string) *Group { return &Group{m: m, prefix: prefix} }

// Group registers routes under a path prefix.
type Group struct {
	m      *Mux
	prefix string
}

// Prefix is the group's path prefix ("/npm", "" for the root): a protocol
// learns where it is mounted from it, to write its own links.
func (g *Group) Prefix() string { return g.prefix }

// Handle registers h for method and prefix+path.
func (g *Group) Handle(method, path string, rt Route, h HandlerFunc) {
	g.m.Handle(method, g.prefix+path, rt, h)
}

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const requestIDKey = "edge.requestID"

// RequestID returns the id of the request, as sent in X-Request-Id.
func RequestID(ctx *fasthttp.RequestCtx) string {
	if v, ok := ctx.UserValue(requestIDKey).(string); ok {
		return v
	}
	return ""
}

// validID accepts a client's X-Request-Id only when it is short and plain,
// so that it is safe to echo and to log.
func validID(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (m *Mux) wrap(rt Route, pattern string, h HandlerFunc) fasthttp.RequestHandler {
	render := rt.Render
	if render == nil {
		render = RenderJSON
	}
	rm := m.metrics.route(rt.Protocol, rt.Name)
	fail := func(ctx *fasthttp.RequestCtx, err error) {
		drainRefused(ctx, fault.Is(err, fault.TooLarge))
		// Looked up here, on the error path, so that a route registered
		// before its group's ConcealReads is concealed all the same.
		if message, read := m.unseen[rt.Protocol]; read {
			err = conceal(ctx, err, message, m.anonymousReads != nil && !m.anonymousReads())
		}
		clearForError(&ctx.Response, StatusOf(err))
		if d, ok := auth.RetryAfter(err); ok {
			// A throttled caller is told its own wait, rounded up.
			RetryAfter(ctx, int((d+time.Second-1)/time.Second))
		}
		render(ctx, err)
	}
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		var id string
		if b := ctx.Request.Header.Peek("X-Request-Id"); validID(b) {
			id = string(b)
		} else {
			id = idPrefix + "-" + strconv.FormatUint(idCounter.Add(1), 36)
		}
		ctx.SetUserValue(requestIDKey, id)
		ctx.SetUserValue(contextKey, m) // Context makes the request's context on first use
		ctx.Response.Header.Set("X-Request-Id", id)
		secure(&ctx.Response.Header)

		var err error
		func() {
			// fasthttp does not recover handler panics: this is the only
			// thing between a bug and a dead process.
			defer func() {
				if p := recover(); p != nil {
					err = fault.Wrap("edge.recover", fault.Internal, fmt.Errorf("panic: %v", p))
					m.log.Error("panic", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				}
			}()
			defer endContext(ctx)
			if err = refuseCrossSite(ctx); err == nil {
				err = h(ctx)
			}
		}()
		if err != nil {
			fail(ctx, err)
		}

		status := ctx.Response.StatusCode()
		// The header's length is set only when the response is written
		// (0 until then for a SetBody answer), and Body() would read a
		// stream whole into memory: count buffered bodies, trust a
		// stream's declared size, and call an unsized one 0.
		size := ctx.Response.Header.ContentLength()
		if !ctx.Response.IsBodyStream() {
			size = len(ctx.Response.Body())
		} else if size < 0 {
			size = 0
		}
		if ctx.IsHead() {
			size = 0
		}
		elapsed := time.Since(start)
		rm.observe(status, size, elapsed)

		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		// The request's context has ended: the log line is the
		// process's, not the request's.
		if !m.log.Enabled(context.Background(), level) {
			return
		}
		if m.access != nil && level == slog.LevelInfo {
			e := accessEntry{id: id, method: ctx.Method(), path: ctx.Path(), status: status, size: size, elapsed: elapsed,
				protocol: rt.Protocol, route: rt.Name, now: time.Now()}
			if rt.Redact || pattern == "" {
				e.path = []byte(logPath(ctx, rt, pattern))
			}
			if ip, ok := netip.AddrFromSlice(ctx.RemoteIP()); ok {
				e.remote = ip.Unmap()
			}
			if err != nil && m.log.Enabled(context.Background(), slog.LevelDebug) {
				e.err = Redact(err.Error())
			}
			m.access.write(&e)
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", string(ctx.Method())),
			// the path only: query strings may carry tokens
			slog.String("path", logPath(ctx, rt, pattern)),
			slog.Int("status", status),
			slog.Int("bytes", size),
			slog.Duration("duration", elapsed),
			slog.String("protocol", rt.Protocol),
			slog.String("route", rt.Name),
			slog.String("remote", ctx.RemoteIP().String()),
		}
		if err != nil && (status >= 500 || m.log.Enabled(context.Background(), slog.LevelDebug)) {
			attrs = append(attrs, slog.String("error", Redact(err.Error())))
		}
		m.log.LogAttrs(context.Background(), level, "request", attrs...)
	}
}

func logPath(ctx *fasthttp.RequestCtx, rt Route, pattern string) string {
	if rt.Redact {
		return pattern
	}
	if pattern == "" {
		// No route took it (not found, method not allowed): the path is
		// foreign text, a token of a route's path asked with another
		// method among what it may hold.
		return Redact(string(ctx.Path()))
	}
	return string(ctx.Path())
}
