package composer_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// These tests drive Debian's composer (2.5) against the real binary.

func requireComposer(t *testing.T) string {
	t.Helper()
	testkit.RequireTool(t, "php")
	testkit.RequireTool(t, "unzip")
	return testkit.RequireTool(t, "composer")
}

// project is a fresh Composer project with its own COMPOSER_HOME and
// cache, using only the edge's repository (no packagist.org).
type project struct {
	dir, home, cache string
	auth             string // COMPOSER_AUTH, "" for none
}

func newProject(t *testing.T, repoURL, auth string, require map[string]string) *project {
	t.Helper()
	p := &project{dir: t.TempDir(), home: t.TempDir(), cache: t.TempDir(), auth: auth}
	doc := map[string]any{
		"name":         "test/project",
		"repositories": []any{map[string]any{"packagist.org": false}, map[string]any{"type": "composer", "url": repoURL}},
		"config":       map[string]any{"secure-http": false},
	}
	if require != nil {
		doc["require"] = require
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(filepath.Join(p.dir, "composer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// env is the environment composer runs with in the project.
func (p *project) env() []string {
	return testkit.Env(nil, "COMPOSER_HOME="+p.home, "COMPOSER_CACHE_DIR="+p.cache,
		"COMPOSER_ALLOW_SUPERUSER=1", "COMPOSER_NO_INTERACTION=1", "COMPOSER_DISABLE_XDEBUG_WARN=1",
		"COMPOSER_AUTH="+p.auth)
}

// args adds the options every run takes.
func (p *project) args(args []string) []string {
	args = append(args, "--no-interaction")
	if args[0] != "search" {
		args = append(args, "--no-progress")
	}
	return args
}

func (p *project) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return testkit.Run(t, p.dir, p.env(), "composer", p.args(args)...)
}

func (p *project) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	return testkit.MustRun(t, p.dir, p.env(), "composer", p.args(args)...)
}

// installed returns name → version from vendor/composer/installed.json.
func (p *project) installed(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, "vendor/composer/installed.json"))
	if err != nil {
		return map[string]string{}
	}
	var doc struct {
		Packages []struct{ Name, Version string }
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, pk := range doc.Packages {
		out[pk.Name] = pk.Version
	}
	return out
}

// libZip is acme/lib at some version: a class saying which version it is.
func libZip(t *testing.T, name, say string) []byte {
	return testkit.Zip(t, map[string]string{
		"composer.json": `{"name":"` + name + `","description":"A test library","type":"library","license":"MIT","autoload":{"psr-4":{"Acme\\Lib\\":"src/"}},"require":{"php":">=7.0"}}`,
		"src/Hello.php": "<?php\nnamespace Acme\\Lib;\nclass Hello { public static function say() { return '" + say + "'; } }\n",
	})
}

// put publishes an archive; it returns the status and body.
func put(t *testing.T, s *testkit.Server, token, path string, body []byte) (int, string) {
	t.Helper()
	resp, b := testkit.Request(t, "PUT", s.URL+"/composer/packages/"+path, body, "Authorization", bearerOf(token))
	return resp.StatusCode, string(b)
}

// bearerOf is the Authorization of token, "" for none.
func bearerOf(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

// putEarly is put for a body the server refuses before reading it: the
// answer is read whatever happens to the rest of the body (a client
// library gives up on the write error instead).
func putEarly(t *testing.T, s *testkit.Server, token, path string, body []byte) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /composer/packages/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, s.Host(), token, len(body))
	go c.Write(body) // may fail once the server has answered
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return testkit.Request(t, "GET", url, nil, append([]string{"Authorization", bearerOf(token)}, header...)...)
}

