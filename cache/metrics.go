package cache

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts Gets and fills. A nil *metrics counts nothing.
type metrics struct {
	requests *prometheus.CounterVec // result: hit, miss, stale, negative
	fills    *prometheus.CounterVec // outcome: ok, error, not_modified
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	if reg == nil {
		return nil
	}
	return &metrics{
		requests: register(reg, log, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entrepot_cache_requests_total",
			Help: "Cache lookups by result: hit, miss (filled or failed), stale (served past expiry), negative (remembered 404).",
		}, []string{"result"})),
		fills: register(reg, log, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entrepot_cache_fills_total",
			Help: "Upstream fills by outcome: ok (stored, or a 404 remembered), error, not_modified (revalidated).",
		}, []string{"outcome"})),
	}
}

// register registers cv with reg, reusing an identical collector another
// Cache registered before. Any other failure is logged and leaves cv
// counting unregistered: metrics are not worth failing start-up for.
func register(reg prometheus.Registerer, log *slog.Logger, cv *prometheus.CounterVec) *prometheus.CounterVec {
	err := reg.Register(cv)
	if err == nil {
		return cv
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing
		}
	}
	log.Error("cache: metrics not registered", "err", err)
	return cv
}

func (m *metrics) request(result string) {
	if m != nil {
		m.requests.WithLabelValues(result).Inc()
	}
}

func (m *metrics) fill(outcome string) {
	if m != nil {
		m.fills.WithLabelValues(outcome).Inc()
	}
}
