package oci

import (
	"encoding/json"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge/alloctest"
	"entrepot/upstream"
)

// TestGetAllocs guards OCI's hot GETs (testing.AllocsPerRun, through
// edge/alloctest): a cached mirrored manifest pulled anonymously, and a
// hosted one pulled with a registry token, by tag and revalidated.
// Budgets are the counts measured when the guard was written (36, 37, 75,
// 75; one or two more since each request has its context, edge.Context) plus one for a background timer's allocation landing in the window.
func TestGetAllocs(t *testing.T) {
	up := testkit.NewUpstream(t)
	mirrored := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + sha([]byte("{}")) + `","size":2},"layers":[]}`)
	up.Handle("/v2/team/app/manifests/1.0", mirrored, func(r *testkit.Route) { r.ContentType = mtOCIManifest })
	client, err := upstream.New("oci/hub", up.URL+"/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := newHarness(t, map[string]*upstream.Client{"hub": client}, Options{})
	if resp, body := x.putManifest("acme/app", "1.0", x.image("acme/app", []byte("layer")), mtOCIManifest); resp.StatusCode != 201 {
		t.Fatalf("push: %d %s", resp.StatusCode, short(body))
	}
	resp, body := x.do("GET", "/v2/token?service=x&scope=repository:acme/app:pull", nil)
	var tok struct{ Token string }
	if json.Unmarshal(body, &tok); resp.StatusCode != 200 || tok.Token == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	accept := []string{"Accept", mtOCIManifest}
	alloctest.Run(t, strings.TrimPrefix(x.url, "http://"), []alloctest.Case{
		{Name: "mirrored manifest", Path: "/v2/hub/team/app/manifests/1.0", Header: accept, Budget: 38},
		{Name: "mirrored manifest, revalidated", Path: "/v2/hub/team/app/manifests/1.0", Header: accept, Revalidate: true, Budget: 39},
		{Name: "hosted manifest", Path: "/v2/acme/app/manifests/1.0", Header: append([]string{"Authorization", "Bearer " + tok.Token}, accept...), Budget: 78},
		{Name: "hosted manifest, revalidated", Path: "/v2/acme/app/manifests/1.0", Header: append([]string{"Authorization", "Bearer " + tok.Token}, accept...), Revalidate: true, Budget: 78},
	})
	if n := up.Hits("/v2/team/app/manifests/1.0"); n != 1 {
		t.Fatalf("the cached tag went upstream %d times", n)
	}
}
