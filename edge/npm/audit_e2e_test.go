package npm_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"entrepot/deploy/testkit"
)

// auditFront is an upstream with an audit endpoint: it records the bulk
// bodies it receives and answers one advisory for public-dep; every other
// request goes to the fixture upstream behind it.
type auditFront struct {
	URL    string
	mu     sync.Mutex
	bodies []string
}

func newAuditFront(t *testing.T, up *testkit.Upstream) *auditFront {
	f := &auditFront{}
	back, _ := url.Parse(up.URL)
	proxy := httputil.NewSingleHostReverseProxy(back)
	// Tarball URLs name the fixture upstream; the mirror fetches only from
	// its own upstream's host.
	proxy.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		b = bytes.ReplaceAll(b, []byte(up.URL), []byte(f.URL))
		resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return err
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/-/npm/v1/security/advisories/bulk" {
			proxy.ServeHTTP(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"public-dep":[{"id":1,"url":"https://advisories.invalid/1","title":"Prototype pollution","severity":"high","vulnerable_versions":"<3.0.0","cwe":[],"cvss":{"score":0,"vectorString":null}}]}`)
	}))
	// The URL is known before the first request reads it.
	f.URL = "http://" + srv.Listener.Addr().String()
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *auditFront) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies...)
}

// npmAudited runs npm with its audit on (run turns it off).
func npmAudited(t *testing.T, c *npmClient, dir, rc, cache string, args ...string) (string, error) {
	t.Helper()
	args = append(args, "--userconfig", rc, "--cache", cache, "--no-fund", "--update-notifier=false")
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = dir
	cmd.Env = c.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestE2EAudit(t *testing.T) {
	npm := newNPM(t)
	up := testkit.NewUpstream(t)
	servePackage(t, up, "public-dep", "2.0.0")
	front := newAuditFront(t, up)
	e := newHostedEnv(t, "UPSTREAM_NPM="+front.URL+"/")
	rc := npmrc(t, e.s, e.full)
	npm.must(t, project(t, map[string]any{"name": "@acme/hello", "version": "1.0.0"}), rc, t.TempDir(), "publish")

	if out, err := npmAudited(t, npm, t.TempDir(), rc, t.TempDir(), "ping"); err != nil {
		t.Fatalf("npm ping: %v\n%s", err, out)
	}

	dir := project(t, map[string]any{"name": "private-app", "version": "1.0.0"})
	out, err := npmAudited(t, npm, dir, rc, t.TempDir(), "install", "@acme/hello", "public-dep")
	if err != nil || strings.Contains(out, "audit endpoint returned an error") || !strings.Contains(out, "1 high severity vulnerability") {
		t.Fatalf("npm install with its audit: err=%v\n%s", err, out)
	}
	out, err = npmAudited(t, npm, dir, rc, t.TempDir(), "audit", "--json")
	var report struct {
		Vulnerabilities map[string]struct{ Severity string }
	}
	if json.Unmarshal([]byte(out), &report) != nil || report.Vulnerabilities["public-dep"].Severity != "high" || err == nil {
		t.Fatalf("npm audit: err=%v (want exit 1 with public-dep high)\n%s", err, out)
	}
	sent := front.sent()
	// The same tree asked twice went upstream once (cached briefly), and
	// never named the hosted package or the private project.
	if len(sent) != 1 {
		t.Fatalf("the upstream saw %d audit requests, want 1: %q", len(sent), sent)
	}
	for _, b := range sent {
		if !strings.Contains(b, "public-dep") || strings.Contains(b, "acme") || strings.Contains(b, "private-app") {
			t.Errorf("audit body sent upstream: %s", b)
		}
	}

	// An upstream without an audit endpoint: a clean audit, with a warning.
	plain := newHostedEnv(t, "UPSTREAM_NPM="+up.URL+"/")
	prc := npmrc(t, plain.s, plain.full)
	dir = project(t, map[string]any{"name": "private-app", "version": "1.0.0"})
	out, err = npmAudited(t, npm, dir, prc, t.TempDir(), "install", "public-dep")
	if err != nil || strings.Contains(out, "audit endpoint returned an error") || !strings.Contains(out, "found 0 vulnerabilities") {
		t.Fatalf("npm install without an upstream audit: err=%v\n%s", err, out)
	}
	if out, err := npmAudited(t, npm, dir, prc, t.TempDir(), "audit"); err != nil || !strings.Contains(out, "found 0 vulnerabilities") {
		t.Fatalf("npm audit without an upstream audit: err=%v\n%s", err, out)
	}
}

func TestAuditBadInput(t *testing.T) {
	up := testkit.NewUpstream(t)
	e := newHostedEnv(t, "UPSTREAM_NPM="+up.URL+"/")
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 20<<20))
	zw.Close()
	for _, c := range []struct {
		name, path, encoding string
		body                 []byte
		want                 int
	}{
		{"not json", "/npm/-/npm/v1/security/advisories/bulk", "", []byte("nope"), http.StatusBadRequest},
		{"gzip bomb", "/npm/-/npm/v1/security/advisories/bulk", "gzip", bomb.Bytes(), http.StatusRequestEntityTooLarge},
		{"bad gzip", "/npm/-/npm/v1/security/advisories/bulk", "gzip", []byte("nope"), http.StatusBadRequest},
		{"no upstream audit", "/npm/-/npm/v1/security/advisories/bulk", "", []byte(`{"public-dep":["1.0.0"]}`), http.StatusOK},
		{"quick, no upstream audit", "/npm/-/npm/v1/security/audits/quick", "", []byte(`{"name":"x","requires":{"a":"1"}}`), http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.s.URL+c.path, bytes.NewReader(c.body))
			if c.encoding != "" {
				req.Header.Set("Content-Encoding", c.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.want, b)
			}
			if c.want == http.StatusOK && !strings.Contains(resp.Header.Get("Warning"), "no security audit") {
				t.Errorf("no warning header: %v", resp.Header)
			}
		})
	}
}

func TestE2ESearchMerged(t *testing.T) {
	npm := newNPM(t)
	up := testkit.NewUpstream(t)
	obj := func(name string) map[string]any {
		return map[string]any{"package": map[string]any{"name": name, "version": "1.0.0", "description": "greeting " + name, "date": "2026-01-01T00:00:00.000Z",
			"keywords": []string{}, "maintainers": []any{}, "links": map[string]string{}, "publisher": map[string]string{}},
			"score": map[string]any{"final": 0.5}, "searchScore": 1}
	}
	// The upstream's results include a namesake of the hosted package: it
	// is dropped.
	b, _ := json.Marshal(map[string]any{"objects": []any{obj("public-greeting"), obj("@acme/hello")}, "total": 2})
	up.Handle("/-/v1/search", b, func(r *testkit.Route) { r.ContentType = "application/json" })
	e := newHostedEnv(t, "UPSTREAM_NPM="+up.URL+"/")
	rc := npmrc(t, e.s, e.full)
	npm.must(t, project(t, map[string]any{"name": "@acme/hello", "version": "1.0.0", "description": "greeting hosted"}), rc, t.TempDir(), "publish")

	out := npm.must(t, t.TempDir(), rc, t.TempDir(), "search", "--json", "greeting")
	var got []struct{ Name, Description string }
	if err := json.NewDecoder(strings.NewReader(out[strings.Index(out, "["):])).Decode(&got); err != nil {
		t.Fatalf("npm search: %v\n%s", err, out)
	}
	if len(got) != 2 || got[0].Name != "@acme/hello" || got[0].Description != "greeting hosted" || got[1].Name != "public-greeting" {
		t.Fatalf("npm search: %+v\n%s", got, out)
	}
	if up.Hits("/-/v1/search") != 1 {
		t.Fatalf("upstream search hits: %d", up.Hits("/-/v1/search"))
	}
}
