package upstream

import (
	"errors"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/hosted/fault"
)

// metrics are shared by every Client registered with one Registerer; the
// upstream label tells them apart. A nil *metrics counts nothing.
type metrics struct {
	requests *prometheus.CounterVec // upstream, outcome
	errors   *prometheus.CounterVec // upstream, kind
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	req, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "entrepot_upstream_requests_total",
		Help: "Requests to upstream registries by outcome (ok, not_modified, error), retries not counted.",
	}, []string{"upstream", "outcome"}))
	if err != nil {
		return nil, err
	}
	errs, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "entrepot_upstream_errors_total",
		Help: "Upstream failures by error kind, including bodies cut short or over their cap.",
	}, []string{"upstream", "kind"}))
	if err != nil {
		return nil, err
	}
	return &metrics{requests: req, errors: errs}, nil
}

// register registers cv with reg, or returns the identical collector a
// Client over the same Registerer registered before.
func register(reg prometheus.Registerer, cv *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	err := reg.Register(cv)
	if err == nil {
		return cv, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, err
}

// count records one Get outcome (when outcome is set) and err's kind (when
// err is set).
func (m *metrics) count(upstream, outcome string, err error) {
	if m == nil {
		return
	}
	if outcome != "" {
		m.requests.WithLabelValues(upstream, outcome).Inc()
	}
	if err != nil {
		kind := strings.ReplaceAll(fault.KindOf(err).String(), " ", "_")
		m.errors.WithLabelValues(upstream, kind).Inc()
	}
}
