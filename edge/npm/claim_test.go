package npm_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/edge/npm"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The claim tests drive publishes over HTTP against an in-process edge
// serving npm and the management API, mirroring a fake upstream: what a
// first publish may claim (edge.Registry.ClaimForPublish).

// claimEnv is an edge whose organization "acme" is the platform admin's,
// and "globex" is bob's: bob is a member of globex only.
type claimEnv struct {
	e   *testkit.Edge
	up  *testkit.Upstream
	bob string // bob's srg_ token, without scope restrictions
	// bobInAcme is a token of bob's scoped to acme, where he is no member.
	bobInAcme string
}

func newClaimEnv(t *testing.T) claimEnv {
	t.Helper()
	up := testkit.NewUpstream(t)
	client, err := upstream.New("npm", up.URL+"/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := testkit.StartEdge(t, testkit.EdgeOptions{}, func(r *edge.Registry, m *edge.Mux) {
		npm.New(r, client, npm.Options{}).Mount(m.Group("/npm"))
		api.New(r, api.Options{Claims: map[string]api.ClaimRule{npm.Protocol: npm.NormalizeClaim}}).Mount(m.Group(api.Prefix))
	})
	bob := e.Rival(t, "bob", "globex")
	return claimEnv{e: e, up: up, bob: bob.Token, bobInAcme: bob.IntoAcme}
}

