package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestMigrate moves npm, PyPI, RubyGems and Composer packages from a running
// Entrepot standing in for the old registry (read at its root paths, as
// that registry serves them) into a fresh one with `entrepot migrate`,
// then installs them from the new one with npm, pip, gem and composer. A second run
// finds every version there and changes nothing.
func TestMigrate(t *testing.T) {
	npm := testkit.RequireTool(t, "npm")
	gemBin := testkit.RequireTool(t, "gem")
	composer := testkit.RequireTool(t, "composer")
	testkit.RequireTool(t, "unzip")
	old, _ := hostedFixtures(t) // demo-pkg 1.0.0 on PyPI
	oldToken := old.Token(t, old.Login(t, "alice", alicePassword), []string{"npm", "pypi", "rubygems", "composer"}, nil, nil)
	npmEnv := append(testkit.Env([]string{"npm_config_", "NPM_CONFIG_", "HOME="}), "HOME="+t.TempDir(), "NO_UPDATE_NOTIFIER=1")
	npmRun := func(srv *testkit.Server, token, dir string, args ...string) {
		t.Helper()
		rc := filepath.Join(t.TempDir(), "npmrc")
		testkit.WriteFile(t, rc, "registry="+srv.URL+"/npm/\n//"+srv.Host()+"/npm/:_authToken="+token+"\n")
		cmd := exec.Command(npm, append(args, "--userconfig", rc, "--cache", t.TempDir(), "--no-audit", "--no-fund", "--update-notifier=false")...)
		cmd.Dir, cmd.Env = dir, npmEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		pkg := t.TempDir()
		testkit.WriteFile(t, filepath.Join(pkg, "package.json"), `{"name":"@acme/moved","version":"`+v+`","main":"index.js"}`)
		testkit.WriteFile(t, filepath.Join(pkg, "index.js"), `module.exports = "moved `+v+`";`)
		npmRun(old, oldToken, pkg, "publish")
	}
	src := t.TempDir()
	testkit.WriteFile(t, filepath.Join(src, "lib/movedgem.rb"), "module Movedgem; end\n")
	testkit.WriteFile(t, filepath.Join(src, "movedgem.gemspec"), `Gem::Specification.new do |s|
  s.name = "movedgem"; s.version = "2.0.0"; s.summary = "moved"; s.authors = ["Test"]; s.license = "MIT"; s.files = ["lib/movedgem.rb"]
end
`)
	rubyHome := t.TempDir()
	rubyEnv := func(token string) []string {
		return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + rubyHome, "GEM_HOME=" + filepath.Join(rubyHome, "gems"), "GEM_PATH=" + filepath.Join(rubyHome, "gems"), "LANG=C.UTF-8", "GEM_HOST_API_KEY=" + token}
	}
	testkit.MustRun(t, src, rubyEnv(oldToken), gemBin, "build", "movedgem.gemspec")
	testkit.MustRun(t, src, rubyEnv(oldToken), gemBin, "push", "movedgem-2.0.0.gem", "--host", old.URL)
	// Published at the old registry's root, as its documentation says.
	zip := testkit.Zip(t, map[string]string{
		"composer.json": `{"name":"acme/moved-lib","type":"library","license":"MIT","autoload":{"psr-4":{"Acme\\Moved\\":"src/"}}}`,
		"src/Moved.php": "<?php\nnamespace Acme\\Moved;\nclass Moved {}\n",
	})
	if resp, b := testkit.Request(t, "PUT", old.URL+"/packages/acme/moved-lib?version=3.0.0", zip, "Authorization", "Bearer "+oldToken); resp.StatusCode != 201 {
		t.Fatalf("composer publish on the old registry: %d %s", resp.StatusCode, b)
	}

	s := testkit.Start(t)
	token := s.Token(t, s.OrgMember(t, "acme", "alice", alicePassword, "admin"), []string{"npm", "pypi", "rubygems", "composer"}, nil, nil)
	args := []string{"migrate", "--from", old.URL, "--from-token", oldToken, "--to", s.URL, "--token", token}
	out, errOut, code := entrepot(t, nil, nil, args...)
	if code != 0 || !strings.Contains(out, "migrated 5 versions, 0 already there, 0 failed") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := entrepot(t, nil, nil, args...); code != 0 || !strings.Contains(out, "migrated 0 versions, 5 already there, 0 failed") {
		t.Fatalf("migrate again: exit %d\n%s%s", code, out, errOut)
	}

	app := t.TempDir()
	testkit.WriteFile(t, filepath.Join(app, "package.json"), `{"name":"app","version":"1.0.0"}`)
	npmRun(s, token, app, "install", "@acme/moved")
	if b, err := os.ReadFile(filepath.Join(app, "node_modules/@acme/moved/index.js")); err != nil || !strings.Contains(string(b), "moved 1.1.0") {
		t.Fatalf("npm installed %q (%v) from the new registry: latest should be 1.1.0", b, err)
	}
	source := strings.Replace(s.URL, "http://", "http://alice:"+token+"@", 1) + "/rubygems/"
	if out := testkit.MustRun(t, "", rubyEnv(token), gemBin, "install", "movedgem", "--no-document", "--clear-sources", "--source", source); !strings.Contains(out, "Successfully installed movedgem-2.0.0") {
		t.Fatalf("gem install from the new registry:\n%s", out)
	}
	{
		proj := t.TempDir()
		testkit.WriteFile(t, filepath.Join(proj, "composer.json"), `{"name":"test/app","repositories":[{"packagist.org":false},{"type":"composer","url":"`+s.URL+`/composer"}],"config":{"secure-http":false},"require":{"acme/moved-lib":"3.0.0"}}`)
		testkit.MustRun(t, proj, testkit.Env(nil, "COMPOSER_HOME="+t.TempDir(), "COMPOSER_CACHE_DIR="+t.TempDir(), "COMPOSER_ALLOW_SUPERUSER=1",
			"COMPOSER_AUTH="+`{"bearer":{"`+s.Host()+`":"`+token+`"}}`), composer, "install", "--no-interaction", "--no-progress")
		if _, err := os.Stat(filepath.Join(proj, "vendor/acme/moved-lib/src/Moved.php")); err != nil {
			t.Fatalf("composer did not install the migrated package: %v", err)
		}
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		dl := t.TempDir()
		testkit.MustRun(t, "", testkit.Env([]string{"PIP_"}), "/usr/bin/python3", "-m", "pip", "download", "--no-cache-dir", "--no-deps", "-d", dl,
			"--index-url", strings.Replace(s.URL, "http://", "http://__token__:"+token+"@", 1)+"/pypi/simple/", "demo-pkg==1.0.0")
		if _, err := os.Stat(filepath.Join(dl, "demo_pkg-1.0.0-py3-none-any.whl")); err != nil {
			t.Fatalf("pip did not download the migrated wheel: %v", err)
		}
	}
}