// TestHosted publishes two versions of a private package, installs the
// first with composer require, the second with composer update, and
// checks that without credentials the package cannot be installed.
func TestHosted(t *testing.T) {
	requireComposer(t)
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	token := s.Token(t, admin, []string{"composer"}, []string{"read", "write"}, nil)
	repo := s.URL + "/composer"

	if st, b := put(t, s, token, "acme/lib?version=1.0.0", libZip(t, "acme/lib", "one")); st != 201 {
		t.Fatalf("publish 1.0.0: %d %s", st, b)
	}
	bearer := fmt.Sprintf(`{"bearer":{%q:%q}}`, s.Host(), token)
	p := newProject(t, repo, bearer, nil)
	p.mustRun(t, "require", "acme/lib:^1.0")
	if v := p.installed(t)["acme/lib"]; v != "1.0.0" {
		t.Fatalf("installed acme/lib %q, want 1.0.0", v)
	}

	// The second version carries its version in composer.json instead.
	v11 := testkit.Zip(t, map[string]string{
		"lib/composer.json": `{"name":"acme/lib","version":"1.1","type":"library","autoload":{"psr-4":{"Acme\\Lib\\":"src/"}}}`,
		"lib/src/Hello.php": "<?php\nnamespace Acme\\Lib;\nclass Hello { public static function say() { return 'one-one'; } }\n",
	})
	if st, b := put(t, s, token, "acme/lib", v11); st != 201 || !strings.Contains(b, `"version_normalized":"1.1.0.0"`) {
		t.Fatalf("publish 1.1: %d %s", st, b)
	}
	// composer update revalidates its cached p2 file (If-Modified-Since)
	// and must see the new version, published within the same second.
	p.auth = fmt.Sprintf(`{"http-basic":{%q:{"username":"admin","password":%q}}}`, s.Host(), token)
	p.mustRun(t, "update")
	if v := p.installed(t)["acme/lib"]; v != "1.1" {
		t.Fatalf("after update acme/lib is %q, want 1.1", v)
	}
	php := exec.Command("php", "-r", `require "vendor/autoload.php"; echo Acme\Lib\Hello::say();`)
	php.Dir = p.dir
	if out, err := php.CombinedOutput(); err != nil || string(out) != "one-one" {
		t.Fatalf("installed code says %q (%v)", out, err)
	}

	// Conditional requests: the same Last-Modified gets a 304.
	resp, _ := get(t, repo+"/p2/acme/lib.json", token)
	lm := resp.Header.Get("Last-Modified")
	if resp.StatusCode != 200 || lm == "" {
		t.Fatalf("p2: %d, Last-Modified %q", resp.StatusCode, lm)
	}
	if resp, _ := get(t, repo+"/p2/acme/lib.json", token, "If-Modified-Since", lm); resp.StatusCode != 304 {
		t.Fatalf("p2 with If-Modified-Since: %d, want 304", resp.StatusCode)
	}
	// Unknown packages: a fast 404, no redirect.
	if resp, _ := get(t, repo+"/p2/acme/nope.json", token); resp.StatusCode != 404 {
		t.Fatalf("unknown package: %d", resp.StatusCode)
	}
	// composer search sees it with credentials.
	if out := p.mustRun(t, "search", "lib"); !strings.Contains(out, "acme/lib") {
		t.Fatalf("composer search: %s", out)
	}

	// Without credentials the private package is not there to install.
	anon := newProject(t, repo, "", nil)
	out, err := anon.run(t, "require", "acme/lib:^1.0")
	if err == nil || anon.installed(t)["acme/lib"] != "" {
		t.Fatalf("anonymous require succeeded:\n%s", out)
	}
	if resp, b := get(t, repo+"/packages.json", ""); !strings.Contains(string(b), `"available-packages":[]`) {
		t.Fatalf("anonymous packages.json lists packages: %d %s", resp.StatusCode, b)
	}
	if resp, _ := get(t, repo+"/p2/acme/lib.json", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous p2: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// TestBadUploads checks that every refused upload says why and leaves
// nothing behind.
func TestBadUploads(t *testing.T) {
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=1")
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	token := s.Token(t, admin, []string{"composer"}, []string{"read", "write"}, nil)
	if st, b := put(t, s, token, "acme/lib?version=1.0.0", libZip(t, "acme/lib", "one")); st != 201 {
		t.Fatalf("publish: %d %s", st, b)
	}
	// The multipart form (browser uploads): a "version" field and a
	// "package" file.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("version", "2.0.0-RC1")
	fw, _ := mw.CreateFormFile("package", "form.zip")
	fw.Write(libZip(t, "acme/form", "form"))
	mw.Close()
	req, _ := http.NewRequest("POST", s.URL+"/composer/packages/acme/form", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		t.Fatalf("multipart publish: %v %v", resp, err)
	}
	if _, b := get(t, s.URL+"/composer/p2/acme/form.json", token); !strings.Contains(string(b), `"version_normalized":"2.0.0.0-RC1"`) {
		t.Fatalf("multipart publish not listed: %s", b)
	}
	blobsBefore := testkit.CountFiles(filepath.Join(s.DataDir, "blobs"))

	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for _, c := range []struct {
		name, path, token string
		body              []byte
		status            int
		says              string
	}{
		{"invalid composer.json", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name": "acme/bad",`}), 400, "not a valid JSON object"},
		{"composer.json not an object", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `["acme/bad"]`}), 400, "not a valid JSON object"},
		{"wrong field type", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/bad","require":["php"]}`}), 400, `"require" must be`},
		{"no composer.json", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"a/README": "x", "b/README": "y"}), 400, "no composer.json"},
		{"name mismatch", "acme/bad?version=1.0.0", token, libZip(t, "acme/other", "x"), 400, `names the package "acme/other"`},
		{"invalid version", "acme/bad?version=1.0.0-1", token, libZip(t, "acme/bad", "x"), 400, "invalid version"},
		{"version with alias", "acme/bad?version=1.0%20as%202.0", token, libZip(t, "acme/bad", "x"), 400, "invalid version"},
		{"no version", "acme/bad", token, libZip(t, "acme/bad", "x"), 400, "no version"},
		{"versions disagree", "acme/bad?version=2.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/bad","version":"1.0"}`}), 400, "composer.json says 1.0"},
		{"path traversal", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/bad"}`, "../../evil.php": "x"}), 400, "climbs out"},
		{"nested traversal", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/bad"}`, "src/../../evil.php": "x"}), 400, "climbs out"},
		{"absolute path", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/bad"}`, "/etc/evil": "x"}), 400, "absolute path"},
		{"windows path", "acme/bad?version=1.0.0", token, testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/bad"}`, `..\evil`: "x"}), 400, "backslash"},
		{"not a zip", "acme/bad?version=1.0.0", token, []byte("hello, not a zip"), 400, "not a zip"},
		{"oversize", "acme/bad?version=1.0.0", token, big, 413, "over the limit"},
		{"re-upload", "acme/lib?version=1.0", token, libZip(t, "acme/lib", "changed"), 409, "exists already"},
		{"anonymous", "acme/bad?version=1.0.0", "", libZip(t, "acme/bad", "x"), 401, "authentication required"},
		{"vendor without organization", "nobody/bad?version=1.0.0", token, libZip(t, "nobody/bad", "x"), 404, `no organization is named "nobody"`},
		{"invalid name", "acme/Bad..x?version=1.0.0", token, libZip(t, "acme/bad", "x"), 400, "invalid package name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			put := put
			if len(c.body) > 1<<20 {
				put = putEarly
			}
			st, b := put(t, s, c.token, c.path, c.body)
			var e struct{ Status, Message string }
			json.Unmarshal([]byte(b), &e)
			if st != c.status || e.Status != "error" || !strings.Contains(e.Message, c.says) {
				t.Fatalf("%d %s, want %d saying %q", st, b, c.status, c.says)
			}
		})
	}

	// Nothing was stored: no package, no new blob, no spooled file.
	if resp, b := get(t, s.URL+"/composer/p2/acme/bad.json", token); resp.StatusCode != 404 {
		t.Fatalf("acme/bad exists: %d %s", resp.StatusCode, b)
	}
	_, b := get(t, s.URL+"/composer/p2/acme/lib.json", token)
	if strings.Count(string(b), `"version_normalized"`) != 1 || strings.Contains(string(b), "changed") {
		t.Fatalf("acme/lib changed: %s", b)
	}
	if n := testkit.CountFiles(filepath.Join(s.DataDir, "blobs")); n != blobsBefore {
		t.Fatalf("%d blob files after the refused uploads, %d before", n, blobsBefore)
	}
	if n := testkit.CountFiles(filepath.Join(s.DataDir, "spool", "composer")); n != 0 {
		t.Fatalf("%d files left in the spool", n)
	}
}

