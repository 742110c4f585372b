package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"entrepot/deploy/testkit"
)

// TestBackupRestore publishes in every protocol — npm, RubyGems and
// Cargo with their clients, Maven, PyPI, Composer and OCI over their HTTP
// APIs — backs up while the server serves a stream of reads, verifies the
// backup, restores it into a fresh data directory (refused into a
// non-empty one), starts a server on it and installs there with npm,
// composer, gem, cargo, pip (download) and skopeo; the Maven and PyPI
// files come back byte for byte, and alice's password still signs her in.
func TestBackupRestore(t *testing.T) {
	npm := testkit.RequireTool(t, "npm")
	s, auth := hostedFixtures(t)
	token := s.Token(t, s.Login(t, "alice", alicePassword), []string{"npm", "composer", "oci", "rubygems", "cargo", "pypi"}, nil, nil)

	home := t.TempDir()
	npmEnv := append(testkit.Env([]string{"npm_config_", "NPM_CONFIG_", "HOME="}), "HOME="+home, "NO_UPDATE_NOTIFIER=1")
	rc := func(srv *testkit.Server) string {
		p := filepath.Join(t.TempDir(), "npmrc")
		os.WriteFile(p, []byte("registry="+srv.URL+"/npm/\n//"+srv.Host()+"/npm/:_authToken="+token+"\n"), 0o600)
		return p
	}
	runNPM := func(dir, rc string, args ...string) string {
		t.Helper()
		cmd := exec.Command(npm, append(args, "--userconfig", rc, "--cache", t.TempDir(), "--no-audit", "--no-fund", "--update-notifier=false")...)
		cmd.Dir, cmd.Env = dir, npmEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	pkg := t.TempDir()
	testkit.WriteFile(t, filepath.Join(pkg, "package.json"), `{"name":"@acme/kept","version":"1.0.0","main":"index.js"}`)
	testkit.WriteFile(t, filepath.Join(pkg, "index.js"), `module.exports = "kept";`)
	runNPM(pkg, rc(s), "publish")
	composerZip := testkit.Zip(t, map[string]string{
		"composer.json": `{"name":"acme/kept","type":"library","license":"MIT","autoload":{"psr-4":{"Acme\\Kept\\":"src/"}}}`,
		"src/Kept.php":  "<?php\nnamespace Acme\\Kept;\nclass Kept {}\n",
	})
	if resp, b := testkit.Request(t, "PUT", s.URL+"/composer/packages/acme/kept?version=1.0.0", composerZip, "Authorization", "Bearer "+token); resp.StatusCode != 201 {
		t.Fatalf("composer publish: %d %s", resp.StatusCode, b)
	}
	ociPush(t, s, testkit.Basic("alice", token), "acme/app", "1.0")
	gemBin := testkit.RequireTool(t, "gem")
	gemSrc := t.TempDir()
	testkit.WriteFile(t, filepath.Join(gemSrc, "lib/keptgem.rb"), "module Keptgem; end\n")
	testkit.WriteFile(t, filepath.Join(gemSrc, "keptgem.gemspec"), `Gem::Specification.new do |s|
  s.name = "keptgem"; s.version = "1.0.0"; s.summary = "kept"; s.authors = ["Test"]; s.license = "MIT"; s.files = ["lib/keptgem.rb"]
end
`)
	rubyHome := t.TempDir()
	rubyEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + rubyHome, "GEM_HOME=" + filepath.Join(rubyHome, "gems"), "GEM_PATH=" + filepath.Join(rubyHome, "gems"), "LANG=C.UTF-8", "GEM_HOST_API_KEY=" + token}
	testkit.MustRun(t, gemSrc, rubyEnv, gemBin, "build", "keptgem.gemspec")
	testkit.MustRun(t, gemSrc, rubyEnv, gemBin, "push", "keptgem-1.0.0.gem", "--host", s.URL+"/rubygems")
	cargo := testkit.RequireTool(t, "cargo")
	cargoRun := func(srv *testkit.Server, dir string, args ...string) {
		t.Helper()
		home := t.TempDir()
		testkit.WriteFile(t, filepath.Join(home, "config.toml"), "[net]\nretry = 1\n[registries.entrepot]\nindex = \"sparse+"+srv.URL+"/cargo/index/\"\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n")
		testkit.MustRun(t, dir, testkit.Env([]string{"CARGO_"}, "CARGO_HOME="+home, "CARGO_TERM_COLOR=never", "CARGO_REGISTRIES_ENTREPOT_TOKEN="+token, "CARGO_TARGET_DIR="+filepath.Join(dir, "target")), cargo, args...)
	}
	crate := t.TempDir()
	testkit.WriteFile(t, filepath.Join(crate, "Cargo.toml"), "[package]\nname = \"kept-crate\"\nversion = \"0.1.0\"\nedition = \"2021\"\ndescription = \"kept\"\nlicense = \"MIT\"\n")
	testkit.WriteFile(t, filepath.Join(crate, "src/lib.rs"), "pub fn kept() {}\n")
	cargoRun(s, crate, "publish", "--registry", "entrepot", "--allow-dirty", "--no-verify")

	files := map[string][]byte{}
	for _, p := range []string{"/maven2/com/acme/lib/1.0/lib-1.0.pom", "/pypi/files/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl"} {
		resp, body := testkit.Request(t, "GET", s.URL+p, nil, "Authorization", auth)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		files[p] = body
	}

	// Back up under load: the server keeps answering meanwhile.
	var reads, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := s.Get("/npm/@acme%2fkept"); code != 200 && code != 401 {
					failed.Add(1)
				}
				reads.Add(1)
			}
		}()
	}
	backup := filepath.Join(t.TempDir(), "backup")
	out, errOut, code := entrepot(t, nil, []string{"DATA_DIR=" + s.DataDir}, "backup", backup)
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "from the running server") {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("%s(%d reads served meanwhile, %d failed)", out, reads.Load(), failed.Load())
	if failed.Load() > 0 {
		t.Errorf("%d reads failed during the backup", failed.Load())
	}
	for _, env := range [][]string{{"DATA_DIR=" + s.DataDir}, nil} {
		args := []string{"backup", "--verify"}
		if env == nil {
			args = append(args, backup)
		}
		if out, errOut, code := entrepot(t, nil, env, args...); code != 0 || !strings.Contains(out, "referenced blobs present") {
			t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}

	// A non-empty data directory is refused; a fresh one takes it.
	if _, errOut, code := entrepot(t, nil, []string{"DATA_DIR=" + s.DataDir}, "restore", backup); code == 0 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into the live data directory: exit %d %s", code, errOut)
	}
	fresh := t.TempDir()
	if out, errOut, code := entrepot(t, nil, []string{"DATA_DIR=" + fresh}, "restore", backup); code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	s.Stop()
	r := testkit.Start(t, "DATA_DIR="+fresh)
	r.Login(t, "alice", alicePassword)
	app := t.TempDir()
	testkit.WriteFile(t, filepath.Join(app, "package.json"), `{"name":"app","version":"1.0.0"}`)
	runNPM(app, rc(r), "install", "@acme/kept@1.0.0")
	if b, err := os.ReadFile(filepath.Join(app, "node_modules/@acme/kept/index.js")); err != nil || !bytes.Contains(b, []byte("kept")) {
		t.Fatalf("npm installed %q (%v) from the restored server", b, err)
	}
	composer := testkit.RequireTool(t, "composer")
	testkit.RequireTool(t, "unzip")
	proj := t.TempDir()
	testkit.WriteFile(t, filepath.Join(proj, "composer.json"), `{"name":"test/app","repositories":[{"packagist.org":false},{"type":"composer","url":"`+r.URL+`/composer"}],"config":{"secure-http":false},"require":{"acme/kept":"1.0.0"}}`)
	testkit.MustRun(t, proj, testkit.Env(nil, "COMPOSER_HOME="+t.TempDir(), "COMPOSER_CACHE_DIR="+t.TempDir(), "COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_AUTH="+`{"bearer":{"`+r.Host()+`":"`+token+`"}}`), composer, "install", "--no-interaction", "--no-progress")
	if _, err := os.Stat(filepath.Join(proj, "vendor/acme/kept/src/Kept.php")); err != nil {
		t.Fatalf("composer did not install acme/kept from the restored server: %v", err)
	}
	rubySource := strings.Replace(r.URL, "http://", "http://alice:"+token+"@", 1) + "/rubygems/"
	if out := testkit.MustRun(t, "", rubyEnv, gemBin, "install", "keptgem", "--no-document", "--clear-sources", "--source", rubySource); !strings.Contains(out, "Successfully installed keptgem-1.0.0") {
		t.Fatalf("gem install from the restored server:\n%s", out)
	}
	user := t.TempDir()
	testkit.WriteFile(t, filepath.Join(user, "Cargo.toml"), "[package]\nname = \"user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\nkept-crate = { version = \"0.1\", registry = \"entrepot\" }\n")
	testkit.WriteFile(t, filepath.Join(user, "src/lib.rs"), "")
	// cargo fetch downloads the crate and checks it against the index's checksum.
	cargoRun(r, user, "fetch")
	// Debian's python3 has pip (edge/pypi's tests use it too).
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		dl := t.TempDir()
		testkit.MustRun(t, "", testkit.Env([]string{"PIP_"}), "/usr/bin/python3", "-m", "pip", "download", "--no-cache-dir", "--no-deps", "-d", dl,
			"--index-url", strings.Replace(r.URL, "http://", "http://__token__:"+token+"@", 1)+"/pypi/simple/", "demo-pkg==1.0.0")
		if _, err := os.Stat(filepath.Join(dl, "demo_pkg-1.0.0-py3-none-any.whl")); err != nil {
			t.Fatalf("pip did not download the wheel from the restored server: %v", err)
		}
	}
	skopeo := testkit.RequireTool(t, "skopeo")
	testkit.MustRun(t, "", nil, skopeo, "copy", "--src-tls-verify=false", "--src-creds", "alice:"+token,
		"docker://"+r.Host()+"/acme/app:1.0", "dir:"+filepath.Join(t.TempDir(), "image"))
	for p, want := range files {
		resp, body := testkit.Request(t, "GET", r.URL+p, nil, "Authorization", auth)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Errorf("%s from the restored server: %d, %d bytes, want %d", p, resp.StatusCode, len(body), len(want))
		}
	}

	// --verify finds a corrupt blob of the backup.
	var victim string
	filepath.WalkDir(filepath.Join(backup, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && victim == "" {
			victim = p
		}
		return nil
	})
	os.Chmod(victim, 0o600)
	if err := os.WriteFile(victim, []byte("rot"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, code := entrepot(t, nil, nil, "backup", "--verify", backup); code == 0 || !strings.Contains(out, "BAD sha256:") {
		t.Fatalf("verify of a corrupt backup: exit %d\n%s", code, out)
	}
}

// TestBackupVerifyMongoS3: on MongoDB + S3 (FerretDB and MinIO in the
// test command), `backup --verify` finds every blob the metadata
// references, and reports them missing when pointed at an empty prefix
// of the bucket; `backup DIR` says to use mongodump instead.
func TestBackupVerifyMongoS3(t *testing.T) {
	mongoURL, s3URL := os.Getenv("ENTREPOT_TEST_MONGODB_URL"), os.Getenv("ENTREPOT_TEST_S3_ENDPOINT")
	if mongoURL == "" || s3URL == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are set by `make test`")
	}
	env := mongoS3Env("bk")
	hostedFixtures(t, env...)
	out, errOut, code := entrepot(t, nil, env, "backup", "--verify")
	if code != 0 || !strings.Contains(out, "2 referenced blobs present") {
		t.Fatalf("backup --verify: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = entrepot(t, nil, append(env, "STORAGE_PATH=elsewhere"+randomHex(6)), "backup", "--verify")
	if code == 0 || strings.Count(out, "BAD sha256:") != 2 || !strings.Contains(errOut, "2 of 2") {
		t.Fatalf("backup --verify on an empty prefix: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := entrepot(t, nil, env, "backup", t.TempDir()); code == 0 || !strings.Contains(errOut, "mongodump") {
		t.Fatalf("backup DIR on MongoDB: exit %d %s", code, errOut)
	}
}

// ociPush pushes a one-layer image to repo:tag over the registry API.
func ociPush(t *testing.T, s *testkit.Server, auth, repo, tag string) {
	t.Helper()
	blobRef := func(mediaType string, b []byte) string {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		resp, body := testkit.Request(t, "POST", s.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, b, "Authorization", auth, "Content-Type", "application/octet-stream")
		if resp.StatusCode != 201 {
			t.Fatalf("oci blob push: %d %s", resp.StatusCode, body)
		}
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, mediaType, d, len(b))
	}
	layer := testkit.Zip(t, map[string]string{"kept": "kept"}) // any bytes: a layer is opaque to the registry
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` +
		blobRef("application/vnd.oci.image.config.v1+json", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)) +
		`,"layers":[` + blobRef("application/vnd.oci.image.layer.v1.tar+gzip", layer) + `]}`
	resp, body := testkit.Request(t, "PUT", s.URL+"/v2/"+repo+"/manifests/"+tag, []byte(manifest), "Authorization", auth, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if resp.StatusCode != 201 {
		t.Fatalf("oci manifest push: %d %s", resp.StatusCode, body)
	}
}
