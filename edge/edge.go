// Package edge is Entrepot's HTTP front: the fasthttp server, the router,
// the middleware every request passes (request id, access log, metrics,
// panic recovery, body limits), health and metrics endpoints, and the
// helpers protocol packages share to answer (error rendering, blob
// streaming, public URLs). Protocol packages live below it (edge/npm,
// edge/oci, ...) and register their routes on the Mux.
package edge

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Config is what the server needs from its wiring.
type Config struct {
	Version string
	Logger  *slog.Logger
	// AccessLog writes the request lines Logger would (nil: Logger
	// does), faster; it must write to Logger's output in its format.
	AccessLog *AccessLog
	Registry  *prometheus.Registry // request metrics go here; /metrics serves it

	Components []Component      // reported by /health
	Upstreams  []UpstreamHealth // reported by /health, never required

	// ReadTimeout bounds reading a request without a body (headers
	// included); UploadTimeout a request with one that carries
	// credentials; AnonymousUploadTimeout (default 30s) one with a body but
	// no credentials, which no big upload is; WriteTimeout writing a
	// response, large downloads included; IdleTimeout a kept-alive
	// connection between requests.
	ReadTimeout, UploadTimeout, AnonymousUploadTimeout, WriteTimeout, IdleTimeout time.Duration

	// MaxBody is the largest request body any route accepts
	// (MAX_UPLOAD_SIZE); 0 = no server-wide bound. A request that
	// announces a larger one with Expect: 100-continue is answered 413
	// before it sends the body. Each route still bounds its own bodies.
	MaxBody int64

	// Body pacing: a streamed request body must deliver at least
	// MinBodyRate bytes per second, measured over consecutive windows of
	// MinBodyRateWindow (default 30s), or the request fails and its
	// connection is closed. 0 means the default, 8 KiB/s; a negative
	// value turns the check off.
	MinBodyRate       int64
	MinBodyRateWindow time.Duration

	// MaxConnsPerIP caps the open connections of one client address
	// (fasthttp answers the next one 429 and closes it); 0 means no cap.
	MaxConnsPerIP int
}

// DefaultUploadTimeout is Config.UploadTimeout's default: the longest a
// request with credentials may take to arrive.
const DefaultUploadTimeout = time.Hour

// Server is the edge server. Create it with New, register routes on Mux,
// then Serve.
type Server struct {
	mux    *Mux
	srv    *fasthttp.Server
	health *health
	pace   pacing
}

// New builds the server and registers /health, /healthz and /metrics.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.ReadTimeout, time.Minute)
	def(&cfg.UploadTimeout, DefaultUploadTimeout)
	def(&cfg.AnonymousUploadTimeout, 30*time.Second)
	def(&cfg.MinBodyRateWindow, 30*time.Second)
	if cfg.MinBodyRate == 0 {
		cfg.MinBodyRate = DefaultMinBodyRate
	}
	def(&cfg.WriteTimeout, time.Hour)
	def(&cfg.IdleTimeout, 2*time.Minute)

	m := newMux(cfg.Logger, newMetrics(cfg.Registry))
	m.access = cfg.AccessLog
	m.readBudget, m.uploadBudget, m.streamBudget = cfg.ReadTimeout, cfg.UploadTimeout, cfg.WriteTimeout
	h := &health{version: cfg.Version, components: cfg.Components, upstreams: cfg.Upstreams}
	s := &Server{mux: m, health: h, pace: pacing{
		need:      max(cfg.MinBodyRate, 0) * int64(cfg.MinBodyRateWindow) / int64(time.Second),
		window:    cfg.MinBodyRateWindow,
		upload:    cfg.UploadTimeout,
		anonymous: cfg.AnonymousUploadTimeout,
	}}
	ops := Route{Protocol: "edge", Name: "health"}
	m.Handle("GET", "/health", ops, h.handle)
	m.Handle("GET", "/healthz", ops, h.handle)
	metricsH := metricsHandler(cfg.Registry)
	m.Handle("GET", "/metrics", Route{Protocol: "edge", Name: "metrics"}, func(ctx *fasthttp.RequestCtx) error {
		metricsH(ctx)
		return nil
	})

	upload := fasthttp.RequestConfig{ReadTimeout: cfg.UploadTimeout}
	anonymous := fasthttp.RequestConfig{ReadTimeout: cfg.AnonymousUploadTimeout}
	// The root paths (RootPaths) are installed after New, when every
	// protocol is mounted: route reads m.root per request.
	route := func(ctx *fasthttp.RequestCtx) {
		if m.root != nil {
			m.root.rewrite(ctx)
		}
		m.r.Handler(ctx)
	}
	handler := route
	if s.pace.need > 0 {
		handler = func(ctx *fasthttp.RequestCtx) {
			if hasBody(&ctx.Request.Header) {
				ctx.SetUserValue(pacingKey, &s.pace)
			}
			route(ctx)
		}
	}
	s.srv = &fasthttp.Server{
		Handler:               handler,
		Name:                  "entrepot",
		NoDefaultServerHeader: false,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		MaxConnsPerIP:         cfg.MaxConnsPerIP,
		// Bodies are streamed to handlers, which bound them (see Body):
		// nothing large is ever buffered whole.
		StreamRequestBody: true,
		// A generous header limit: registries see long Authorization and
		// Accept headers.
		ReadBufferSize:               16 << 10,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		// fasthttp's messages and error answers quote what the client
		// sent: both go through redaction (redact.go).
		Logger:       slogPrinter{cfg.Logger},
		ErrorHandler: parseError,
		// Only a request with credentials may take long to send its
		// body: an anonymous one is a sign-in or a small form, and a
		// trickled body must not hold a connection for the upload
		// timeout.
		// A client that asks before it sends a body (Expect:
		// 100-continue) hears at once that a declared length over the
		// largest body any route takes is refused, and sends nothing.
		ExpectHandler: func(ctx *fasthttp.RequestCtx) int {
			if n := ctx.Request.Header.ContentLength(); cfg.MaxBody > 0 && int64(n) > cfg.MaxBody {
				return fasthttp.StatusRequestEntityTooLarge
			}
			return fasthttp.StatusContinue
		},
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			switch {
			case !hasBody(h):
				return fasthttp.RequestConfig{}
			case s.pace.need > 0:
				return s.pace.firstRead(hasCredentials(h))
			case hasCredentials(h):
				return upload
			}
			return anonymous
		},
	}
	return s
}

func hasBody(h *fasthttp.RequestHeader) bool {
	m := h.Method()
	return bytes.Equal(m, []byte("PUT")) || bytes.Equal(m, []byte("POST")) || bytes.Equal(m, []byte("PATCH"))
}

// hasCredentials reports whether the request says who sends it. The
// credentials are checked later, by the handler: this only decides how
// long the body may take, and a body that carries bad credentials is still
// held to the minimum rate (pace.go).
func hasCredentials(h *fasthttp.RequestHeader) bool {
	return len(h.Peek("Authorization")) > 0
}

// Mux is where protocol packages register their routes.
func (s *Server) Mux() *Mux { return s.mux }

// Serve answers connections from ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// to finish, or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }
