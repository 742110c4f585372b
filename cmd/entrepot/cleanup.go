package main

import (
	"log/slog"
	"strconv"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/maven"
	"entrepot/edge/npm"
	"entrepot/edge/oci"
	"entrepot/hosted/cleanup"
)

// newCleanup is the runner of the repositories' cleanup policies: the
// protocols that have disposable versions, each deletion audited as
// cleanup.delete. With the embedded store this process is the only
// runner (Local), as for the garbage collector.
func newCleanup(cfg *Config, r *edge.Registry, audit *auth.Auditor, log *slog.Logger) *cleanup.Runner {
	return cleanup.New(r.Catalog, cleanup.Options{
		Pruners: map[string]cleanup.Pruner{
			npm.Protocol:   npm.Pruner{Catalog: r.Catalog},
			maven.Protocol: maven.Pruner{Catalog: r.Catalog},
			"oci":          oci.Pruner{Store: r.Catalog.Store(), Blobs: r.Blobs},
		},
		Audit: func(p cleanup.Policy, rm cleanup.Removal) {
			audit.Record(auth.Entry{
				Action:  "cleanup.delete",
				Target:  rm.Protocol + ":" + rm.Package + "@" + rm.Version,
				OrgID:   p.OrgID,
				Outcome: "success",
				Detail:  "cleanup policy of repository " + p.RepoID + ": keep " + strconv.Itoa(p.Keep),
			})
		},
		Local:  cfg.MongoURL == "",
		Logger: log,
	})
}