// staticRepo writes a Packagist-style repository (packages.json, minified
// p2 files, dist zips) for small real packages, from the PHP sources
// Debian ships (psr/log, psr/container), with dist URLs on baseURL.
func staticRepo(t *testing.T, dir, baseURL string) {
	t.Helper()
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree := func(src, prefix string) map[string]string {
		files := map[string]string{}
		filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(src, p)
			files[prefix+filepath.ToSlash(rel)] = string(b)
			return nil
		})
		if len(files) == 0 {
			t.Skipf("%s is missing (Debian's php-psr-* packages)", src)
		}
		return files
	}
	type release struct{ name, version, manifest, src, prefix string }
	releases := []release{
		{"psr/log", "1.1.4", `{"name":"psr/log","description":"Common interface for logging libraries","license":"MIT","autoload":{"psr-4":{"Psr\\Log\\":"Psr/Log/"}},"require":{"php":">=5.3.0"}}`, "/usr/share/php/Psr/Log", "Psr/Log/"},
		{"psr/log", "1.1.3", `{"name":"psr/log","description":"Common interface for logging libraries","license":"MIT","autoload":{"psr-4":{"Psr\\Log\\":"Psr/Log/"}},"require":{"php":">=5.3.0"}}`, "/usr/share/php/Psr/Log", "Psr/Log/"},
		{"psr/container", "1.1.2", `{"name":"psr/container","description":"Common Container Interface (PHP FIG PSR-11)","license":"MIT","autoload":{"psr-4":{"Psr\\Container\\":"src/"}},"require":{"php":">=7.4.0"}}`, "/usr/share/php/Psr/Container", "src/"},
	}
	versions := map[string][]map[string]any{}
	var names []string
	for _, r := range releases {
		files := tree(r.src, r.prefix)
		files["composer.json"] = r.manifest
		// GitHub-style: everything under one top-level folder.
		top := map[string]string{}
		for k, v := range files {
			top[strings.ReplaceAll(r.name, "/", "-")+"-"+r.version+"/"+k] = v
		}
		z := testkit.Zip(t, top)
		sum := sha1.Sum(z)
		ref := hex.EncodeToString(sum[:])
		rel := "dists/" + r.name + "/" + r.version + ".zip"
		write(rel, z)
		var m map[string]any
		json.Unmarshal([]byte(r.manifest), &m)
		m["version"] = r.version
		m["version_normalized"] = r.version + ".0"
		m["dist"] = map[string]any{"type": "zip", "url": baseURL + "/" + rel, "reference": ref, "shasum": ref}
		m["notification-url"] = baseURL + "/downloads/"
		if versions[r.name] == nil {
			names = append(names, r.name)
		}
		versions[r.name] = append(versions[r.name], m)
	}
	for _, n := range names {
		// Minified as Packagist serves it: the later versions carry only
		// what changed.
		vs := versions[n]
		list := []any{vs[0]}
		for _, v := range vs[1:] {
			diff := map[string]any{}
			for k, val := range v {
				if a, _ := json.Marshal(val); string(a) != string(must(json.Marshal(vs[0][k]))) {
					diff[k] = val
				}
			}
			list = append(list, diff)
		}
		doc, _ := json.Marshal(map[string]any{"minified": "composer/2.0", "packages": map[string]any{n: list}})
		write("p2/"+n+".json", doc)
	}
	write("packages.json", []byte(`{"packages":[],"metadata-url":"/p2/%package%.json","notify-batch":"`+baseURL+`/downloads/"}`))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestMirror installs mirrored packages through the edge from a real web
