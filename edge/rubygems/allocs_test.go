package rubygems

import (
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"
)

// TestGetAllocs guards RubyGems' hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored /info file and a hosted one, and each
// revalidated, as bundler does. Budgets are the counts last measured (33,
// 34, 56, 56; the request's context, edge.Context, is one of them) plus
// one for a background timer's allocation landing in the window.
func TestGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "rack", "acme-gem")
	h := []string{"Authorization", e.Token, "Accept-Encoding", "gzip"}
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored info", Path: "/rubygems/info/rack", Header: h, Budget: 34},
		{Name: "mirrored info, revalidated", Path: "/rubygems/info/rack", Header: h, Revalidate: true, Budget: 35},
		{Name: "hosted info", Path: "/rubygems/info/acme-gem", Header: h, Budget: 57},
		{Name: "hosted info, revalidated", Path: "/rubygems/info/acme-gem", Header: h, Revalidate: true, Budget: 57},
	})
}
