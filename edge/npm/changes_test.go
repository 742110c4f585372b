package npm_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/npm"
)

// A package unpublished and published again on one edge is served as it
// is now: its serials start over, and no document of its first life is
// found by them. A version deleted through the management layer (the
// catalog, as the API does) stops being served at once.
func TestRepublishedPackageIsFresh(t *testing.T) {
	e := testkit.StartEdge(t, testkit.EdgeOptions{MetadataTTL: time.Hour}, func(r *edge.Registry, m *edge.Mux) {
		npm.New(r, nil, npm.Options{}).Mount(m.Group("/npm"))
	})
	auth := []string{"Authorization", "Bearer " + e.Token}
	publish := func(version string) {
		t.Helper()
		resp, body := e.Do(t, "PUT", "/npm/@acme%2fagain", claimDoc("@acme/again", version, claimTarball("@acme/again", version), nil),
			append([]string{"Content-Type", "application/json"}, auth...)...)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
			t.Fatalf("publish %s: %d %s", version, resp.StatusCode, body)
		}
	}
	latest := func() string {
		t.Helper()
		_, body := e.Do(t, "GET", "/npm/@acme%2fagain", nil, auth...)
		var doc struct {
			DistTags map[string]string `json:"dist-tags"`
		}
		json.Unmarshal(body, &doc)
		return doc.DistTags["latest"]
	}
	publish("1.0.0")
	if got := latest(); got != "1.0.0" {
		t.Fatalf("latest %q, want 1.0.0", got)
	}
	if resp, body := e.Do(t, "DELETE", "/npm/@acme%2fagain/-rev/1", nil, auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("unpublish: %d %s", resp.StatusCode, body)
	}
	publish("2.0.0")
	for range 3 {
		if got := latest(); got != "2.0.0" {
			t.Fatalf("latest %q after the package was published again, want 2.0.0", got)
		}
	}

	tarball := "/npm/@acme/again/-/again-2.0.0.tgz"
	if resp, _ := e.Do(t, "GET", tarball, nil, auth...); resp.StatusCode != http.StatusOK {
		t.Fatalf("tarball: %d", resp.StatusCode)
	}
	if _, err := e.Registry.Catalog.DeleteVersion(t.Context(), npm.Protocol, "@acme/again", "2.0.0"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := e.Do(t, "GET", tarball, nil, auth...); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deleted tarball: %d, want 404 at once", resp.StatusCode)
	}
}