// server, then, with that server stopped, installs them again into a
// fresh project with an empty Composer cache, from the edge's cache.
func TestMirror(t *testing.T) {
	requireComposer(t)
	dir := t.TempDir()
	up := testkit.StaticServer(t, dir)
	staticRepo(t, dir, up.URL)
	// Metadata revalidates on every request: with the upstream down, the
	// second install is served stale copies.
	s := testkit.Start(t, "UPSTREAM_COMPOSER="+up.URL+"/", "ENABLE_UPSTREAM_CACHE=false")
	repo := s.URL + "/composer"

	_, doc := get(t, repo+"/p2/psr/log.json", "")
	if strings.Contains(string(doc), up.URL) || !strings.Contains(string(doc), s.URL+"/composer/dist/psr/log/") ||
		!strings.Contains(string(doc), `"minified":"composer/2.0"`) {
		t.Fatalf("mirrored metadata not rewritten:\n%s", doc)
	}

	require := map[string]string{"psr/log": "^1.1", "psr/container": "^1.1"}
	p := newProject(t, repo, "", require)
	p.mustRun(t, "install")
	got := p.installed(t)
	if got["psr/log"] != "1.1.4" || got["psr/container"] != "1.1.2" {
		t.Fatalf("installed %v", got)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "vendor/psr/log/Psr/Log/LoggerInterface.php")); err != nil {
		t.Fatalf("psr/log not unpacked: %v", err)
	}
	if up.Hits("/downloads/") != 0 {
		t.Fatalf("composer notified the upstream directly:\n%s", up.Log())
	}

	up.Stop()
	again := newProject(t, repo, "", require)
	out := again.mustRun(t, "install")
	if got := again.installed(t); got["psr/log"] != "1.1.4" || got["psr/container"] != "1.1.2" {
		t.Fatalf("with the upstream down, installed %v\n%s", got, out)
	}
	// A package the edge never saw is a clean failure, not a hang.
	if resp, _ := get(t, repo+"/p2/psr/unknown.json", ""); resp.StatusCode != 502 && resp.StatusCode != 404 {
		t.Fatalf("unknown package with the upstream down: %d", resp.StatusCode)
	}
}

