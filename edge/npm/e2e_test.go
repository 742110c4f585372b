package npm_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"entrepot/deploy/testkit"
)

// The end-to-end tests drive the real npm CLI against the real binary.
// Each npm run gets a fresh HOME, its own --userconfig and (unless a test
// says otherwise) an empty --cache, and none of the caller's npm_config_*
// variables.

// npmClient runs npm for one test.
type npmClient struct {
	bin  string
	home string
}

func newNPM(t *testing.T) *npmClient {
	return &npmClient{bin: testkit.RequireTool(t, "npm"), home: t.TempDir()}
}

// env is the environment of npm runs: the caller's, minus npm settings.
func (c *npmClient) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.ToLower(k), "npm_config_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+c.home, "NO_UPDATE_NOTIFIER=1")
}

// run runs npm in dir with userconfig rc and cache dir cache.
func (c *npmClient) run(t *testing.T, dir, rc, cache string, args ...string) (string, error) {
	t.Helper()
	args = append(args, "--userconfig", rc, "--cache", cache, "--no-audit", "--no-fund", "--update-notifier=false", "--loglevel=http")
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = dir
	cmd.Env = c.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// must runs npm and fails the test when it fails.
func (c *npmClient) must(t *testing.T, dir, rc, cache string, args ...string) string {
	t.Helper()
	out, err := c.run(t, dir, rc, cache, args...)
	if err != nil {
		t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fails runs npm, expects it to fail saying want (a code such as "code
// E401", or a message) and returns its output.
func (c *npmClient) fails(t *testing.T, code, dir, rc, cache string, args ...string) string {
	t.Helper()
	out, err := c.run(t, dir, rc, cache, args...)
	if err == nil || !strings.Contains(out, code) {
		t.Fatalf("npm %s: want %s, got err=%v\n%s", strings.Join(args, " "), code, err, out)
	}
	return out
}

// npmrc writes a user config pointing npm at the server's /npm/, with a
// token when one is given, and returns its path.
func npmrc(t *testing.T, s *testkit.Server, token string) string {
	t.Helper()
	host := strings.TrimPrefix(s.URL, "http://")
	rc := "registry=" + s.URL + "/npm/\n"
	if token != "" {
		rc += "//" + host + "/npm/:_authToken=" + token + "\n"
	}
	p := filepath.Join(t.TempDir(), "npmrc")
	if err := os.WriteFile(p, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// project writes a package directory with a package.json.
func project(t *testing.T, pkg map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	b, _ := json.MarshalIndent(pkg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "package.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte("module.exports = "+fmt.Sprintf("%q", pkg["name"])+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// installed reads the version of a package installed in dir.
func installed(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
	if err != nil {
		t.Fatalf("%s is not installed: %v", name, err)
	}
	var pj struct{ Version string }
	json.Unmarshal(b, &pj)
	return pj.Version
}

// hostedEnv is a server with organization "acme", its owner "dev", and
// dev's session (for the management API) and tokens: full and read-only.
type hostedEnv struct {
	s                        *testkit.Server
	admin, owner, full, read string
}

func newHostedEnv(t *testing.T, env ...string) hostedEnv {
	t.Helper()
	s := testkit.Start(t, env...)
	admin := s.AdminToken(t)
	org := s.CreateOrg(t, admin, "acme")
	dev := s.CreateUser(t, admin, "dev", "dev-password-1234")
	s.AddMember(t, admin, org, dev, "owner")
	bearer := s.Login(t, "dev", "dev-password-1234")
	return hostedEnv{
		s:     s,
		admin: admin,
		owner: bearer,
		full:  s.Token(t, bearer, []string{"npm"}, nil, nil),
		read:  s.Token(t, bearer, []string{"npm"}, []string{"read"}, nil),
	}
}

func TestE2EHostedLifecycle(t *testing.T) {
	npm := newNPM(t)
	e := newHostedEnv(t)
	rc := npmrc(t, e.s, e.full)
	cache := t.TempDir()

	scoped := project(t, map[string]any{"name": "@acme/hello", "version": "1.0.0", "description": "hello <world>", "keywords": []string{"greeting"}})
	out := npm.must(t, scoped, rc, cache, "publish")
	if !strings.Contains(out, "+ @acme/hello@1.0.0") {
		t.Fatalf("publish output:\n%s", out)
	}
	unscoped := project(t, map[string]any{"name": "acme-tool", "version": "0.1.0"})
	npm.must(t, unscoped, rc, cache, "publish")

	t.Run("republish refused", func(t *testing.T) {
		// npm checks the packument first and refuses by itself...
		npm.fails(t, "You cannot publish over the previously published versions: 1.0.0.", scoped, rc, cache, "publish")
		// ...and the registry refuses the same way when asked anyway.
		b := tgz(t, "@acme/hello", "1.0.0", 'z')
		st, body := do(t, "PUT", e.s.URL+"/npm/@acme%2fhello", e.full, publishBody("@acme/hello", "1.0.0", b, integrity(b)))
		if st != http.StatusForbidden || !strings.Contains(string(body), `"You cannot publish over the previously published versions: 1.0.0."`) {
			t.Fatalf("republish: %d %s", st, body)
		}
	})

	t.Run("install into a fresh project", func(t *testing.T) {
		dir := project(t, map[string]any{"name": "consumer", "version": "1.0.0"})
		npm.must(t, dir, rc, t.TempDir(), "install", "@acme/hello", "acme-tool")
		if v := installed(t, dir, "@acme/hello"); v != "1.0.0" {
			t.Fatalf("@acme/hello %s installed", v)
		}
		if v := installed(t, dir, "acme-tool"); v != "0.1.0" {
			t.Fatalf("acme-tool %s installed", v)
		}
	})

	t.Run("view, whoami, search", func(t *testing.T) {
		out := npm.must(t, scoped, rc, t.TempDir(), "view", "@acme/hello", "description")
		if strings.TrimSpace(lastLine(out)) != "hello <world>" {
			t.Fatalf("npm view:\n%s", out)
		}
		if out := npm.must(t, scoped, rc, cache, "whoami"); lastLine(out) != "dev" {
			t.Fatalf("whoami:\n%s", out)
		}
		if out := npm.must(t, scoped, rc, t.TempDir(), "search", "greeting", "--json"); !strings.Contains(out, `"@acme/hello"`) || strings.Contains(out, "acme-tool") {
			t.Fatalf("search:\n%s", out)
		}
	})

	t.Run("dist-tags", func(t *testing.T) {
		writeVersion(t, scoped, "1.1.0-beta.1")
		npm.must(t, scoped, rc, cache, "publish", "--tag", "beta")
		npm.must(t, scoped, rc, cache, "dist-tag", "add", "@acme/hello@1.0.0", "stable")
		out := npm.must(t, scoped, rc, t.TempDir(), "dist-tag", "ls", "@acme/hello")
		for _, want := range []string{"beta: 1.1.0-beta.1", "latest: 1.0.0", "stable: 1.0.0"} {
			if !strings.Contains(out, want) {
				t.Fatalf("dist-tag ls lacks %q:\n%s", want, out)
			}
		}
		npm.must(t, scoped, rc, cache, "dist-tag", "rm", "@acme/hello", "stable")
		if out := npm.must(t, scoped, rc, t.TempDir(), "dist-tag", "ls", "@acme/hello"); strings.Contains(out, "stable") {
			t.Fatalf("stable survived rm:\n%s", out)
		}
	})

	t.Run("deprecate", func(t *testing.T) {
		npm.must(t, scoped, rc, cache, "deprecate", "@acme/hello@1.0.0", "use 2 instead")
		if out := npm.must(t, scoped, rc, t.TempDir(), "view", "@acme/hello@1.0.0", "deprecated"); lastLine(out) != "use 2 instead" {
			t.Fatalf("deprecated:\n%s", out)
		}
		dir := project(t, map[string]any{"name": "consumer", "version": "1.0.0"})
		if out := npm.must(t, dir, rc, t.TempDir(), "install", "@acme/hello@1.0.0"); !strings.Contains(out, "use 2 instead") {
			t.Fatalf("install does not warn:\n%s", out)
		}
		npm.must(t, scoped, rc, cache, "deprecate", "@acme/hello@1.0.0", "")
		if out := npm.must(t, scoped, rc, t.TempDir(), "view", "@acme/hello@1.0.0", "deprecated"); strings.Contains(out, "use 2") {
			t.Fatalf("still deprecated:\n%s", out)
		}
	})

	t.Run("unpublish a version, then the package", func(t *testing.T) {
		npm.must(t, scoped, rc, cache, "unpublish", "@acme/hello@1.1.0-beta.1")
		out := npm.must(t, scoped, rc, t.TempDir(), "view", "@acme/hello", "versions", "--json")
		if strings.Contains(out, "1.1.0-beta.1") || !strings.Contains(out, "1.0.0") {
			t.Fatalf("versions after unpublish:\n%s", out)
		}
		// An unpublished version can never come back.
		b := tgz(t, "@acme/hello", "1.1.0-beta.1")
		st, body := do(t, "PUT", e.s.URL+"/npm/@acme%2fhello", e.full, publishBody("@acme/hello", "1.1.0-beta.1", b, integrity(b)))
		if st != http.StatusForbidden {
			t.Fatalf("republish of an unpublished version: %d %s", st, body)
		}

		npm.must(t, scoped, rc, cache, "unpublish", "@acme/hello", "--force")
		npm.fails(t, "code E404", scoped, rc, t.TempDir(), "view", "@acme/hello")
	})

	t.Run("E401 without a token", func(t *testing.T) {
		dir := project(t, map[string]any{"name": "consumer", "version": "1.0.0"})
		npm.fails(t, "code E401", dir, npmrc(t, e.s, ""), t.TempDir(), "install", "acme-tool")
		writeVersion(t, unscoped, "0.2.0")
		npm.fails(t, "code E401", unscoped, npmrc(t, e.s, "srg_not-a-real-token"), t.TempDir(), "publish")
	})

	t.Run("E403 with a read-only token", func(t *testing.T) {
		ro := npmrc(t, e.s, e.read)
		writeVersion(t, unscoped, "0.3.0")
		npm.fails(t, "code E403", unscoped, ro, t.TempDir(), "publish")
		// Reading works with it.
		dir := project(t, map[string]any{"name": "consumer", "version": "1.0.0"})
		npm.must(t, dir, ro, t.TempDir(), "install", "acme-tool@0.1.0")
	})

	t.Run("legacy login answers a token", func(t *testing.T) {
		// What `npm login --auth-type=legacy` sends once it has prompted.
		body := `{"_id":"org.couchdb.user:dev","name":"dev","password":"dev-password-1234","type":"user","roles":[],"date":"2026-01-01T00:00:00.000Z"}`
		st, raw := do(t, "PUT", e.s.URL+"/npm/-/user/org.couchdb.user:dev", "", []byte(body))
		var got struct {
			OK    bool
			Token string
		}
		json.Unmarshal(raw, &got)
		if st != http.StatusCreated || !got.OK || !strings.HasPrefix(got.Token, "srg_") {
			t.Fatalf("login: %d %s", st, raw)
		}
		if out := npm.must(t, scoped, npmrc(t, e.s, got.Token), t.TempDir(), "whoami"); lastLine(out) != "dev" {
			t.Fatalf("whoami with the login token:\n%s", out)
		}
		bad := strings.Replace(body, "dev-password-1234", "wrong-password", 1)
		if st, raw := do(t, "PUT", e.s.URL+"/npm/-/user/org.couchdb.user:dev", "", []byte(bad)); st != http.StatusUnauthorized {
			t.Fatalf("bad password: %d %s", st, raw)
		}
	})
}

// writeVersion sets the version in dir's package.json.
func writeVersion(t *testing.T, dir, version string) {
	t.Helper()
	p := filepath.Join(dir, "package.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var pj map[string]any
	json.Unmarshal(b, &pj)
	pj["version"] = version
	b, _ = json.MarshalIndent(pj, "", "  ")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lastLine is the last non-empty line of npm's output that is not a log
// line.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "npm ") {
			return l
		}
	}
	return ""
}

// do sends one request and returns the status and body.
func do(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/"
}

func TestE2EMirrorOffline(t *testing.T) {
	npm := newNPM(t)
	cmd := exec.Command(npm.bin, "config", "get", "registry")
	upstreamURL, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(upstreamURL), "http") {
		t.Fatalf("npm config get registry: %v %q", err, upstreamURL)
	}
	s := testkit.Start(t, "UPSTREAM_NPM="+strings.TrimSpace(string(upstreamURL)))
	pinned := map[string]any{"name": "mirror-consumer", "version": "1.0.0", "dependencies": map[string]string{"express": "4.21.2"}}

	first := project(t, pinned)
	npm.must(t, first, npmrc(t, s, ""), t.TempDir(), "install")
	if v := installed(t, first, "express"); v != "4.21.2" {
		t.Fatalf("express %s installed", v)
	}
	lock, _ := os.ReadFile(filepath.Join(first, "package-lock.json"))
	if !strings.Contains(string(lock), s.URL+"/npm/express/-/express-4.21.2.tgz") || strings.Contains(string(lock), strings.TrimSpace(string(upstreamURL))) {
		t.Fatalf("the lockfile resolves elsewhere than the edge:\n%.2000s", lock)
	}

	// The upstream goes away, and every cached packument is due for
	// revalidation: the install must come from Entrepot's cache alone.
	firstURL := s.URL
	s.Env = append(s.Env, "UPSTREAM_NPM="+closedPort(t), "ENABLE_UPSTREAM_CACHE=false")
	s.Restart()
	second := project(t, pinned)
	npm.must(t, second, npmrc(t, s, ""), t.TempDir(), "install")
	if v := installed(t, second, "express"); v != "4.21.2" {
		t.Fatalf("express %s installed offline", v)
	}
	// npm ci from the first lockfile (rewritten to the new port) asks for
	// tarballs with no packument request first.
	third := project(t, pinned)
	relocked := strings.ReplaceAll(string(lock), firstURL+"/npm/", s.URL+"/npm/")
	if err := os.WriteFile(filepath.Join(third, "package-lock.json"), []byte(relocked), 0o644); err != nil {
		t.Fatal(err)
	}
	npm.must(t, third, npmrc(t, s, ""), t.TempDir(), "ci")

	// A package never cached is a clear 502, not a hang.
	st, body := do(t, "GET", s.URL+"/npm/left-pad", "", nil)
	if st != http.StatusBadGateway && st != http.StatusGatewayTimeout || !strings.Contains(string(body), `"error"`) {
		t.Fatalf("fresh miss with the upstream down: %d %s", st, body)
	}
}

// tgz builds an npm tarball holding package/package.json.
func tgz(t *testing.T, name, version string, extra ...byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	pj, _ := json.Marshal(map[string]string{"name": name, "version": version})
	for _, f := range []struct {
		name string
		data []byte
	}{{"package/package.json", pj}, {"package/index.js", append([]byte("module.exports = 1\n//"), extra...)}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
		tw.Write(f.data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func integrity(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

func shasum(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// servePackage registers a package on a fake upstream: its packument at
// /<name> and each version's tarball; it returns the tarballs by version.
func servePackage(t *testing.T, u *testkit.Upstream, name string, versions ...string) map[string][]byte {
	t.Helper()
	base := name[strings.LastIndex(name, "/")+1:]
	vs := map[string]any{}
	tarballs := map[string][]byte{}
	for _, v := range versions {
		b := tgz(t, name, v, []byte(name+v)...)
		tarballs[v] = b
		path := "/" + name + "/-/" + base + "-" + v + ".tgz"
		u.Handle(path, b)
		vs[v] = map[string]any{"name": name, "version": v, "dist": map[string]string{
			"tarball": u.URL + path, "integrity": integrity(b), "shasum": shasum(b),
		}}
	}
	doc, _ := json.Marshal(map[string]any{"name": name, "dist-tags": map[string]string{"latest": versions[len(versions)-1]}, "versions": vs})
	u.Handle("/"+name, doc, func(r *testkit.Route) { r.ContentType = "application/json"; r.ETag = `"` + shasum(doc) + `"` })
	return tarballs
}

// hitsUnder counts upstream requests for name's packument and tarballs.
func hitsUnder(u *testkit.Upstream, name string, versions ...string) int {
	base := name[strings.LastIndex(name, "/")+1:]
	n := u.Hits("/" + name)
	for _, v := range versions {
		n += u.Hits("/" + name + "/-/" + base + "-" + v + ".tgz")
	}
	return n
}

func TestE2EDependencyConfusion(t *testing.T) {
	npm := newNPM(t)
	up := testkit.NewUpstream(t)
	servePackage(t, up, "@acme/hello", "1.0.0", "9.9.9")
	servePackage(t, up, "@acme/unreleased", "9.9.9")
	servePackage(t, up, "public-dep", "2.0.0")
	e := newHostedEnv(t, "UPSTREAM_NPM="+up.URL+"/")
	rc := npmrc(t, e.s, e.full)

	npm.must(t, project(t, map[string]any{"name": "@acme/hello", "version": "1.0.0"}), rc, t.TempDir(), "publish")
	// An unscoped name is claimed through the management API before its
	// first publish, so that not even the packument npm publish asks for
	// first goes upstream; the upstream then serves a higher version of it.
	var claim struct{ Namespace, OrgID string }
	if st, raw := e.s.API("POST", "/organizations/acme/claims", e.admin, map[string]string{"protocol": "npm", "namespace": "acme-tool"}, &claim); st != http.StatusCreated || claim.Namespace != "acme-tool" {
		t.Fatalf("claim acme-tool: %d %s", st, raw)
	}
	servePackage(t, up, "acme-tool", "9.9.9")
	npm.must(t, project(t, map[string]any{"name": "acme-tool", "version": "1.0.0"}), rc, t.TempDir(), "publish")

	dir := project(t, map[string]any{"name": "consumer", "version": "1.0.0"})
	npm.must(t, dir, rc, t.TempDir(), "install", "@acme/hello", "acme-tool", "public-dep")
	for name, want := range map[string]string{"@acme/hello": "1.0.0", "acme-tool": "1.0.0", "public-dep": "2.0.0"} {
		if v := installed(t, dir, name); v != want {
			t.Fatalf("%s %s installed, want %s", name, v, want)
		}
	}
	// A version only the upstream has, and a package of the scope nobody
	// published yet, are 404s: never the upstream's.
	npm.fails(t, "code ETARGET", dir, rc, t.TempDir(), "install", "@acme/hello@9.9.9")
	npm.fails(t, "code ETARGET", dir, rc, t.TempDir(), "install", "acme-tool@9.9.9")
	npm.fails(t, "code E404", dir, rc, t.TempDir(), "install", "@acme/unreleased")
	st, _ := do(t, "GET", e.s.URL+"/npm/@acme/hello/-/hello-9.9.9.tgz", e.full, nil)
	if st != http.StatusNotFound {
		t.Fatalf("upstream-only tarball of a claimed name: %d", st)
	}
	for _, name := range []string{"@acme/hello", "@acme/unreleased"} {
		if n := hitsUnder(up, name, "1.0.0", "9.9.9"); n != 0 {
			t.Errorf("the upstream saw %d requests for claimed %s", n, name)
		}
	}
	if n := hitsUnder(up, "acme-tool", "1.0.0", "9.9.9"); n != 0 {
		t.Errorf("the upstream saw %d requests for claimed acme-tool", n)
	}
	if up.Hits("/public-dep") == 0 {
		t.Error("the unclaimed dependency did not come from the upstream")
	}
}

func TestE2EStampede(t *testing.T) {
	up := testkit.NewUpstream(t)
	tarballs := servePackage(t, up, "stampede", "1.0.0")
	path := "/stampede/-/stampede-1.0.0.tgz"
	// Slow enough that all requests arrive while the fill runs.
	up.Handle(path, tarballs["1.0.0"], func(r *testkit.Route) { r.Delay = 500e6 })
	s := testkit.Start(t, "UPSTREAM_NPM="+up.URL+"/")

	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	bodies := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := client.Get(s.URL + "/npm" + path)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			bodies[i], errs[i] = io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				errs[i] = fmt.Errorf("status %d: %s", resp.StatusCode, bodies[i])
			}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if !bytes.Equal(bodies[i], tarballs["1.0.0"]) {
			t.Fatalf("request %d got %d different bytes", i, len(bodies[i]))
		}
	}
	if h := up.Hits(path); h != 1 {
		t.Fatalf("%d upstream requests for the tarball, want 1", h)
	}
	if h := up.Hits("/stampede"); h != 1 {
		t.Fatalf("%d upstream requests for the packument, want 1", h)
	}
}

func TestE2EUpstreamFaults(t *testing.T) {
	up := testkit.NewUpstream(t)
	// Metadata is revalidated on every request, so that each fault below
	// meets a stale copy.
	s := testkit.Start(t, "UPSTREAM_NPM="+up.URL+"/", "ENABLE_UPSTREAM_CACHE=false")

	t.Run("tarballs", func(t *testing.T) {
		faults := []struct {
			name  string
			route func(*testkit.Route)
		}{
			{"status 500", func(r *testkit.Route) { r.Status = 500 }},
			{"reset", func(r *testkit.Route) { r.Reset = true }},
			{"truncated", func(r *testkit.Route) { r.Truncate = 20 }},
			{"wrong bytes", func(r *testkit.Route) { r.Corrupt = true }},
			{"delay", func(r *testkit.Route) { r.Delay = 300e6 }},
		}
		for i, f := range faults {
			t.Run(f.name, func(t *testing.T) {
				name := fmt.Sprintf("faulty-%d", i)
				good := servePackage(t, up, name, "1.0.0")["1.0.0"]
				path := "/" + name + "/-/" + name + "-1.0.0.tgz"
				up.Handle(path, good, f.route)
				st, body := do(t, "GET", s.URL+"/npm"+path, "", nil)
				if f.name == "delay" {
					if st != http.StatusOK || !bytes.Equal(body, good) {
						t.Fatalf("slow upstream: %d, %d bytes", st, len(body))
					}
					return
				}
				if st != http.StatusBadGateway || !strings.Contains(string(body), `"error"`) {
					t.Fatalf("faulty upstream: %d %s", st, body)
				}
				// Nothing was cached: once the upstream heals, the right
				// bytes come, from a new upstream request.
				before := up.Hits(path)
				up.Handle(path, good)
				st, body = do(t, "GET", s.URL+"/npm"+path, "", nil)
				if st != http.StatusOK || !bytes.Equal(body, good) || up.Hits(path) != before+1 {
					t.Fatalf("after healing: %d, %d bytes, hits %d→%d", st, len(body), before, up.Hits(path))
				}
			})
		}
	})

	t.Run("stale packuments", func(t *testing.T) {
		servePackage(t, up, "stale-pkg", "1.0.0")
		st, fresh := do(t, "GET", s.URL+"/npm/stale-pkg", "", nil)
		if st != http.StatusOK {
			t.Fatalf("first fill: %d %s", st, fresh)
		}
		faults := []struct {
			name  string
			route testkit.Route
		}{
			{"status 500", testkit.Route{Status: 500}},
			{"reset", testkit.Route{Reset: true}},
			{"truncated", testkit.Route{Body: []byte(`{"name":"stale-pkg","versions":{}}`), Truncate: 10}},
			{"not json", testkit.Route{Body: []byte(`{"name": garbage`)}},
		}
		for _, f := range faults {
			t.Run(f.name, func(t *testing.T) {
				up.Set("/stale-pkg", f.route)
				st, body := do(t, "GET", s.URL+"/npm/stale-pkg", "", nil)
				if st != http.StatusOK || !bytes.Equal(body, fresh) {
					t.Fatalf("stale copy not served: %d %s", st, body)
				}
			})
		}
		up.Down()
		defer up.Up()
		if st, body := do(t, "GET", s.URL+"/npm/stale-pkg", "", nil); st != http.StatusOK || !bytes.Equal(body, fresh) {
			t.Fatalf("upstream down: %d %s", st, body)
		}
		if st, body := do(t, "GET", s.URL+"/npm/never-cached", "", nil); st != http.StatusBadGateway {
			t.Fatalf("fresh miss, upstream down: %d %s", st, body)
		}
	})
}

// publishBody builds the document npm publish sends.
func publishBody(name, version string, tarball []byte, integrity string) []byte {
	base := name[strings.LastIndex(name, "/")+1:]
	doc := map[string]any{
		"_id": name, "name": name, "dist-tags": map[string]string{"latest": version},
		"versions": map[string]any{version: map[string]any{
			"name": name, "version": version,
			"dist": map[string]string{"integrity": integrity, "shasum": shasum(tarball), "tarball": "http://x/" + base + "-" + version + ".tgz"},
		}},
		"_attachments": map[string]any{name + "-" + version + ".tgz": map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tarball), "length": len(tarball),
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}

// blobCount counts committed blobs under the server's data directory.
func blobCount(t *testing.T, s *testkit.Server) int {
	n := 0
	filepath.WalkDir(filepath.Join(s.DataDir, "blobs", "sha256"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestE2EBadInput(t *testing.T) {
	e := newHostedEnv(t, "MAX_UPLOAD_SIZE=1")
	good := tgz(t, "@acme/bad", "1.0.0")
	other := tgz(t, "@acme/bad", "1.0.0", 'x')
	// Just over the limit: a body far over it is refused before it is
	// read, and the client may see the connection close first.
	big := bytes.Repeat([]byte("A"), 1<<20+1<<10)
	blobs := blobCount(t, e.s)
	tests := []struct {
		name   string
		path   string
		body   []byte
		status int
	}{
		{"malformed JSON", "/npm/@acme%2fbad", []byte(`{"name":"@acme/bad",`), 400},
		{"wrong attachment digest", "/npm/@acme%2fbad", publishBody("@acme/bad", "1.0.0", good, integrity(other)), 400},
		{"tarball of another version", "/npm/@acme%2fbad", publishBody("@acme/bad", "2.0.0", good, integrity(good)), 400},
		{"not base64", "/npm/@acme%2fbad", bytes.Replace(publishBody("@acme/bad", "1.0.0", good, integrity(good)), []byte(`"data":"`), []byte(`"data":"!!`), 1), 400},
		{"name mismatch", "/npm/@acme%2fother", publishBody("@acme/bad", "1.0.0", good, integrity(good)), 400},
		{"oversize body", "/npm/@acme%2fbad", big, 413},
		{"uppercase name", "/npm/Acme-Bad", publishBody("Acme-Bad", "1.0.0", good, integrity(good)), 400},
		{"dot dot", "/npm/%2e%2e", publishBody("..", "1.0.0", good, integrity(good)), 400},
		{"NUL", "/npm/a%00b", publishBody("a\x00b", "1.0.0", good, integrity(good)), 400},
		{"over-long name", "/npm/" + strings.Repeat("a", 215), publishBody(strings.Repeat("a", 215), "1.0.0", good, integrity(good)), 400},
		{"invalid version", "/npm/@acme%2fbad", publishBody("@acme/bad", "1.0", good, integrity(good)), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, body := do(t, "PUT", e.s.URL+tc.path, e.full, tc.body)
			var msg struct{ Error string }
			if st != tc.status || json.Unmarshal(body, &msg) != nil || msg.Error == "" {
				t.Fatalf("%d %s, want %d with an npm error", st, body, tc.status)
			}
		})
	}
	if st, _ := do(t, "GET", e.s.URL+"/npm/@acme%2fbad", e.full, nil); st != http.StatusNotFound {
		t.Fatalf("something was published: %d", st)
	}
	if n := blobCount(t, e.s); n != blobs {
		t.Fatalf("%d blobs stored by refused publishes", n-blobs)
	}
	// The good one still goes through.
	if st, body := do(t, "PUT", e.s.URL+"/npm/@acme%2fbad", e.full, publishBody("@acme/bad", "1.0.0", good, integrity(good))); st != 200 {
		t.Fatalf("good publish: %d %s", st, body)
	}
}
