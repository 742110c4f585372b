package cargo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/hosted"
	"entrepot/upstream"
)

// The claim tests: what a first publish may claim, by the shared suite
// (edge/claimtest), over the handler in this process and a fake upstream
// index whose files are revalidated on every request.

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

// claims is cargo's adapter to the claim suite.
var claims = claimtest.Protocol{
	Name: Protocol,
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream) {
		up.Handle("/index/config.json", []byte(`{"dl":"`+up.URL+`/dl"}`))
		client, err := upstream.New("cargo", up.URL+"/index/", upstream.Options{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		New(r, client, Options{}).Mount(m.Group("/cargo"))
	},
	Claim:       NormalizeClaim,
	MetadataTTL: time.Nanosecond,
	Publish: func(t *testing.T, e *claimtest.Env, token, name, vers string) (int, string) {
		return put(t, e, token, claimPublish(t, name, vers, nil))
	},
	Published: http.StatusOK,
	Bad: []claimtest.Bad{
		{Case: "not a crate", Says: "gzip", Publish: pub(func(t *testing.T, n string) []byte {
			return claimPublish(t, n, "1.0.0", []byte("just text, not gzip"))
		})},
		{Case: "manifest disagrees", Says: "does not match Cargo.toml", Publish: pub(func(t *testing.T, n string) []byte {
			return claimPublish(t, n, "1.0.0", claimCrate(t, n+"-1.0.0", goodManifest("truth")))
		})},
		{Case: "truncated", Says: "malformed publish request", Publish: pub(func(t *testing.T, n string) []byte {
			full := claimPublish(t, n, "1.0.0", nil)
			return full[:len(full)-10]
		})},
	},
	Serve:              serveIndex,
	Lookup:             func(name string) string { return "/index/" + indexPath(name) },
	Versions:           indexVersions,
	AuthenticatedReads: true,
	Key:                normalize,
	Namespace:          normalize,
	Free:               "rival-crate",
	Taken:              "serde",
	Spellings:          [][2]string{{"Serde", "serde"}, {"serde-json", "serde_json"}, {"serde_json", "serde_json"}, {"Foo-bar_baz", "foo_bar-baz"}},
}

// pub is a Bad publish of the body built for a name.
func pub(body func(t *testing.T, name string) []byte) func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
	return func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
		return put(t, e, token, body(t, name))
	}
}

// goodManifest is a Cargo.toml of name at 1.0.0.
func goodManifest(name string) string {
	return fmt.Sprintf("[package]\nname = %q\nversion = \"1.0.0\"\n", name)
}

// serveIndex makes the upstream index serve one version of a crate.
func serveIndex(up *testkit.Upstream, name, vers string) {
	line := fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"cksum":"%s","features":{},"yanked":false}`+"\n", name, vers, strings.Repeat("0", 64))
	up.Handle("/index/"+indexPath(name), []byte(line))
}

// indexVersions reads a crate's index file as token and lists its
// versions.
func indexVersions(t *testing.T, e *claimtest.Env, token, name string) (int, []string) {
	t.Helper()
	resp, body := e.Do(t, "GET", "/cargo/index/"+indexPath(name), nil, "Authorization", token)
	var vs []string
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var v struct{ Vers string }
		if json.Unmarshal(line, &v) == nil {
			vs = append(vs, v.Vers)
		}
	}
	return resp.StatusCode, vs
}

// claimCrate is a .crate holding folder/Cargo.toml.
func claimCrate(t *testing.T, folder, toml string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: folder + "/Cargo.toml", Mode: 0o644, Size: int64(len(toml)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(toml))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// claimPublish frames a publish of name@vers whose .crate is crate (a
// valid one when nil).
func claimPublish(t *testing.T, name, vers string, crate []byte) []byte {
	t.Helper()
	if crate == nil {
		crate = claimCrate(t, name+"-"+vers, fmt.Sprintf("[package]\nname = %q\nversion = %q\n", name, vers))
	}
	meta := fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"features":{}}`, name, vers)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint32(len(meta)))
	buf.WriteString(meta)
	binary.Write(&buf, binary.LittleEndian, uint32(len(crate)))
	buf.Write(crate)
	return buf.Bytes()
}

// put publishes body with token and returns the status and cargo's
// error detail ("" on success).
func put(t *testing.T, e *claimtest.Env, token string, body []byte) (int, string) {
	t.Helper()
	resp, raw := e.Do(t, "PUT", "/cargo/api/v1/crates/new", body, "Authorization", token)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	var doc struct{ Errors []struct{ Detail string } }
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Errors) != 1 {
		t.Fatalf("publish answered %d without cargo's error format: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, doc.Errors[0].Detail
}

// claim has acme claim the crate name, as a platform admin does through
// the management API (POST /api/v1/organizations/acme/claims): on purpose,
// even when the upstream serves it.
func (x *harness) claim(name string) {
	x.t.Helper()
	ctx := context.Background()
	r := x.edge.Registry
	repo, err := r.HostedRepo(ctx, x.edge.OrgID, Protocol)
	if err != nil {
		x.t.Fatal(err)
	}
	if _, err := r.Catalog.Claim(ctx, hosted.Claim{Protocol: Protocol, Namespace: normalize(name), OrgID: x.edge.OrgID, RepoID: repo.ID}); err != nil {
		x.t.Fatal(err)
	}
	r.Forget(Protocol, normalize(name))
}
