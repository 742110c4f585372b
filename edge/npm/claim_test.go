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
	"slices"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/edge/npm"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The claim tests: what a first publish may claim, by the shared suite
// (edge/claimtest), and npm's scopes, which the suite does not know.

// claims is npm's adapter to the claim suite.
var claims = claimtest.Protocol{
	Name: npm.Protocol,
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream) {
		client, err := upstream.New("npm", up.URL+"/", upstream.Options{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		npm.New(r, client, npm.Options{}).Mount(m.Group("/npm"))
	},
	Claim: npm.NormalizeClaim,
	Publish: func(t *testing.T, e *claimtest.Env, token, name, version string) (int, string) {
		return publish(t, e.Edge, token, claimDoc(name, version, claimTarball(name, version), nil), name)
	},
	Published: http.StatusOK,
	Bad: []claimtest.Bad{
		{Case: "bad-digest", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return publish(t, e.Edge, token, claimDoc(name, "1.0.0", claimTarball(name, "1.0.0"), []byte("other bytes")), name)
		}},
		{Case: "bad-archive", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return publish(t, e.Edge, token, claimDoc(name, "1.0.0", []byte("this is not a gzipped tarball"), nil), name)
		}},
		{Case: "other-version", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return publish(t, e.Edge, token, claimDoc(name, "1.0.0", claimTarball(name, "2.0.0"), nil), name)
		}},
	},
	Serve:    serveUpstream,
	Lookup:   func(name string) string { return "/" + name },
	Versions: versions,
	Free:     "rival-tool",
	Taken:    "is-number",
}

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

// publish PUTs a publish document as token and returns the status and the
// npm error message ("" on success).
func publish(t *testing.T, e *testkit.Edge, token string, doc []byte, name string) (int, string) {
	t.Helper()
	resp, body := e.Do(t, "PUT", "/npm/"+strings.Replace(name, "/", "%2f", 1), doc,
		"Authorization", "Bearer "+token, "Content-Type", "application/json")
	var msg struct{ Error string }
	json.Unmarshal(body, &msg)
	if resp.StatusCode != http.StatusOK && msg.Error == "" {
		t.Fatalf("%d without an npm error: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, msg.Error
}

// versions GETs name's packument as token ("": anonymously) and lists
// its versions.
func versions(t *testing.T, e *claimtest.Env, token, name string) (int, []string) {
	t.Helper()
	var header []string
	if token != "" {
		header = []string{"Authorization", "Bearer " + token}
	}
	resp, body := e.Do(t, "GET", "/npm/"+strings.Replace(name, "/", "%2f", 1), nil, header...)
	var doc struct{ Versions map[string]json.RawMessage }
	json.Unmarshal(body, &doc)
	var vs []string
	for v := range doc.Versions {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return resp.StatusCode, vs
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

// claimed reports the organization holding namespace, or "".
func claimed(t *testing.T, e *claimtest.Env, namespace string) string {
	t.Helper()
	cl, err := e.Registry.Catalog.ClaimOf(context.Background(), npm.Protocol, namespace)
	if fault.Is(err, fault.NotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cl.OrgID
}

// TestClaimScopes: a scope is its organization's: the first scoped
// publish claims it without asking the upstream; a scoped publish that
// fails claims nothing; and a scope belongs to the organization named
// like it, so a non-member's publish there is refused whatever token it
// brings.
func TestClaimScopes(t *testing.T) {
	t.Parallel()
	c := claimtest.NewEnv(t, claims)

	t.Run("failed scoped publish", func(t *testing.T) {
		for _, bad := range claims.Bad {
			name := "@rival/" + bad.Case
			if st, msg := bad.Publish(t, c, c.Rival.Token, name); st != http.StatusBadRequest {
				t.Fatalf("%s: %d %q, want 400", name, st, msg)
			}
			if _, err := c.Registry.Catalog.Package(context.Background(), npm.Protocol, name); !fault.Is(err, fault.NotFound) {
				t.Fatalf("%s was recorded: %v", name, err)
			}
			if org := claimed(t, c, "@rival"); org != "" {
				t.Fatalf("a failed publish claimed @rival for %s", org)
			}
		}
	})

	t.Run("scope of another organization", func(t *testing.T) {
		name := "@acme/intruder"
		st, msg := publish(t, c.Edge, c.Rival.Token, claimDoc(name, "1.0.0", claimTarball(name, "1.0.0"), nil), name)
		if st != http.StatusForbidden || !strings.Contains(msg, `not a member of the organization "acme"`) {
			t.Fatalf("non-member publish: %d %q", st, msg)
		}
		if org := claimed(t, c, "@acme"); org != "" {
			t.Fatalf("@acme was claimed by %s", org)
		}
		if _, err := c.Auth.RepoByName(context.Background(), c.OrgID, npm.Protocol, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
			t.Fatalf("a repository was created in acme: %v", err)
		}
	})

	t.Run("first scoped publish", func(t *testing.T) {
		serveUpstream(c.Up, "@rival/tool", "5.0.0")
		if st, msg := claims.Publish(t, c, c.Rival.Token, "@rival/tool", "1.0.0"); st != http.StatusOK {
			t.Fatalf("scoped publish: %d %s", st, msg)
		}
		if claimed(t, c, "@rival") == "" {
			t.Fatal("the first scoped publish did not claim the scope")
		}
		if n := c.Up.Hits("/@rival/tool") + c.Up.Hits("/@rival%2ftool"); n != 0 {
			t.Fatalf("the upstream was asked %d times about a scoped name", n)
		}
	})
}
