package pypi_test

import (
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"
)

// TestGetAllocs guards PyPI's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored project page and a hosted one, as pip
// asks for them (JSON, gzip), and revalidated. Budgets are the counts last
// measured (44, 45, 76, 76: a hosted page is rendered per request; the
// request's context, edge.Context, is one of them) plus one for a
// background timer's allocation landing in the window.
func TestGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "requests", "acme-tool")
	pip := []string{"Accept", "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", "Accept-Encoding", "gzip"}
	hosted := append([]string{"Authorization", "Bearer " + e.Token}, pip...)
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "mirrored page", Path: "/pypi/simple/requests/", Header: pip, Budget: 45},
		{Name: "mirrored page, revalidated", Path: "/pypi/simple/requests/", Header: pip, Revalidate: true, Budget: 46},
		{Name: "hosted page", Path: "/pypi/simple/acme-tool/", Header: hosted, Budget: 77},
		{Name: "hosted page, revalidated", Path: "/pypi/simple/acme-tool/", Header: hosted, Revalidate: true, Budget: 77},
	})
}
