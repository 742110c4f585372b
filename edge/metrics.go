package edge

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// metrics are the edge's request metrics, registered in the registry the
// server was given (never the global one).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entrepot_http_requests_total",
			Help: "HTTP requests answered, by protocol, route and status.",
		}, []string{"protocol", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "entrepot_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by protocol and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"protocol", "route"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entrepot_http_response_bytes_total",
			Help: "Response body bytes served, by protocol and route.",
		}, []string{"protocol", "route"}),
	}
	reg.MustRegister(m.requests, m.duration, m.bytes)
	return m
}

// routeMetrics resolves a route's label values once, so that observing a
// request costs no label lookup beyond the first time a status is seen.
type routeMetrics struct {
	m               *metrics
	protocol, route string
	duration        prometheus.Observer
	bytes           prometheus.Counter
	mu              sync.RWMutex
	byStatus        map[int]prometheus.Counter
}

func (m *metrics) route(protocol, route string) *routeMetrics {
	return &routeMetrics{
		m: m, protocol: protocol, route: route,
		duration: m.duration.WithLabelValues(protocol, route),
		bytes:    m.bytes.WithLabelValues(protocol, route),
		byStatus: map[int]prometheus.Counter{},
	}
}

func (r *routeMetrics) observe(status, size int, d time.Duration) {
	r.mu.RLock()
	c := r.byStatus[status]
	r.mu.RUnlock()
	if c == nil {
		c = r.m.requests.WithLabelValues(r.protocol, r.route, strconv.Itoa(status))
		r.mu.Lock()
		r.byStatus[status] = c
		r.mu.Unlock()
	}
	c.Inc()
	r.duration.Observe(d.Seconds())
	if size > 0 {
		r.bytes.Add(float64(size))
	}
}

// metricsHandler serves the registry in Prometheus text format. It is not
// a hot path, so the net/http handler behind an adaptor is fine.
func metricsHandler(g prometheus.Gatherer) fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}
