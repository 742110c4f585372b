package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
)

const alicePassword = "alice-password-1"

// hostedFixtures starts the binary with an organization acme whose
// member alice deployed a POM to Maven and a wheel to PyPI, and returns
// the server and alice's Basic credentials.
func hostedFixtures(t *testing.T, env ...string) (*testkit.Server, string) {
	t.Helper()
	s := testkit.Start(t, env...)
	token := s.Token(t, s.OrgMember(t, "acme", "alice", alicePassword, "admin"), []string{"maven", "pypi"}, nil, nil)
	auth := testkit.Basic("alice", token)
	pom := `<?xml version="1.0"?><project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>` +
		`<groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0</version></project>`
	if resp, b := testkit.Request(t, "PUT", s.URL+"/maven2/com/acme/lib/1.0/lib-1.0.pom", []byte(pom), "Authorization", auth); resp.StatusCode != 201 {
		t.Fatalf("maven deploy: %d %s", resp.StatusCode, b)
	}
	if st, msg := pypiUpload(t, s, auth, "demo-pkg", "1.0.0", "demo_pkg-1.0.0-py3-none-any.whl", "bdist_wheel", "application/octet-stream", wheel("demo-pkg", "1.0.0")); st != 200 {
		t.Fatalf("pypi upload: %s", msg)
	}
	return s, auth
}

// TestSecurityHeadersEveryRoute asks every protocol for a success and an
// error answer, through the binary: each carries the sandbox CSP and
// nosniff; the dashboard keeps its own CSP.
func TestSecurityHeadersEveryRoute(t *testing.T) {
	s, auth := hostedFixtures(t)
	admin := testkit.Basic("admin", testkit.AdminPassword)
	cases := []struct {
		name, path, auth string
		status           int
	}{
		{"health", "/health", "", 200},
		{"api", "/api/v1/auth/me", admin, 200},
		{"api error", "/api/v1/nowhere", admin, 404},
		{"no route", "/nowhere", "", 404},
		{"npm", "/npm/-/whoami", admin, 200},
		{"npm error", "/npm/no-such-package", admin, 404},
		{"oci", "/v2/", admin, 200},
		{"oci error", "/v2/acme/none/manifests/latest", admin, 404},
		{"pypi page", "/pypi/simple/demo-pkg/", auth, 200},
		{"pypi file", "/pypi/files/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl", auth, 200},
		{"pypi json", "/pypi/pypi/demo-pkg/json", auth, 200},
		{"pypi error", "/pypi/simple/no-such-project/", auth, 404},
		{"cargo", "/cargo/index/config.json", admin, 200},
		{"cargo error", "/cargo/index/3/n/non", admin, 404},
		{"maven artifact", "/maven2/com/acme/lib/1.0/lib-1.0.pom", auth, 200},
		{"maven document", "/maven2/com/acme/lib/maven-metadata.xml", auth, 200},
		{"maven error", "/maven2/com/acme/none/1.0/none-1.0.pom", auth, 404},
		{"composer", "/composer/packages.json", admin, 200},
		{"composer error", "/composer/p2/acme/none.json", admin, 404},
		{"rubygems", "/rubygems/versions", admin, 200},
		{"rubygems error", "/rubygems/info/no-such-gem", admin, 404},
		// Answers the router gives of its own: they pass the same
		// middleware.
		{"OPTIONS api", "OPTIONS /api/v1/users", admin, 204},
		{"OPTIONS npm", "OPTIONS /npm/x", "", 204},
		{"OPTIONS maven", "OPTIONS /maven2/com/acme/lib/1.0/lib-1.0.pom", "", 204},
		{"method not allowed", "PATCH /health", "", 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method, path := "GET", tc.path
			if m, p, ok := strings.Cut(tc.path, " "); ok {
				method, path = m, p
			}
			resp, b := testkit.Request(t, method, s.URL+path, nil, "Authorization", tc.auth)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != edge.CSP {
				t.Errorf("Content-Security-Policy %q", got)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("no X-Request-Id: the answer bypassed the middleware")
			}
		})
	}
	// The POM a browser would render as XML goes as an attachment; the
	// wheel is data.
	if resp, _ := testkit.Request(t, "GET", s.URL+"/maven2/com/acme/lib/1.0/lib-1.0.pom", nil, "Authorization", auth); resp.Header.Get("Content-Disposition") != "attachment" || resp.Header.Get("Content-Type") != "text/xml" {
		t.Errorf("POM served as %q, %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
	resp, _ := testkit.Request(t, "GET", s.URL+"/", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || csp == edge.CSP || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("dashboard: %d, CSP %q", resp.StatusCode, csp)
	}
}

// TestErrorsAreNotCached: a 416 on an immutable artifact carries its
// Content-Range and no year-long Cache-Control.
func TestErrorsAreNotCached(t *testing.T) {
	s, auth := hostedFixtures(t)
	url := s.URL + "/maven2/com/acme/lib/1.0/lib-1.0.pom"
	resp, _ := testkit.Request(t, "GET", url, nil, "Authorization", auth)
	if cc := resp.Header.Get("Cache-Control"); resp.StatusCode != 200 || !strings.Contains(cc, "immutable") {
		t.Fatalf("artifact: %d %q", resp.StatusCode, cc)
	}
	resp, b := testkit.Request(t, "GET", url, nil, "Authorization", auth, "Range", "bytes=100000-")
	if resp.StatusCode != 416 || strings.Contains(resp.Header.Get("Cache-Control"), "max-age") ||
		!strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes */") || resp.Header.Get("ETag") != "" {
		t.Fatalf("416: %d %v %s", resp.StatusCode, resp.Header, b)
	}
}