// publish PUTs a publish document as token and returns the status and the
// npm error message ("" on success).
func (c claimEnv) publish(t *testing.T, token string, doc []byte, name string) (int, string) {
	t.Helper()
	resp, body := c.e.Do(t, "PUT", "/npm/"+strings.Replace(name, "/", "%2f", 1), doc,
		"Authorization", "Bearer "+token, "Content-Type", "application/json")
	var msg struct{ Error string }
	json.Unmarshal(body, &msg)
	if resp.StatusCode != http.StatusOK && msg.Error == "" {
		t.Fatalf("%d without an npm error: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, msg.Error
}

// claimed reports the organization holding namespace, or "".
func (c claimEnv) claimed(t *testing.T, namespace string) string {
	t.Helper()
	cl, err := c.e.Registry.Catalog.ClaimOf(context.Background(), npm.Protocol, namespace)
	if fault.Is(err, fault.NotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cl.OrgID
}

// nothingRecorded fails the test when name has a hosted package.
func (c claimEnv) nothingRecorded(t *testing.T, name string) {
	t.Helper()
	if _, err := c.e.Registry.Catalog.Package(context.Background(), npm.Protocol, name); !fault.Is(err, fault.NotFound) {
		t.Fatalf("%s was recorded: %v", name, err)
	}
}

// resolvesUpstream fails the test unless an anonymous GET of name's
// packument answers the upstream's version.
func (c claimEnv) resolvesUpstream(t *testing.T, name, version string) {
	t.Helper()
	resp, body := c.e.Do(t, "GET", "/npm/"+strings.Replace(name, "/", "%2f", 1), nil)
	var doc struct {
		DistTags map[string]string `json:"dist-tags"`
	}
	json.Unmarshal(body, &doc)
	if resp.StatusCode != http.StatusOK || doc.DistTags["latest"] != version {
		t.Fatalf("%s does not resolve upstream: %d %s", name, resp.StatusCode, body)
	}
}

// claimTarball builds an npm tarball whose package.json names name@version.
func claimTarball(name, version string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	pj, _ := json.Marshal(map[string]string{"name": name, "version": version})
	tw.WriteHeader(&tar.Header{Name: "package/package.json", Mode: 0o644, Size: int64(len(pj)), Typeflag: tar.TypeReg})
	tw.Write(pj)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// claimDoc is the document npm publish sends for tarball as name@version,
// announcing digest as the tarball's (nil: the tarball itself).
func claimDoc(name, version string, tarball, digest []byte) []byte {
	if digest == nil {
		digest = tarball
	}
	s512, s1 := sha512.Sum512(digest), sha1.Sum(digest)
	doc := map[string]any{
		"_id": name, "name": name, "dist-tags": map[string]string{"latest": version},
		"versions": map[string]any{version: map[string]any{
			"name": name, "version": version,
			"dist": map[string]string{"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), "shasum": hex.EncodeToString(s1[:])},
		}},
		"_attachments": map[string]any{name + "-" + version + ".tgz": map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tarball), "length": len(tarball),
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}

// serveUpstream has the fake upstream serve name's packument at version.
func serveUpstream(up *testkit.Upstream, name, version string) {
	doc, _ := json.Marshal(map[string]any{"name": name, "dist-tags": map[string]string{"latest": version},
		"versions": map[string]any{version: map[string]any{"name": name, "version": version, "dist": map[string]string{
			"tarball": up.URL + "/" + name + "/-/x.tgz", "shasum": strings.Repeat("0", 40)}}}})
	up.Handle("/"+name, doc, func(r *testkit.Route) { r.ContentType = "application/json" })
}

func TestClaimSquattingRefused(t *testing.T) {
	t.Parallel()
	c := newClaimEnv(t)
	serveUpstream(c.up, "is-number", "7.0.0")
	c.up.Set("/flaky-name", testkit.Route{Status: http.StatusInternalServerError})
	tests := []struct {
		name   string
		status int
		says   []string
	}{
		{"is-number", http.StatusConflict, []string{"is-number exists on the upstream registry", "POST /api/v1/organizations/globex/claims"}},
		{"flaky-name", http.StatusServiceUnavailable, []string{"cannot tell whether flaky-name exists on the upstream registry"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := c.publish(t, c.bob, claimDoc(tc.name, "99.0.0", claimTarball(tc.name, "99.0.0"), nil), tc.name)
			if st != tc.status {
				t.Fatalf("publish of a name the upstream has: %d %q, want %d", st, msg, tc.status)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Fatalf("the refusal does not say %q: %q", s, msg)
				}
			}
			if org := c.claimed(t, tc.name); org != "" {
				t.Fatalf("%s was claimed by %s", tc.name, org)
			}
			c.nothingRecorded(t, tc.name)
		})
	}
	c.resolvesUpstream(t, "is-number", "7.0.0")

	// A platform admin claims it for globex on purpose, as the refusal
	// says: then bob's publish goes through, and the name is hosted.
	admin, err := c.e.Auth.Login(context.Background(), "admin", testkit.AdminPassword, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var claim struct{ Namespace string }
	if resp, raw := c.e.Do(t, "POST", "/api/v1/organizations/globex/claims", []byte(`{"protocol":"npm","namespace":"is-number"}`),
		"Authorization", "Bearer "+admin.AccessToken, "Content-Type", "application/json"); resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &claim) != nil || claim.Namespace != "is-number" {
		t.Fatalf("admin claim: %d %s", resp.StatusCode, raw)
	}
	hits := c.up.Hits("/is-number")
	if st, msg := c.publish(t, c.bob, claimDoc("is-number", "99.0.0", claimTarball("is-number", "99.0.0"), nil), "is-number"); st != http.StatusOK {
		t.Fatalf("publish after the admin's claim: %d %s", st, msg)
	}
	resp, body := c.e.Do(t, "GET", "/npm/is-number", nil, "Authorization", "Bearer "+c.bob)
	var doc struct{ Versions map[string]json.RawMessage }
	json.Unmarshal(body, &doc)
	if _, ok := doc.Versions["99.0.0"]; resp.StatusCode != http.StatusOK || !ok || len(doc.Versions) != 1 {
		t.Fatalf("the claimed name: %d %s", resp.StatusCode, body)
	}
	if n := c.up.Hits("/is-number"); n != hits {
		t.Fatalf("the upstream saw %d requests for the claimed name", n-hits)
	}

	// A scope is its organization's, and never asked about upstream.
	serveUpstream(c.up, "@globex/tool", "5.0.0")
	if st, msg := c.publish(t, c.bob, claimDoc("@globex/tool", "1.0.0", claimTarball("@globex/tool", "1.0.0"), nil), "@globex/tool"); st != http.StatusOK {
		t.Fatalf("scoped publish: %d %s", st, msg)
	}
	if c.claimed(t, "@globex") == "" {
		t.Fatal("the first scoped publish did not claim the scope")
	}
	if n := c.up.Hits("/@globex/tool") + c.up.Hits("/@globex%2ftool"); n != 0 {
		t.Fatalf("the upstream was asked %d times about a scoped name", n)
	}
}

func TestClaimFailedPublishClaimsNothing(t *testing.T) {
	t.Parallel()
	c := newClaimEnv(t)
	notGzip := []byte("this is not a gzipped tarball")
	tests := []struct {
		name string
		doc  func(name string) []byte
	}{
		{"bad-digest", func(name string) []byte {
			return claimDoc(name, "1.0.0", claimTarball(name, "1.0.0"), []byte("other bytes"))
		}},
		{"bad-archive", func(name string) []byte { return claimDoc(name, "1.0.0", notGzip, nil) }},
		{"other-version", func(name string) []byte { return claimDoc(name, "1.0.0", claimTarball(name, "2.0.0"), nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{tc.name, "@globex/" + tc.name} {
				if st, msg := c.publish(t, c.bob, tc.doc(name), name); st != http.StatusBadRequest {
					t.Fatalf("%s: %d %q, want 400", name, st, msg)
				}
				c.nothingRecorded(t, name)
			}
			for _, ns := range []string{tc.name, "@globex"} {
				if org := c.claimed(t, ns); org != "" {
					t.Fatalf("a failed publish claimed %s for %s", ns, org)
				}
			}
			// The upstream gains the name afterwards: it resolves there.
			serveUpstream(c.up, tc.name, "3.0.0")
			c.resolvesUpstream(t, tc.name, "3.0.0")
		})
	}
}

func TestClaimNonMemberRefused(t *testing.T) {
	t.Parallel()
	c := newClaimEnv(t)
	tests := []struct {
		name      string // published into acme, where bob is no member
		token     string
		namespace string
	}{
		{"@acme/intruder", c.bob, "@acme"},
		{"acme-intruder", c.bobInAcme, "acme-intruder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := c.publish(t, tc.token, claimDoc(tc.name, "1.0.0", claimTarball(tc.name, "1.0.0"), nil), tc.name)
			if st != http.StatusForbidden || !strings.Contains(msg, `not a member of the organization "acme"`) {
				t.Fatalf("non-member publish: %d %q", st, msg)
			}
			if org := c.claimed(t, tc.namespace); org != "" {
				t.Fatalf("%s was claimed by %s", tc.namespace, org)
			}
			c.nothingRecorded(t, tc.name)
			if _, err := c.e.Auth.RepoByName(context.Background(), c.e.OrgID, npm.Protocol, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
				t.Fatalf("a repository was created in acme: %v", err)
			}
		})
	}
}