// upstreamRepo programs a fake upstream with a repository root and one
// package document.
func upstreamRepo(up *testkit.Upstream, name string, versions ...map[string]any) {
	up.Handle("/packages.json", []byte(`{"packages":[],"metadata-url":"/p2/%package%.json"}`), func(r *testkit.Route) { r.ContentType = "application/json" })
	doc, _ := json.Marshal(map[string]any{"packages": map[string]any{name: versions}})
	up.Handle("/p2/"+name+".json", doc, func(r *testkit.Route) { r.ContentType = "application/json" })
}

// TestDependencyConfusion: a vendor that an organization owns never
// resolves upstream, whether or not it published the name asked for.
func TestDependencyConfusion(t *testing.T) {
	up := testkit.NewUpstream(t)
	evil := testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/lib"}`})
	up.Handle("/evil.zip", evil)
	upstreamRepo(up, "acme/lib", map[string]any{"name": "acme/lib", "version": "9.9.9", "dist": map[string]any{"type": "zip", "url": up.URL + "/evil.zip"}})
	upstreamRepo(up, "acme/other", map[string]any{"name": "acme/other", "version": "9.9.9", "dist": map[string]any{"type": "zip", "url": up.URL + "/evil.zip"}})
	upstreamRepo(up, "newco/tool", map[string]any{"name": "newco/tool", "version": "9.9.9", "dist": map[string]any{"type": "zip", "url": up.URL + "/evil.zip"}})
	upstreamRepo(up, "public/tool", map[string]any{"name": "public/tool", "version": "2.0.0", "dist": map[string]any{"type": "zip", "url": up.URL + "/evil.zip"}})

	s := testkit.Start(t, "UPSTREAM_COMPOSER="+up.URL)
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	s.CreateOrg(t, admin, "newco") // owns newco/* without having published
	// The upstream has acme/lib too, so a first publish may not claim the
	// vendor: a platform admin claims it for acme on purpose.
	if st, b := s.API("POST", "/organizations/acme/claims", admin, map[string]string{"protocol": "composer", "namespace": "acme"}, nil); st != 201 {
		t.Fatalf("claim acme: %d %s", st, b)
	}
	if st, b := put(t, s, admin, "acme/lib?version=1.0.0", libZip(t, "acme/lib", "one")); st != 201 {
		t.Fatalf("publish: %d %s", st, b)
	}
	repo := s.URL + "/composer"
	resp, b := get(t, repo+"/p2/acme/lib.json", admin)
	if resp.StatusCode != 200 || strings.Contains(string(b), "9.9.9") || !strings.Contains(string(b), "1.0.0") {
		t.Fatalf("acme/lib: %d %s", resp.StatusCode, b)
	}
	if resp, b := get(t, repo+"/p2/acme/lib~dev.json", admin); resp.StatusCode != 200 || strings.Contains(string(b), "9.9.9") {
		t.Errorf("acme/lib~dev: %d %s", resp.StatusCode, b)
	}
	for _, path := range []string{"/p2/acme/other.json", "/p2/newco/tool.json", "/dist/acme/other/_/9.9.9.0.zip"} {
		if resp, b := get(t, repo+path, admin); resp.StatusCode != 404 {
			t.Errorf("%s: %d %s, want 404", path, resp.StatusCode, b)
		}
	}
	for _, path := range []string{"/p2/acme/lib.json", "/p2/acme/other.json", "/p2/acme/lib~dev.json", "/p2/newco/tool.json", "/evil.zip"} {
		if n := up.Hits(path); n != 0 {
			t.Errorf("the upstream was asked for %s %d times", path, n)
		}
	}
	// Unclaimed vendors do go upstream.
	if resp, b := get(t, repo+"/p2/public/tool.json", ""); resp.StatusCode != 200 || !strings.Contains(string(b), s.URL+"/composer/dist/public/tool/") {
		t.Fatalf("public/tool: %d %s", resp.StatusCode, b)
	}
	// With a mirror, packages.json lets Composer ask for any name.
	if _, b := get(t, repo+"/packages.json", ""); strings.Contains(string(b), "available-packages") {
		t.Fatalf("packages.json restricts names although a mirror is configured: %s", b)
	}
}

