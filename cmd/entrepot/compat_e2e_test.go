package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestRootPaths runs the client configurations of the registry Entrepot
// replaces, unchanged, against the root paths: npm with the server's root
// as its registry (publish and install), pip with /simple/, gem with the
// root as its source (push and install), composer with the root URL, and
// cargo with its index and API under /api/v1/crates. Every link the server
// writes for such a client is in the root form; the management API, the
// health document and the dashboard are not shadowed; an npm name that is
// an operational path is served under /npm/ only; ROOT_PATHS=false turns
// the root paths off.
func TestRootPaths(t *testing.T) {
	npm := testkit.RequireTool(t, "npm")
	s, _ := hostedFixtures(t)
	token := s.Token(t, s.Login(t, "alice", alicePassword), []string{"npm", "composer", "rubygems", "cargo", "pypi"}, nil, nil)
	bearer := func(path string) (int, []byte) {
		t.Helper()
		resp, b := testkit.Request(t, "GET", s.URL+path, nil, "Authorization", "Bearer "+token)
		return resp.StatusCode, b
	}

	t.Run("npm", func(t *testing.T) {
		home := t.TempDir()
		env := append(testkit.Env([]string{"npm_config_", "NPM_CONFIG_", "HOME="}), "HOME="+home, "NO_UPDATE_NOTIFIER=1")
		rc := filepath.Join(t.TempDir(), "npmrc")
		// npm config set registry http://registry:3000, as that registry's
		// documentation says.
		testkit.WriteFile(t, rc, "registry="+s.URL+"\n//"+s.Host()+"/:_authToken="+token+"\n")
		run := func(dir string, args ...string) string {
			t.Helper()
			cmd := exec.Command(npm, append(args, "--userconfig", rc, "--cache", t.TempDir(), "--no-audit", "--no-fund", "--update-notifier=false")...)
			cmd.Dir, cmd.Env = dir, env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		for _, name := range []string{"@acme/rooted", "health"} {
			pkg := t.TempDir()
			testkit.WriteFile(t, filepath.Join(pkg, "package.json"), `{"name":"`+name+`","version":"1.0.0","main":"index.js"}`)
			testkit.WriteFile(t, filepath.Join(pkg, "index.js"), `module.exports = "rooted";`)
			if name == "health" {
				// An operational name: published and read under /npm/.
				testkit.WriteFile(t, filepath.Join(pkg, ".npmrc"), "registry="+s.URL+"/npm/\n//"+s.Host()+"/npm/:_authToken="+token+"\n")
				cmd := exec.Command(npm, "publish", "--userconfig", filepath.Join(pkg, ".npmrc"), "--cache", t.TempDir())
				cmd.Dir, cmd.Env = pkg, env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("npm publish health under /npm/: %v\n%s", err, out)
				}
				continue
			}
			run(pkg, "publish")
		}
		app := t.TempDir()
		testkit.WriteFile(t, filepath.Join(app, "package.json"), `{"name":"app","version":"1.0.0"}`)
		run(app, "install", "@acme/rooted@1.0.0")
		if b, err := os.ReadFile(filepath.Join(app, "node_modules/@acme/rooted/index.js")); err != nil || !strings.Contains(string(b), "rooted") {
			t.Fatalf("npm installed %q (%v) through the root registry", b, err)
		}
		lock, _ := os.ReadFile(filepath.Join(app, "package-lock.json"))
		if want := `"resolved": "` + s.URL + `/@acme/rooted/-/rooted-1.0.0.tgz"`; !strings.Contains(string(lock), want) {
			t.Errorf("package-lock.json does not resolve in the root form %s:\n%s", want, lock)
		}
		// The prefixed form still writes prefixed links.
		if code, b := bearer("/npm/@acme%2frooted"); code != 200 || !strings.Contains(string(b), s.URL+"/npm/@acme/rooted/-/rooted-1.0.0.tgz") {
			t.Errorf("/npm/@acme%%2frooted: %d %s", code, b)
		}
		if code, b := bearer("/npm/health"); code != 200 || !strings.Contains(string(b), `"name":"health"`) {
			t.Errorf("/npm/health: %d %s", code, b)
		}
	})

	t.Run("not shadowed", func(t *testing.T) {
		code, b := getHealth(t, s, "/health")
		if code != 200 {
			t.Fatalf("/health: %d", code)
		}
		for _, c := range []string{"metadata", "blobs", "mongodb", "s3", "registry"} {
			if b.Components[c].Status != "ok" {
				t.Errorf("/health component %q: %+v", c, b.Components[c])
			}
		}
		admin := testkit.Basic("admin", testkit.AdminPassword)
		for _, p := range []string{"/api/v1/organizations", "/api/v1/auth/me"} {
			resp, body := testkit.Request(t, "GET", s.URL+p, nil, "Authorization", admin)
			if resp.StatusCode != 200 || !json.Valid(body) || strings.Contains(string(body), "dist-tags") {
				t.Errorf("%s: %d %s", p, resp.StatusCode, body)
			}
		}
		if resp, body := testkit.Request(t, "GET", s.URL+"/", nil); resp.StatusCode != 200 || !strings.Contains(string(body), "<html") {
			t.Errorf("the dashboard: %d", resp.StatusCode)
		}
		// A management path that does not exist is the API's 404, not
		// an npm package.
		if resp, body := testkit.Request(t, "GET", s.URL+"/api/v1/nowhere", nil, "Authorization", admin); resp.StatusCode != 404 || strings.Contains(string(body), "npm") {
			t.Errorf("/api/v1/nowhere: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("pip", func(t *testing.T) {
		if _, err := os.Stat("/usr/bin/python3"); err != nil {
			t.Skip("no /usr/bin/python3")
		}
		// pip install --index-url http://registry:3000/simple/
		dl := t.TempDir()
		index := strings.Replace(s.URL, "http://", "http://__token__:"+token+"@", 1) + "/simple/"
		testkit.MustRun(t, "", testkit.Env([]string{"PIP_"}), "/usr/bin/python3", "-m", "pip", "download", "--no-cache-dir", "--no-deps", "-d", dl, "--index-url", index, "demo-pkg==1.0.0")
		if _, err := os.Stat(filepath.Join(dl, "demo_pkg-1.0.0-py3-none-any.whl")); err != nil {
			t.Fatalf("pip did not download through /simple/: %v", err)
		}
		if code, b := bearer("/simple/demo-pkg/"); code != 200 || !strings.Contains(string(b), s.URL+"/files/demo-pkg/") {
			t.Errorf("/simple/demo-pkg/ links are not in the root form: %d %s", code, b)
		}
		if code, b := bearer("/pypi/demo-pkg/json"); code != 200 || !strings.Contains(string(b), `"name":"demo-pkg"`) && !strings.Contains(string(b), `"name": "demo-pkg"`) {
			t.Errorf("/pypi/demo-pkg/json: %d %s", code, b)
		}
	})

	t.Run("gem", func(t *testing.T) {
		gemBin := testkit.RequireTool(t, "gem")
		src := t.TempDir()
		testkit.WriteFile(t, filepath.Join(src, "lib/rootgem.rb"), "module Rootgem; end\n")
		testkit.WriteFile(t, filepath.Join(src, "rootgem.gemspec"), `Gem::Specification.new do |s|
  s.name = "rootgem"; s.version = "1.0.0"; s.summary = "rooted"; s.authors = ["Test"]; s.license = "MIT"; s.files = ["lib/rootgem.rb"]
end
`)
		home := t.TempDir()
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GEM_HOME=" + filepath.Join(home, "gems"), "GEM_PATH=" + filepath.Join(home, "gems"), "LANG=C.UTF-8", "GEM_HOST_API_KEY=" + token}
		testkit.MustRun(t, src, env, gemBin, "build", "rootgem.gemspec")
		testkit.MustRun(t, src, env, gemBin, "push", "rootgem-1.0.0.gem", "--host", s.URL)
		// gem sources -a http://registry:3000
		source := strings.Replace(s.URL, "http://", "http://alice:"+token+"@", 1) + "/"
		testkit.MustRun(t, "", env, gemBin, "sources", "--clear-all")
		testkit.MustRun(t, "", env, gemBin, "sources", "--remove", "https://rubygems.org/")
		testkit.MustRun(t, "", env, gemBin, "sources", "-a", source)
		if out := testkit.MustRun(t, "", env, gemBin, "install", "rootgem", "--no-document"); !strings.Contains(out, "Successfully installed rootgem-1.0.0") {
			t.Fatalf("gem install through the root source:\n%s", out)
		}
	})

	t.Run("composer", func(t *testing.T) {
		composer := testkit.RequireTool(t, "composer")
		testkit.RequireTool(t, "unzip")
		zip := testkit.Zip(t, map[string]string{
			"composer.json":  `{"name":"acme/rooted","type":"library","license":"MIT","autoload":{"psr-4":{"Acme\\Rooted\\":"src/"}}}`,
			"src/Rooted.php": "<?php\nnamespace Acme\\Rooted;\nclass Rooted {}\n",
		})
		if resp, b := testkit.Request(t, "PUT", s.URL+"/packages/acme/rooted?version=1.0.0", zip, "Authorization", "Bearer "+token); resp.StatusCode != 201 {
			t.Fatalf("composer publish at the root: %d %s", resp.StatusCode, b)
		}
		proj := t.TempDir()
		testkit.WriteFile(t, filepath.Join(proj, "composer.json"), `{"name":"test/app","repositories":[{"packagist.org":false},{"type":"composer","url":"`+s.URL+`"}],"config":{"secure-http":false},"require":{"acme/rooted":"1.0.0"}}`)
		testkit.MustRun(t, proj, testkit.Env(nil, "COMPOSER_HOME="+t.TempDir(), "COMPOSER_CACHE_DIR="+t.TempDir(), "COMPOSER_ALLOW_SUPERUSER=1",
			"COMPOSER_AUTH="+`{"bearer":{"`+s.Host()+`":"`+token+`"}}`), composer, "install", "--no-interaction", "--no-progress")
		if _, err := os.Stat(filepath.Join(proj, "vendor/acme/rooted/src/Rooted.php")); err != nil {
			t.Fatalf("composer did not install through the root URL: %v", err)
		}
		// Composer 1's provider files, with and without their hash.
		for _, p := range []string{"/p/acme/rooted.json", "/p/acme/rooted$0123abcd.json", "/composer/p/acme/rooted.json"} {
			code, b := bearer(p)
			var doc struct {
				Packages map[string]map[string]struct {
					Dist struct{ URL string } `json:"dist"`
				} `json:"packages"`
			}
			json.Unmarshal(b, &doc)
			url := doc.Packages["acme/rooted"]["1.0.0"].Dist.URL
			wantBase := s.URL + "/dist/"
			if strings.HasPrefix(p, "/composer/") {
				wantBase = s.URL + "/composer/dist/"
			}
			if code != 200 || !strings.HasPrefix(url, wantBase) {
				t.Errorf("%s: %d, dist %q, want under %s: %s", p, code, url, wantBase, b)
			}
		}
		lock, _ := os.ReadFile(filepath.Join(proj, "composer.lock"))
		if !strings.Contains(string(lock), `"url": "`+s.URL+`/dist/`) {
			t.Errorf("composer.lock's dist URL is not in the root form:\n%s", lock)
		}
	})

	t.Run("cargo", func(t *testing.T) {
		cargo := testkit.RequireTool(t, "cargo")
		home := t.TempDir()
		testkit.WriteFile(t, filepath.Join(home, "config.toml"), "[net]\nretry = 1\n[registries.entrepot]\nindex = \"sparse+"+s.URL+"/api/v1/crates/index/\"\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n")
		run := func(dir string, args ...string) {
			t.Helper()
			testkit.MustRun(t, dir, testkit.Env([]string{"CARGO_"}, "CARGO_HOME="+home, "CARGO_TERM_COLOR=never", "CARGO_REGISTRIES_ENTREPOT_TOKEN="+token, "CARGO_TARGET_DIR="+filepath.Join(dir, "target")), cargo, args...)
		}
		crate := t.TempDir()
		testkit.WriteFile(t, filepath.Join(crate, "Cargo.toml"), "[package]\nname = \"rooted-crate\"\nversion = \"0.1.0\"\nedition = \"2021\"\ndescription = \"rooted\"\nlicense = \"MIT\"\n")
		testkit.WriteFile(t, filepath.Join(crate, "src/lib.rs"), "pub fn rooted() {}\n")
		run(crate, "publish", "--registry", "entrepot", "--allow-dirty", "--no-verify")
		user := t.TempDir()
		testkit.WriteFile(t, filepath.Join(user, "Cargo.toml"), "[package]\nname = \"user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\nrooted-crate = { version = \"0.1\", registry = \"entrepot\" }\n")
		testkit.WriteFile(t, filepath.Join(user, "src/lib.rs"), "")
		run(user, "fetch")
		if code, b := bearer("/api/v1/crates/index/config.json"); code != 200 || !strings.Contains(string(b), `"dl":"`+s.URL+`/api/v1/crates"`) || !strings.Contains(string(b), `"api":"`+s.URL+`"`) {
			t.Errorf("config.json at the root: %d %s", code, b)
		}
	})

	t.Run("off", func(t *testing.T) {
		off := testkit.Start(t, "ROOT_PATHS=false")
		for _, p := range []string{"/simple/", "/-/ping", "/packages.json", "/specs.4.8.gz", "/api/v1/crates/index/config.json"} {
			if code, _ := off.Get(p); code != 404 {
				t.Errorf("ROOT_PATHS=false: %s answered %d", p, code)
			}
		}
		if code, _ := off.Get("/health"); code != 200 {
			t.Errorf("ROOT_PATHS=false: /health %d", code)
		}
	})
}
