package npm_test

import (
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"
)

// TestGetAllocs guards npm's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored packument and a hosted one, each
// abbreviated and gzipped as npm install asks, and revalidated. Budgets
// are the counts last measured (18, 19, 16, 16; the request's context,
// edge.Context, is one of them) plus one for a background timer's
// allocation landing in the window.
func TestGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "is-number", "acme-tool")
	install := []string{"Accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", "Accept-Encoding", "gzip"}
	hosted := append([]string{"Authorization", "Bearer " + e.Token}, install...)
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored packument", Path: "/npm/is-number", Header: install, Budget: 19},
		{Name: "mirrored packument, revalidated", Path: "/npm/is-number", Header: install, Revalidate: true, Budget: 20},
		{Name: "hosted packument", Path: "/npm/acme-tool", Header: hosted, Budget: 17},
		{Name: "hosted packument, revalidated", Path: "/npm/acme-tool", Header: hosted, Revalidate: true, Budget: 17},
	})
}
