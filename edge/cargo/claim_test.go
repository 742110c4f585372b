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

	"entrepot/auth"
	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The claim tests: a first publish never takes a name the upstream
// serves, a failed publish claims nothing, and a publish into an
// organization the caller does not belong to creates nothing there.

// claimBed is the handler in this process over real stores, with a fake
// upstream index whose files are revalidated on every request, and two
// organizations: "acme" (the admin's) and "rival", whose only member is
// eve.
type claimBed struct {
	e   *testkit.Edge
	up  *testkit.Upstream
	eve string // eve's srg_ token, no scope restrictions
}

func newClaimBed(t *testing.T) *claimBed {
	t.Helper()
	b := &claimBed{up: testkit.NewUpstream(t)}
	b.up.Handle("/index/config.json", []byte(`{"dl":"`+b.up.URL+`/dl"}`))
	up, err := upstream.New("cargo", b.up.URL+"/index/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	b.e = testkit.StartEdge(t, testkit.EdgeOptions{MetadataTTL: time.Nanosecond}, func(r *edge.Registry, m *edge.Mux) {
		New(r, up, Options{}).Mount(m.Group("/cargo"))
	})
	b.eve = b.e.Rival(t, "eve", "rival").Token
	return b
}

// serve makes the upstream index serve a crate name (one version).
func (b *claimBed) serve(name string) []byte {
	line := []byte(fmt.Sprintf(`{"name":%q,"vers":"1.0.0","deps":[],"cksum":"%s","features":{},"yanked":false}`+"\n", name, strings.Repeat("0", 64)))
	b.up.Handle("/index/"+indexPath(name), line)
	return line
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
func (b *claimBed) put(t *testing.T, token string, body []byte) (int, string) {
	t.Helper()
	resp, raw := b.e.Do(t, "PUT", "/cargo/api/v1/crates/new", body, "Authorization", token)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	var e struct{ Errors []struct{ Detail string } }
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Errors) != 1 {
		t.Fatalf("publish answered %d without cargo's error format: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, e.Errors[0].Detail
}

// unclaimed checks that nothing of name was claimed or recorded and that
// its index file is the upstream's, when want is not nil.
func (b *claimBed) unclaimed(t *testing.T, name string, want []byte) {
	t.Helper()
	ctx := context.Background()
	if cl, err := b.e.Registry.Catalog.ClaimOf(ctx, Protocol, normalize(name)); !fault.Is(err, fault.NotFound) {
		t.Fatalf("%s is claimed (%+v, %v)", name, cl, err)
	}
	if _, err := b.e.Registry.Catalog.Package(ctx, Protocol, normalize(name)); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a package %s was recorded (%v)", name, err)
	}
	if want == nil {
		return
	}
	resp, body := b.e.Do(t, "GET", "/cargo/index/"+indexPath(name), nil, "Authorization", b.eve)
	if resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("index of %s after the publish: %d %s; want the upstream's %s", name, resp.StatusCode, body, want)
	}
}

func TestClaimSquattingRefused(t *testing.T) {
	b := newClaimBed(t)
	tests := []struct {
		name     string // published
		upstream string // served by the upstream
	}{
		{"serde", "serde"},
		{"Serde", "serde"},
		{"serde-json", "serde_json"},
		{"serde_json", "serde_json"},
		{"Foo-bar_baz", "foo_bar-baz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := b.serve(tt.upstream)
			code, detail := b.put(t, b.eve, claimPublish(t, tt.name, "99.0.0", nil))
			if code != http.StatusConflict || !strings.Contains(detail, "exists on the upstream registry") ||
				!strings.Contains(detail, "POST /api/v1/organizations/rival/claims") {
				t.Fatalf("publish of %s: %d %q; want 409 telling how an admin claims it", tt.name, code, detail)
			}
			b.unclaimed(t, tt.upstream, want)
		})
	}

	t.Run("the upstream cannot tell", func(t *testing.T) {
		b.up.Set("/index/fl/ak/flaky", testkit.Route{Status: http.StatusInternalServerError})
		code, detail := b.put(t, b.eve, claimPublish(t, "flaky", "1.0.0", nil))
		if code != http.StatusServiceUnavailable || !strings.Contains(detail, "cannot tell whether flaky exists") {
			t.Fatalf("publish while the upstream fails: %d %q", code, detail)
		}
		b.unclaimed(t, "flaky", nil)
	})

	t.Run("a name the upstream lacks", func(t *testing.T) {
		if code, detail := b.put(t, b.eve, claimPublish(t, "rival-crate", "1.0.0", nil)); code != http.StatusOK {
			t.Fatalf("publish: %d %q", code, detail)
		}
	})

	t.Run("claimed by an admin on purpose", func(t *testing.T) {
		ctx := context.Background()
		r := b.e.Registry
		org, err := r.Auth.GetOrg(ctx, "rival")
		if err != nil {
			t.Fatal(err)
		}
		repo, err := r.HostedRepo(ctx, org.ID, Protocol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Catalog.Claim(ctx, hosted.Claim{Protocol: Protocol, Namespace: "serde", OrgID: org.ID, RepoID: repo.ID}); err != nil {
			t.Fatal(err)
		}
		r.Forget(Protocol, "serde")
		if code, detail := b.put(t, b.eve, claimPublish(t, "serde", "99.0.0", nil)); code != http.StatusOK {
			t.Fatalf("publish of a claimed name: %d %q", code, detail)
		}
	})
}

