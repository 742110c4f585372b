package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestWarmPip warms a requirements.txt with hashes, stops the upstream and
// runs pip install --require-hashes with no cache: the wheel comes from
// the mirror, found on its simple page by hash.
func TestWarmPip(t *testing.T) {
	python := testkit.RequireTool(t, "python3")
	up := testkit.NewUpstream(t)
	whl := installableWheel(t)
	page := fmt.Sprintf(`<!DOCTYPE html><html><body><a href="../../files/warm_demo-1.0-py3-none-any.whl#sha256=%s">warm_demo-1.0-py3-none-any.whl</a></body></html>`, hexSum(whl, sum256))
	up.Handle("/pypi/simple/warm-demo/", []byte(page), func(r *testkit.Route) { r.ContentType = "text/html" })
	up.Handle("/pypi/files/warm_demo-1.0-py3-none-any.whl", whl)
	s := testkit.Start(t, "UPSTREAM_PYPI="+up.URL+"/pypi/simple/")
	token := s.Token(t, s.AdminToken(t), []string{"pypi"}, nil, nil)

	proj := t.TempDir()
	req := filepath.Join(proj, "requirements.txt")
	testkit.WriteFile(t, req, "warm-demo==1.0 \\\n    --hash=sha256:"+hexSum(whl, sum256)+"\n")
	out, err := testkit.Run(t, proj, testkit.Env([]string{"ENTREPOT_"}, "ENTREPOT_URL="+s.URL, "ENTREPOT_TOKEN="+token), testkit.Binary(t), "warm", req)
	if err != nil || !strings.Contains(out, "1 artifacts: 0 cached, 1 fetched") {
		t.Fatalf("entrepot warm: %v\n%s", err, out)
	}
	up.Down()
	venv := filepath.Join(t.TempDir(), "venv")
	testkit.MustRun(t, proj, nil, python, "-m", "venv", "--without-pip", venv)
	// The venv's python runs the machine's pip module, with no cache.
	cmd := exec.Command(python, "-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "install", "--no-cache-dir", "--disable-pip-version-check",
		"--require-hashes", "-r", req, "--index-url", s.URL+"/pypi/simple/")
	cmd.Dir, cmd.Env = proj, testkit.Env([]string{"PIP_"})
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pip install --require-hashes with the upstream down: %v\n%s", err, b)
	}
}

// installableWheel is a wheel pip installs: a module, and the RECORD pip
// needs besides METADATA and WHEEL.
func installableWheel(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	files := map[string]string{
		"warm_demo.py":                     "ANSWER = 42\n",
		"warm_demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: warm-demo\nVersion: 1.0\n\n",
		"warm_demo-1.0.dist-info/WHEEL":    "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
		"warm_demo-1.0.dist-info/RECORD":   "warm_demo.py,,\nwarm_demo-1.0.dist-info/METADATA,,\nwarm_demo-1.0.dist-info/WHEEL,,\nwarm_demo-1.0.dist-info/RECORD,,\n",
	}
	for _, name := range []string{"warm_demo.py", "warm_demo-1.0.dist-info/METADATA", "warm_demo-1.0.dist-info/WHEEL", "warm_demo-1.0.dist-info/RECORD"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