// TestStampede: 100 concurrent requests for one cold dist make one
// upstream request; a corrupt dist is refused and never cached.
func TestStampede(t *testing.T) {
	up := testkit.NewUpstream(t)
	good := testkit.Zip(t, map[string]string{"composer.json": `{"name":"psr/hot"}`, "data.txt": strings.Repeat("x", 64<<10)})
	sum := sha1.Sum(good)
	shasum := hex.EncodeToString(sum[:])
	up.Handle("/dl/hot.zip", good, func(r *testkit.Route) { r.Delay = 300 * time.Millisecond })
	up.Handle("/dl/bad.zip", good, func(r *testkit.Route) { r.Corrupt = true })
	upstreamRepo(up, "psr/hot",
		map[string]any{"name": "psr/hot", "version": "1.0.0", "dist": map[string]any{"type": "zip", "url": up.URL + "/dl/hot.zip", "reference": "r1", "shasum": shasum}},
		map[string]any{"name": "psr/hot", "version": "0.9.0", "dist": map[string]any{"type": "zip", "url": up.URL + "/dl/bad.zip", "reference": "r0", "shasum": shasum}},
	)
	s := testkit.Start(t, "UPSTREAM_COMPOSER="+up.URL+"/")
	repo := s.URL + "/composer"
	if resp, b := get(t, repo+"/p2/psr/hot.json", ""); resp.StatusCode != 200 {
		t.Fatalf("p2: %d %s", resp.StatusCode, b)
	}

	for _, e := range testkit.Stampede(100, repo+"/dist/psr/hot/r1/1.0.0.0.zip", good) {
		t.Error(e)
	}
	if h := up.Hits("/dl/hot.zip"); h != 1 {
		t.Errorf("%d upstream requests for one cold dist, want 1", h)
	}

	for i := range 2 {
		if resp, b := get(t, repo+"/dist/psr/hot/r0/0.9.0.0.zip", ""); resp.StatusCode != 502 {
			t.Fatalf("corrupt dist, try %d: %d %s", i, resp.StatusCode, b)
		}
	}
	if h := up.Hits("/dl/bad.zip"); h < 2 {
		t.Errorf("a corrupt dist was cached: %d upstream requests for two tries", h)
	}
	// A client cannot make the edge fetch a URL of its choosing: only
	// (package, version, reference) coordinates are accepted.
	if resp, _ := get(t, repo+"/dist/psr/hot/r1/1.0.0.0.zip?url=http://example.invalid/x.zip", ""); resp.StatusCode != 200 {
		t.Fatalf("dist with a query: %d", resp.StatusCode)
	}
	if resp, _ := get(t, repo+"/dist/psr/hot/other/1.0.0.0.zip", ""); resp.StatusCode != 404 {
		t.Fatalf("dist with an unknown reference: %d", resp.StatusCode)
	}
}
