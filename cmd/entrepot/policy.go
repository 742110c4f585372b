package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/policy"
)

// newPolicy is the supply-chain policy engine: rules in the metadata
// store, reloaded on every edge through the change feed, refusals
// audited as policy.refuse. A store that cannot be read at start leaves
// the engine without rules, and every decision then fails closed until a
// reload succeeds.
func newPolicy(r *edge.Registry, audit *auth.Auditor, log *slog.Logger, reg prometheus.Registerer) *policy.Engine {
	e := policy.New(r.Catalog.Store(), policy.Options{
		Protocols: apiProtocolNames(),
		Notify:    r.Notify,
		Metrics:   reg,
		Logger:    log,
		Audit: func(_ context.Context, s policy.Subject, d policy.Decision) {
			audit.Record(auth.Entry{
				Action:  "policy.refuse",
				Target:  s.Protocol + ":" + s.Package + "@" + s.Version,
				Outcome: "denied",
				Detail:  d.Message(s),
			})
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Load(ctx); err != nil {
		log.Error("policy rules unreadable at start: every policy decision fails closed until they are read", "error", err)
	}
	r.OnChange(e.Changed)
	return e
}

// apiProtocolNames are the protocols a rule may name.
func apiProtocolNames() []string {
	var out []string
	for _, p := range apiOptions().Protocols {
		out = append(out, p.Name)
	}
	return out
}
