package cargo

import (
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"
)

// TestGetAllocs guards cargo's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored index file and a hosted one, and
// each revalidated, as cargo's sparse protocol does. Budgets are the
// counts measured when the guard was written (30, 31, 49–50, 49–50; one or two more since each request has its context, edge.Context) plus
// one for a background timer's allocation landing in the window.
func TestGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "serde", "acme-crate")
	h := []string{"Authorization", e.Token, "Accept-Encoding", "gzip"}
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored index file", Path: "/cargo/index/" + indexPath("serde"), Header: h, Budget: 33},
		{Name: "mirrored index file, revalidated", Path: "/cargo/index/" + indexPath("serde"), Header: h, Revalidate: true, Budget: 34},
		{Name: "hosted index file", Path: "/cargo/index/" + indexPath("acme-crate"), Header: h, Budget: 53},
		{Name: "hosted index file, revalidated", Path: "/cargo/index/" + indexPath("acme-crate"), Header: h, Revalidate: true, Budget: 53},
	})
}
