package edge

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Pinger is anything whose reachability /health reports.
type Pinger interface {
	Ping(ctx context.Context) error
}

// UpstreamHealth is an upstream's last known state, as probed in the
// background: health requests never wait on a public registry.
type UpstreamHealth interface {
	Name() string
	Health() (ok bool, checked time.Time, err string)
}

// Component is one part /health reports on.
type Component struct {
	Name     string
	Kind     string // "metadata", "blobs"
	Backend  string // "bbolt", "mongodb", "filesystem", "s3"
	Pinger   Pinger
	Required bool
	// Aliases are further names the component is reported under: those
	// of the registry Entrepot replaces ("mongodb", "s3"), whose
	// monitors read them, whatever the backend is.
	Aliases []string
}

type componentState struct {
	Status  string `json:"status"`
	Backend string `json:"backend,omitempty"`
	Error   string `json:"error,omitempty"`
	Checked string `json:"checked,omitempty"`
}

type healthReport struct {
	Status     string                    `json:"status"`
	Version    string                    `json:"version"`
	Components map[string]componentState `json:"components"`
	Upstreams  map[string]componentState `json:"upstreams"`
}

// health answers /health and /healthz. Results are kept for a second so
// that a flood of probes does not become a flood of backend pings.
type health struct {
	version    string
	components []Component
	upstreams  []UpstreamHealth

	mu      sync.Mutex
	at      time.Time
	body    []byte
	healthy bool
}

const healthTTL = time.Second

func (h *health) check() ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) < healthTTL && h.body != nil {
		return h.body, h.healthy
	}
	rep := healthReport{Status: "ok", Version: h.version, Components: map[string]componentState{}, Upstreams: map[string]componentState{}}
	healthy := true
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range h.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A short deadline of its own, not the request's: the
			// report is shared by every caller for healthTTL.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			st := componentState{Status: "ok", Backend: c.Backend}
			if err := c.Pinger.Ping(ctx); err != nil {
				st.Status, st.Error = "down", err.Error()
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Components[c.Name] = st
			for _, a := range c.Aliases {
				rep.Components[a] = st
			}
			if st.Status != "ok" && c.Required {
				healthy = false
			}
		}()
	}
	wg.Wait()
	for _, u := range h.upstreams {
		ok, checked, msg := u.Health()
		st := componentState{Status: "ok", Error: msg}
		switch {
		case checked.IsZero():
			st.Status = "unknown"
		case !ok:
			st.Status = "down"
		}
		if !checked.IsZero() {
			st.Checked = checked.UTC().Format(time.RFC3339)
		}
		rep.Upstreams[u.Name()] = st
	}
	if !healthy {
		rep.Status = "down"
	}
	// "registry": the service itself, as the replaced registry's health
	// document names it.
	rep.Components["registry"] = componentState{Status: map[bool]string{true: "ok", false: "down"}[healthy]}
	h.body, _ = json.Marshal(rep)
	h.at, h.healthy = time.Now(), healthy
	return h.body, healthy
}

func (h *health) handle(ctx *fasthttp.RequestCtx) error {
	body, ok := h.check()
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if !ok {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	ctx.SetBody(body)
	return nil
}
