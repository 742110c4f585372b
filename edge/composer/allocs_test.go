package composer_test

import (
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"
)

// TestGetAllocs guards Composer's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored p2 document and a hosted one, and
// each revalidated. Budgets are the counts last measured (39, 40, 62, 62;
// the request's context, edge.Context, is one of them) plus one for a
// background timer's allocation landing in the window.
func TestGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "upco/lib", "acme/tool")
	h := []string{"Authorization", "Bearer " + e.Token, "Accept-Encoding", "gzip"}
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored p2", Path: "/composer/p2/upco/lib.json", Header: h, Budget: 40},
		{Name: "mirrored p2, revalidated", Path: "/composer/p2/upco/lib.json", Header: h, Revalidate: true, Budget: 41},
		{Name: "hosted p2", Path: "/composer/p2/acme/tool.json", Header: h, Budget: 65},
		{Name: "hosted p2, revalidated", Path: "/composer/p2/acme/tool.json", Header: h, Revalidate: true, Budget: 65},
	})
}
