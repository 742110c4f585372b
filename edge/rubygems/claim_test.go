package rubygems

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
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

// The claim tests: a first push never takes a gem name the upstream
// serves, a failed push claims nothing, and a push into an organization
// the caller does not belong to creates nothing there. They run the
// handler in this process over real stores, with a fake upstream.

// claimBed is the handler with a fake upstream whose files are
// revalidated on every request, and two organizations: "acme" (the
// admin's) and "rival", whose only member is eve.
type claimBed struct {
	e   *testkit.Edge
	up  *testkit.Upstream
	eve string // eve's srg_ token, no scope restrictions
}

func newClaimBed(t *testing.T) *claimBed {
	t.Helper()
	b := &claimBed{up: testkit.NewUpstream(t)}
	up, err := upstream.New(Protocol, b.up.URL+"/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	b.e = testkit.StartEdge(t, testkit.EdgeOptions{MetadataTTL: time.Nanosecond}, func(r *edge.Registry, m *edge.Mux) {
		New(r, up, Options{}).Mount(m.Group("/rubygems"))
	})
	b.eve = b.e.Rival(t, "eve", "rival").Token
	return b
}

// serve makes the upstream serve /info/{name} and returns its body.
func (b *claimBed) serve(name string) []byte {
	info := []byte("---\n1.0.0 |checksum:" + strings.Repeat("0", 64) + "\n")
	b.up.Handle("/info/"+name, info)
	return info
}

// claimGem is testdata/alpha-1.0.0.gem renamed to name-version, with
// checksums.yaml.gz recomputed; corrupt flips a byte of data.tar.gz
// afterwards, so that its checksum no longer matches.
func claimGem(t *testing.T, name, version string, corrupt bool) []byte {
	t.Helper()
	src, err := os.ReadFile("testdata/alpha-1.0.0.gem")
	if err != nil {
		t.Fatal(err)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	type entry struct {
		h *tar.Header
		b []byte
	}
	var entries []entry
	tr := tar.NewReader(bytes.NewReader(src))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == "metadata.gz" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			y, _ := io.ReadAll(zr)
			s := strings.Replace(string(y), "name: alpha\n", "name: "+name+"\n", 1)
			s = strings.Replace(s, "version: 1.0.0\n", "version: "+version+"\n", 1)
			b = gz([]byte(s))
		}
		entries = append(entries, entry{h, b})
	}
	var sums strings.Builder
	sums.WriteString("---\nSHA256:\n")
	for _, e := range entries {
		if e.h.Name != "checksums.yaml.gz" {
			fmt.Fprintf(&sums, "  %s: %x\n", e.h.Name, sha256.Sum256(e.b))
		}
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, e := range entries {
		switch {
		case e.h.Name == "checksums.yaml.gz":
			e.b = gz([]byte(sums.String()))
		case e.h.Name == "data.tar.gz" && corrupt:
			e.b = append([]byte(nil), e.b...)
			e.b[len(e.b)/2] ^= 0xff
		}
		e.h.Size = int64(len(e.b))
		tw.WriteHeader(e.h)
		tw.Write(e.b)
	}
	tw.Close()
	return out.Bytes()
}

// push sends body to gem push with token; it returns the status and the
// plain-text answer.
func (b *claimBed) push(t *testing.T, token string, body []byte) (int, string) {
	t.Helper()
	resp, raw := b.e.Do(t, "POST", "/rubygems/api/v1/gems", body, "Authorization", token, "Content-Type", "application/octet-stream")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("push answered %d as %q, not plain text: %s", resp.StatusCode, ct, raw)
	}
	return resp.StatusCode, string(raw)
}

// unclaimed checks that nothing of name was claimed or recorded, and
// that /info/{name} is the upstream's when want is not nil.
func (b *claimBed) unclaimed(t *testing.T, name string, want []byte) {
	t.Helper()
	ctx := context.Background()
	if cl, err := b.e.Registry.Catalog.ClaimOf(ctx, Protocol, name); !fault.Is(err, fault.NotFound) {
		t.Fatalf("%s is claimed (%+v, %v)", name, cl, err)
	}
	if _, err := b.e.Registry.Catalog.Package(ctx, Protocol, name); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a package %s was recorded (%v)", name, err)
	}
	if want == nil {
		return
	}
	resp, body := b.e.Do(t, "GET", "/rubygems/info/"+name, nil, "Authorization", b.eve)
	if resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("/info/%s after the push: %d %s; want the upstream's %s", name, resp.StatusCode, body, want)
	}
}

