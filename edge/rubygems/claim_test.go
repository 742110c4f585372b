package rubygems

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/upstream"
)

// The claim tests: what a first push may claim, by the shared suite
// (edge/claimtest), over the handler in this process and a fake upstream
// whose files are revalidated on every request.

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

// claims is RubyGems' adapter to the claim suite.
var claims = claimtest.Protocol{
	Name: Protocol,
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream) {
		client, err := upstream.New(Protocol, up.URL+"/", upstream.Options{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		New(r, client, Options{}).Mount(m.Group("/rubygems"))
	},
	Claim:       NormalizeClaim,
	MetadataTTL: time.Nanosecond,
	Publish: func(t *testing.T, e *claimtest.Env, token, name, version string) (int, string) {
		return push(t, e, token, claimGem(t, name, version, false))
	},
	Published: http.StatusOK,
	Bad: []claimtest.Bad{
		{Case: "corrupt archive", Says: "not a gem", Publish: pub(func(t *testing.T, n string) []byte {
			return bytes.Repeat([]byte("not a gem, not even a tar archive. "), 40)
		})},
		{Case: "checksum mismatch", Says: "checksum mismatch", Publish: pub(func(t *testing.T, n string) []byte {
			return claimGem(t, n, "1.0.0", true)
		})},
		{Case: "invalid version", Says: "invalid version", Publish: pub(func(t *testing.T, n string) []byte {
			return claimGem(t, n, "1.0.0 beta", false)
		})},
	},
	Serve:              serveInfo,
	Lookup:             func(name string) string { return "/info/" + name },
	Versions:           infoVersions,
	AuthenticatedReads: true,
	Free:               "rival-gem",
	Taken:              "rack",
	Spellings:          [][2]string{{"rails-html", "rails-html"}, {"Rails_HTML", "rails-html"}, {"Rack.Attack", "rack_attack"}},
}

// pub is a Bad push of the body built for a name.
func pub(body func(t *testing.T, name string) []byte) func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
	return func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
		return push(t, e, token, body(t, name))
	}
}

// serveInfo makes the upstream serve /info/{name} with one version.
func serveInfo(up *testkit.Upstream, name, version string) {
	up.Handle("/info/"+name, []byte("---\n"+version+" |checksum:"+strings.Repeat("0", 64)+"\n"))
}

// infoVersions reads /info/{name} as token and lists its versions.
func infoVersions(t *testing.T, e *claimtest.Env, token, name string) (int, []string) {
	t.Helper()
	resp, body := e.Do(t, "GET", "/rubygems/info/"+name, nil, "Authorization", token)
	var vs []string
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if v, _, ok := strings.Cut(line, " "); ok && line != "---" {
			vs = append(vs, v)
		}
	}
	return resp.StatusCode, vs
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
func push(t *testing.T, e *claimtest.Env, token string, body []byte) (int, string) {
	t.Helper()
	resp, raw := e.Do(t, "POST", "/rubygems/api/v1/gems", body, "Authorization", token, "Content-Type", "application/octet-stream")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("push answered %d as %q, not plain text: %s", resp.StatusCode, ct, raw)
	}
	return resp.StatusCode, string(raw)
}
