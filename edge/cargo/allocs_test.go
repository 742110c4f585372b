package cargo

import (
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"
)

// TestGetAllocs guards cargo's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored index file and a hosted one, and each
// revalidated, as cargo's sparse protocol does. Budgets are the counts
// last measured (31, 32, 51, 51; the request's context, edge.Context, is
// one of them) plus one for a background timer's allocation landing in the
// window.
func TestGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "serde", "acme-crate")
	h := []string{"Authorization", e.Token, "Accept-Encoding", "gzip"}
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored index file", Path: "/cargo/index/" + indexPath("serde"), Header: h, Budget: 32},
		{Name: "mirrored index file, revalidated", Path: "/cargo/index/" + indexPath("serde"), Header: h, Revalidate: true, Budget: 33},
		{Name: "hosted index file", Path: "/cargo/index/" + indexPath("acme-crate"), Header: h, Budget: 52},
		{Name: "hosted index file, revalidated", Path: "/cargo/index/" + indexPath("acme-crate"), Header: h, Revalidate: true, Budget: 52},
	})
}