func TestClaimSquattingRefused(t *testing.T) {
	b := newClaimBed(t)
	for _, name := range []string{"rack", "rails-html"} {
		t.Run(name, func(t *testing.T) {
			want := b.serve(name)
			code, msg := b.push(t, b.eve, claimGem(t, name, "99.0.0", false))
			if code != http.StatusConflict || !strings.Contains(msg, "exists on the upstream registry") ||
				!strings.Contains(msg, "POST /api/v1/organizations/rival/claims") {
				t.Fatalf("push of %s: %d %q; want 409 telling how an admin claims it", name, code, msg)
			}
			b.unclaimed(t, name, want)
		})
	}

	t.Run("the upstream cannot tell", func(t *testing.T) {
		b.up.Set("/info/flaky", testkit.Route{Status: http.StatusInternalServerError})
		code, msg := b.push(t, b.eve, claimGem(t, "flaky", "1.0.0", false))
		if code != http.StatusServiceUnavailable || !strings.Contains(msg, "cannot tell whether flaky exists") {
			t.Fatalf("push while the upstream fails: %d %q", code, msg)
		}
		b.unclaimed(t, "flaky", nil)
	})

	t.Run("a name the upstream lacks", func(t *testing.T) {
		if code, msg := b.push(t, b.eve, claimGem(t, "rival-gem", "1.0.0", false)); code != http.StatusOK {
			t.Fatalf("push: %d %q", code, msg)
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
		if _, err := r.Catalog.Claim(ctx, hosted.Claim{Protocol: Protocol, Namespace: "rack", OrgID: org.ID, RepoID: repo.ID}); err != nil {
			t.Fatal(err)
		}
		r.Forget(Protocol, "rack")
		if code, msg := b.push(t, b.eve, claimGem(t, "rack", "99.0.0", false)); code != http.StatusOK {
			t.Fatalf("push of a claimed name: %d %q", code, msg)
		}
	})
}

func TestClaimFailedPush(t *testing.T) {
	b := newClaimBed(t)
	tests := []struct {
		name, gem  string
		body       func(t *testing.T, name string) []byte
		onUpstream bool // the upstream serves the name already
		msg        string
	}{
		{"corrupt archive", "broken", func(t *testing.T, n string) []byte {
			return bytes.Repeat([]byte("not a gem, not even a tar archive. "), 40)
		}, false, "not a gem"},
		{"checksum mismatch", "tampered", func(t *testing.T, n string) []byte {
			return claimGem(t, n, "1.0.0", true)
		}, false, "checksum mismatch"},
		{"invalid version", "badver", func(t *testing.T, n string) []byte {
			return claimGem(t, n, "1.0.0 beta", false)
		}, false, "invalid version"},
		{"checksum mismatch of a name the upstream has", "sinatra", func(t *testing.T, n string) []byte {
			return claimGem(t, n, "1.0.0", true)
		}, true, "checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.onUpstream {
				b.serve(tt.gem)
			}
			code, msg := b.push(t, b.eve, tt.body(t, tt.gem))
			if code != http.StatusBadRequest || !strings.Contains(msg, tt.msg) {
				t.Fatalf("push: %d %q; want 400 with %q", code, msg, tt.msg)
			}
			// The upstream has (or gains) the name: it still resolves there.
			b.unclaimed(t, tt.gem, b.serve(tt.gem))
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
	// who has left it, say): it names acme as the push's organization.
	_, tok, err := r.Auth.CreateToken(ctx, eve.ID, auth.NewToken{Name: "into-acme", Organizations: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	b.serve("rack")
	for _, name := range []string{"evegem", "rack"} {
		t.Run(name, func(t *testing.T) {
			code, msg := b.push(t, tok, claimGem(t, name, "1.0.0", false))
			if code != http.StatusForbidden || !strings.Contains(msg, `not a member of the organization "acme"`) {
				t.Fatalf("push into acme by a non-member: %d %q", code, msg)
			}
			b.unclaimed(t, name, nil)
			if _, err := r.Auth.RepoByName(ctx, acme.ID, Protocol, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
				t.Fatalf("acme has a rubygems repository after the refused push (%v)", err)
			}
		})
	}
	// acme's own pushes are unaffected.
	if code, msg := b.push(t, b.e.Token, claimGem(t, "acme-gem", "1.0.0", false)); code != http.StatusOK {
		t.Fatalf("push by acme's owner: %d %q", code, msg)
	}
	if _, err := r.Auth.RepoByName(ctx, acme.ID, Protocol, edge.DefaultRepo); err != nil {
		t.Fatalf("acme's repository after its push: %v", err)
	}
}
