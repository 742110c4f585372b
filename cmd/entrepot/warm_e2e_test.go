package main

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// npmPackage serves name@version on up as a real tarball, with a packument
// whose dist points at the upstream's own files.
func npmPackage(t *testing.T, up *testkit.Upstream, name, version, deps string) []byte {
	t.Helper()
	tgz := testkit.TarGz(t, map[string]string{
		"package/package.json": `{"name":"` + name + `","version":"` + version + `","main":"index.js","dependencies":{` + deps + `}}`,
		"package/index.js":     `module.exports = "` + name + `";`,
	})
	s512 := sha512.Sum512(tgz)
	var d map[string]string
	if deps != "" {
		_ = json.Unmarshal([]byte("{"+deps+"}"), &d)
	}
	file := name + "-" + version + ".tgz"
	packument, _ := json.Marshal(map[string]any{
		"name": name, "dist-tags": map[string]string{"latest": version},
		"versions": map[string]any{version: map[string]any{
			"name": name, "version": version, "dependencies": d,
			"dist": map[string]string{"tarball": up.URL + "/npm-files/" + file,
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]),
				"shasum":    hexSum(tgz, sum1)}}},
	})
	up.Handle("/npm/"+name, packument, func(r *testkit.Route) { r.ContentType = "application/json" })
	up.Handle("/npm-files/"+file, tgz)
	return tgz
}

// TestWarmNpm makes a package-lock.json with the real npm against the
// edge (which fetches packuments only), warms it with entrepot warm,
// stops the upstream and runs npm ci with an empty cache: every tarball
// comes from the mirror. A lockfile whose integrity the bytes do not match
// is refused and the command fails.
func TestWarmNpm(t *testing.T) {
	npm := testkit.RequireTool(t, "npm")
	up := testkit.NewUpstream(t)
	npmPackage(t, up, "warm-alpha", "1.0.0", `"warm-beta":"^1.0.0"`)
	npmPackage(t, up, "warm-beta", "1.2.0", "")
	s := testkit.Start(t, "UPSTREAM_NPM="+up.URL+"/npm/")
	token := s.Token(t, s.AdminToken(t), []string{"npm"}, nil, nil)

	home := t.TempDir()
	env := append(testkit.Env([]string{"npm_config_", "NPM_CONFIG_", "HOME="}), "HOME="+home, "NO_UPDATE_NOTIFIER=1")
	rc := filepath.Join(t.TempDir(), "npmrc")
	testkit.WriteFile(t, rc, "registry="+s.URL+"/npm/\n")
	proj := t.TempDir()
	testkit.WriteFile(t, filepath.Join(proj, "package.json"), `{"name":"app","version":"1.0.0","dependencies":{"warm-alpha":"1.0.0"}}`)
	npmRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command(npm, append(args, "--userconfig", rc, "--cache", t.TempDir(), "--no-audit", "--no-fund", "--update-notifier=false")...)
		cmd.Dir, cmd.Env = proj, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	npmRun("install", "--package-lock-only")
	lock := filepath.Join(proj, "package-lock.json")
	if n := up.Hits("/npm-files/warm-beta-1.2.0.tgz"); n != 0 {
		t.Fatalf("npm install --package-lock-only fetched a tarball (%d hits): the test would prove nothing", n)
	}

	warm := func(env []string, files ...string) (string, error) {
		return testkit.Run(t, proj, append(testkit.Env([]string{"ENTREPOT_"}), env...), testkit.Binary(t), append([]string{"warm"}, files...)...)
	}
	out, err := warm([]string{"ENTREPOT_URL=" + s.URL, "ENTREPOT_TOKEN=" + token}, lock)
	if err != nil || !strings.Contains(out, "2 artifacts: 0 cached, 2 fetched, 0 refused, 0 failed") {
		t.Fatalf("entrepot warm: %v\n%s", err, out)
	}
	// Anonymous callers may not start a job.
	if resp, body := testkit.Request(t, "POST", s.URL+"/api/v1/warm", []byte("{}"), "Content-Type", "application/json"); resp.StatusCode != 401 {
		t.Fatalf("anonymous POST /api/v1/warm: %d %s", resp.StatusCode, body)
	}

	up.Down()
	hits := up.TotalHits()
	if err := os.RemoveAll(filepath.Join(proj, "node_modules")); err != nil {
		t.Fatal(err)
	}
	npmRun("ci")
	if b, err := os.ReadFile(filepath.Join(proj, "node_modules", "warm-beta", "index.js")); err != nil || !strings.Contains(string(b), "warm-beta") {
		t.Fatalf("npm ci with the upstream down did not install warm-beta: %v %s", err, b)
	}
	if up.TotalHits() != hits {
		t.Errorf("npm ci reached the upstream (%d requests)", up.TotalHits()-hits)
	}

	// A lockfile pinning other bytes than the mirror serves is refused.
	raw, _ := os.ReadFile(lock)
	wrong := sha512.Sum512([]byte("other bytes"))
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	doc["packages"].(map[string]any)["node_modules/warm-beta"].(map[string]any)["integrity"] = "sha512-" + base64.StdEncoding.EncodeToString(wrong[:])
	tampered, _ := json.Marshal(doc)
	bad := filepath.Join(t.TempDir(), "package-lock.json")
	testkit.WriteFile(t, bad, string(tampered))
	out, err = warm(nil, "--url", s.URL, "--token", token, bad)
	if err == nil || !strings.Contains(out, "refused npm warm-beta@1.2.0") || !strings.Contains(out, "integrity") {
		t.Fatalf("a tampered lockfile: %v\n%s", err, out)
	}
}