// TestPyPIRevalidates: the simple page and the JSON API answer 304 to the
// ETag they sent.
func TestPyPIRevalidates(t *testing.T) {
	s, auth := hostedFixtures(t)
	for _, tc := range []struct{ name, path, accept string }{
		{"simple html", "/pypi/simple/demo-pkg/", "text/html"},
		{"simple json", "/pypi/simple/demo-pkg/", "application/vnd.pypi.simple.v1+json"},
		{"json api", "/pypi/pypi/demo-pkg/json", ""},
		{"index", "/pypi/simple/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := testkit.Request(t, "GET", s.URL+tc.path, nil, "Authorization", auth, "Accept", tc.accept)
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != 200 || etag == "" {
				t.Fatalf("%d, ETag %q", resp.StatusCode, etag)
			}
			resp, b := testkit.Request(t, "GET", s.URL+tc.path, nil, "Authorization", auth, "Accept", tc.accept, "If-None-Match", etag)
			if resp.StatusCode != 304 || len(b) != 0 {
				t.Fatalf("revalidation: %d %s", resp.StatusCode, b)
			}
		})
	}
}

// TestUpstreamTimeoutIs504 points every protocol's mirror at an upstream
// that never answers: each fresh miss is a 504, not a 502 or a hang.
func TestUpstreamTimeoutIs504(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // past any timeout of the edge's; a client hanging up ends it
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	}))
	t.Cleanup(silent.Close)
	up := silent.URL + "/"
	s := testkit.Start(t, "UPSTREAM_TIMEOUT=200ms",
		"UPSTREAM_NPM="+up, "UPSTREAM_PYPI="+up, "UPSTREAM_CARGO="+up, "UPSTREAM_MAVEN="+up,
		"UPSTREAM_COMPOSER="+up, "UPSTREAM_RUBYGEMS="+up, "UPSTREAM_OCI=hub="+up)
	admin := testkit.Basic("admin", testkit.AdminPassword)
	for _, tc := range []struct{ protocol, path string }{
		{"npm", "/npm/left-pad"},
		{"pypi", "/pypi/simple/requests/"},
		{"cargo", "/cargo/index/se/rd/serde"},
		{"maven", "/maven2/org/example/lib/1.0/lib-1.0.pom"},
		{"composer", "/composer/p2/monolog/monolog.json"},
		{"rubygems", "/rubygems/info/rails"},
		{"oci", "/v2/hub/library/alpine/manifests/latest"},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			t.Parallel()
			resp, b := testkit.Request(t, "GET", s.URL+tc.path, nil, "Authorization", admin)
			if resp.StatusCode != http.StatusGatewayTimeout {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
		})
	}
}

// pypiUpload sends one file as twine does and returns the status and a
// description of the answer.
func pypiUpload(t *testing.T, s *testkit.Server, auth, name, version, filename, filetype, ctype string, content []byte) (int, string) {
	t.Helper()
	sum := sha256.Sum256(content)
	resp, b := testkit.PostForm(t, s.URL+"/pypi/", map[string]string{
		":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
		"name": name, "version": version, "filetype": filetype, "pyversion": "py3",
		"sha256_digest": hex.EncodeToString(sum[:]),
	}, testkit.FormFile{Field: "content", Name: filename, ContentType: ctype, Content: content}, "Authorization", auth)
	return resp.StatusCode, resp.Status + " " + string(b)
}

// wheel builds a minimal wheel whose METADATA names project and version.
func wheel(project, version string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	dir := strings.ReplaceAll(project, "-", "_") + "-" + version + ".dist-info/"
	w, _ := zw.Create(dir + "METADATA")
	fmt.Fprintf(w, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n", project, version)
	w, _ = zw.Create(dir + "WHEEL")
	fmt.Fprintf(w, "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
	zw.Close()
	return b.Bytes()
}
