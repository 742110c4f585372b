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
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// Config is what the server needs from its wiring.
type Config struct {
	Version  string
	Logger   *slog.Logger
	Registry *prometheus.Registry // request metrics go here; /metrics serves it

	Components []Component      // reported by /health
	Upstreams  []UpstreamHealth // reported by /health, never required

	// ReadTimeout bounds reading a request without a body (headers
	// included); UploadTimeout a request with one; WriteTimeout writing a
	// response, large downloads included; IdleTimeout a kept-alive
	// connection between requests.
	ReadTimeout, UploadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Server is the edge server. Create it with New, register routes on Mux,
// then Serve.
type Server struct {
	mux    *Mux
	srv    *fasthttp.Server
	health *health
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
	def(&cfg.UploadTimeout, time.Hour)
	def(&cfg.WriteTimeout, time.Hour)
	def(&cfg.IdleTimeout, 2*time.Minute)

	m := newMux(cfg.Logger, newMetrics(cfg.Registry))
	h := &health{version: cfg.Version, components: cfg.Components, upstreams: cfg.Upstreams}
	s := &Server{mux: m, health: h}
	ops := Route{Protocol: "edge", Name: "health"}
	m.Handle("GET", "/health", ops, h.handle)
	m.Handle("GET", "/healthz", ops, h.handle)
	metricsH := metricsHandler(cfg.Registry)
	m.Handle("GET", "/metrics", Route{Protocol: "edge", Name: "metrics"}, func(ctx *fasthttp.RequestCtx) error {
		metricsH(ctx)
		return nil
	})

	upload := fasthttp.RequestConfig{ReadTimeout: cfg.UploadTimeout}
	s.srv = &fasthttp.Server{
		Handler:               m.r.Handler,
		Name:                  "entrepot",
		NoDefaultServerHeader: false,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		// Bodies are streamed to handlers, which bound them (see Body):
		// nothing large is ever buffered whole.
		StreamRequestBody: true,
		// A generous header limit: registries see long Authorization and
		// Accept headers.
		ReadBufferSize:               16 << 10,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       slogPrinter{cfg.Logger},
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if hasBody(h) {
				return upload
			}
			return fasthttp.RequestConfig{}
		},
	}
	return s
}

func hasBody(h *fasthttp.RequestHeader) bool {
	m := h.Method()
	return bytes.Equal(m, []byte("PUT")) || bytes.Equal(m, []byte("POST")) || bytes.Equal(m, []byte("PATCH"))
}

// Mux is where protocol packages register their routes.
func (s *Server) Mux() *Mux { return s.mux }

// Serve answers connections from ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// to finish, or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.ShutdownWithContext(ctx) }

// slogPrinter routes fasthttp's own messages into the structured log.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Warn("fasthttp", "message", fmt.Sprintf(format, args...))
}