func TestClaimFailedPublish(t *testing.T) {
	b := newClaimBed(t)
	good := func(name string) string { return fmt.Sprintf("[package]\nname = %q\nversion = \"1.0.0\"\n", name) }
	tests := []struct {
		name, crate string
		body        func(t *testing.T, name string) []byte
		onUpstream  bool // the upstream serves the name already
		detail      string
	}{
		{"not a crate", "bad-archive", func(t *testing.T, n string) []byte {
			return claimPublish(t, n, "1.0.0", []byte("just text, not gzip"))
		}, false, "gzip"},
		{"manifest disagrees", "liar", func(t *testing.T, n string) []byte {
			return claimPublish(t, n, "1.0.0", claimCrate(t, n+"-1.0.0", good("truth")))
		}, false, "does not match Cargo.toml"},
		{"truncated", "short", func(t *testing.T, n string) []byte {
			full := claimPublish(t, n, "1.0.0", nil)
			return full[:len(full)-10]
		}, false, "malformed publish request"},
		{"bad archive of a name the upstream has", "tokio", func(t *testing.T, n string) []byte {
			return claimPublish(t, n, "1.0.0", []byte("just text, not gzip"))
		}, true, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.onUpstream {
				b.serve(tt.crate)
			}
			code, detail := b.put(t, b.eve, tt.body(t, tt.crate))
			if code != http.StatusBadRequest || !strings.Contains(detail, tt.detail) {
				t.Fatalf("publish: %d %q; want 400 with %q", code, detail, tt.detail)
			}
			// The upstream has (or gains) the name: it still resolves there.
			b.unclaimed(t, tt.crate, b.serve(tt.crate))
		})
	}
}

func TestClaimNonMember(t *testing.T) {
	b := newClaimBed(t)
	ctx := context.Background()
	r := b.e.Registry
	acme, err := r.Auth.GetOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	eve, err := r.Auth.UserByLogin(ctx, "eve")
	if err != nil {
		t.Fatal(err)
	}
	// A token scoped to acme, of a user who is no member of acme (one
	// who has left it, say): it names acme as the publish's organization.
	_, tok, err := r.Auth.CreateToken(ctx, eve.ID, auth.NewToken{Name: "into-acme", Organizations: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"eve-crate", "serde"} {
		if name == "serde" {
			b.serve(name)
		}
		t.Run(name, func(t *testing.T) {
			code, detail := b.put(t, tok, claimPublish(t, name, "1.0.0", nil))
			if code != http.StatusForbidden || !strings.Contains(detail, `not a member of the organization "acme"`) {
				t.Fatalf("publish into acme by a non-member: %d %q", code, detail)
			}
			b.unclaimed(t, name, nil)
			if _, err := r.Auth.RepoByName(ctx, acme.ID, Protocol, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
				t.Fatalf("acme has a cargo repository after the refused publish (%v)", err)
			}
		})
	}
	// acme's own publishes are unaffected.
	if code, detail := b.put(t, b.e.Token, claimPublish(t, "acme-crate", "1.0.0", nil)); code != http.StatusOK {
		t.Fatalf("publish by acme's owner: %d %q", code, detail)
	}
	if _, err := r.Auth.RepoByName(ctx, acme.ID, Protocol, edge.DefaultRepo); err != nil {
		t.Fatalf("acme's repository after its publish: %v", err)
	}
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
