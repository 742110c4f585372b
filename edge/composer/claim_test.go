package composer_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/edge/composer"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The claim tests: what a first publish under a vendor may claim, by the
// shared suite (edge/claimtest), and what the suite does not know: names
// the upstream announces by pattern, and the multipart upload form.

// claims is Composer's adapter to the claim suite. A package is
// vendor/name, and a first publish claims the vendor.
var claims = claimtest.Protocol{
	Name: composer.Protocol,
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream) {
		up.Handle("/packages.json", []byte(`{"packages":[],"metadata-url":"/p2/%package%.json"}`), asJSON)
		client, err := upstream.New("composer", up.URL+"/", upstream.Options{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		composer.New(r, client, composer.Options{}).Mount(m.Group("/composer"))
	},
	Claim:       composer.NormalizeClaim,
	MetadataTTL: time.Nanosecond,
	Publish: func(t *testing.T, e *claimtest.Env, token, name, version string) (int, string) {
		return publish(t, e, token, name+"?version="+version, claimArchive(t, name))
	},
	Published: http.StatusCreated,
	Bad: []claimtest.Bad{
		{Case: "not a zip", Says: "not a zip", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return publish(t, e, token, name+"?version=1.0.0", []byte("not a zip at all"))
		}},
		{Case: "truncated archive", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			good := claimArchive(t, name)
			return publish(t, e, token, name+"?version=1.0.0", good[:len(good)-30])
		}},
		{Case: "name mismatch", Says: "names the package", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return publish(t, e, token, name+"?version=1.0.0", claimArchive(t, name+"-other"))
		}},
		{Case: "invalid version", Says: "invalid version", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return publish(t, e, token, name+"?version=1.0.0-1", claimArchive(t, name))
		}},
	},
	Serve:              serveUpstream,
	Lookup:             func(name string) string { return "/p2/" + name + ".json" },
	Versions:           versions,
	AuthenticatedReads: true,
	OrgNamespaces:      true,
	Spell:              func(org, base string) string { return org + "/" + base },
	Namespace:          func(name string) string { vendor, _, _ := strings.Cut(name, "/"); return vendor },
	Free:               "tool",
	Taken:              "lib",
}

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

func asJSON(r *testkit.Route) { r.ContentType = "application/json" }

// publish uploads an archive to path (name?version=v); it returns the
// status and the error message, if any.
func publish(t *testing.T, e *claimtest.Env, token, path string, archive []byte) (int, string) {
	t.Helper()
	resp, body := e.Do(t, "PUT", "/composer/packages/"+path, archive, "Authorization", "Bearer "+token)
	var msg struct{ Status, Message string }
	json.Unmarshal(body, &msg)
	if resp.StatusCode >= 400 && msg.Status != "error" {
		t.Fatalf("%d answered outside Composer's error format: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, msg.Message
}

// serveUpstream has the upstream serve name's p2 document at version.
func serveUpstream(up *testkit.Upstream, name, version string) {
	doc, _ := json.Marshal(map[string]any{"minified": "composer/2.0", "packages": map[string]any{name: []any{map[string]any{
		"name": name, "version": version, "version_normalized": version + ".0",
		"dist": map[string]string{"type": "zip", "url": up.URL + "/" + name + ".zip"},
	}}}})
	up.Handle("/p2/"+name+".json", doc, asJSON)
}

// versions reads name's p2 document as token and lists its versions.
func versions(t *testing.T, e *claimtest.Env, token, name string) (int, []string) {
	t.Helper()
	resp, body := e.Do(t, "GET", "/composer/p2/"+name+".json", nil, "Authorization", "Bearer "+token)
	var doc struct {
		Packages map[string][]struct{ Version string }
	}
	json.Unmarshal(body, &doc)
	var vs []string
	for _, v := range doc.Packages[name] {
		vs = append(vs, v.Version)
	}
	return resp.StatusCode, vs
}

// claimArchive is a package archive with a composer.json naming name.
func claimArchive(t *testing.T, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for path, content := range map[string]string{
		"composer.json": `{"name":"` + name + `","type":"library","license":"MIT"}`,
		"src/A.php":     "<?php\n",
	} {
		w, err := zw.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// unclaimed fails the test when vendor is claimed or org has a Composer
// repository.
func unclaimed(t *testing.T, e *claimtest.Env, vendor, orgID string) {
	t.Helper()
	ctx := context.Background()
	if cl, err := e.Registry.Catalog.ClaimOf(ctx, composer.Protocol, vendor); !fault.Is(err, fault.NotFound) {
		t.Fatalf("%s is claimed (%+v, %v)", vendor, cl, err)
	}
	if _, err := e.Auth.RepoByName(ctx, orgID, composer.Protocol, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a Composer repository was created (%v)", err)
	}
}

// TestClaimAnnouncedName: a name the upstream announces only through
// its packages.json patterns is the upstream's too.
func TestClaimAnnouncedName(t *testing.T) {
	t.Parallel()
	e := claimtest.NewEnv(t, claims)
	e.Up.Handle("/packages.json", []byte(`{"packages":[],"metadata-url":"/p2/%package%.json","available-package-patterns":["rival/announced*"]}`), asJSON)
	st, msg := claims.Publish(t, e, e.Rival.Token, "rival/announced-tool", "1.0.0")
	if st != 409 || !strings.Contains(msg, "exists on the upstream registry") || !strings.Contains(msg, "POST /api/v1/organizations/rival/claims") {
		t.Fatalf("%d %q, want 409 telling how to claim rival", st, msg)
	}
	unclaimed(t, e, "rival", e.RivalOrg)
	if resp, b := e.Do(t, "GET", "/composer/p2/rival/announced-tool.json", nil, "Authorization", "Bearer "+e.Rival.Token); resp.StatusCode != 404 {
		t.Fatalf("a refused publish was recorded: %d %s", resp.StatusCode, b)
	}
}

// TestClaimNonMemberMultipart: the multipart upload form takes the
// publish's path: a non-member's upload under another organization's
// vendor is refused and creates nothing there.
func TestClaimNonMemberMultipart(t *testing.T) {
	t.Parallel()
	e := claimtest.NewEnv(t, claims)
	var form bytes.Buffer
	form.WriteString("--b\r\nContent-Disposition: form-data; name=\"package\"; filename=\"p.zip\"\r\nContent-Type: application/zip\r\n\r\n")
	form.Write(claimArchive(t, "acme/form"))
	form.WriteString("\r\n--b--\r\n")
	resp, body := e.Do(t, "POST", "/composer/packages/acme/form?version=1.0.0", form.Bytes(),
		"Content-Type", "multipart/form-data; boundary=b", "Authorization", "Bearer "+e.Rival.Token)
	if resp.StatusCode != 403 || !strings.Contains(string(body), `not a member of the organization \"acme\"`) {
		t.Fatalf("multipart publish by a non-member: %d %s", resp.StatusCode, body)
	}
	unclaimed(t, e, "acme", e.OrgID)
}
