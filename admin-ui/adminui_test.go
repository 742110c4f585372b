package adminui_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	adminui "entrepot/admin-ui"
	"entrepot/edge"
)

// serve runs an edge with the dashboard over files and returns its URL.
func serve(t *testing.T, files fstest.MapFS) string {
	t.Helper()
	srv := edge.New(edge.Config{})
	var opts adminui.Options
	if files != nil {
		opts.Files = files
	}
	adminui.New(opts).Mount(srv.Mux().Group(""))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(t.Context()) })
	return "http://" + ln.Addr().String()
}

var testFiles = fstest.MapFS{
	"index.html":            {Data: []byte(`<!doctype html><script type="module" src="/assets/app-abc123.js"></script>`)},
	"assets/app-abc123.js":  {Data: []byte(strings.Repeat("console.log('entrepot');\n", 200))},
	"assets/app-abc123.css": {Data: []byte("body{}")},
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	// No transparent decompression: the test checks the encoding itself.
	tr := &http.Transport{DisableCompression: true}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func TestServe(t *testing.T) {
	base := serve(t, testFiles)
	cases := []struct {
		name, path string
		status     int
		ctype      string
		cache      string
		bodyHas    string
	}{
		{"page", "/", 200, "text/html; charset=utf-8", "no-cache", "/assets/app-abc123.js"},
		{"script", "/assets/app-abc123.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "entrepot"},
		{"style", "/assets/app-abc123.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{}"},
		{"unknown asset", "/assets/nope.js", 404, "application/json", "no-store", "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := get(t, base+c.path)
			if res.StatusCode != c.status {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			if got := res.Header.Get("Content-Type"); got != c.ctype {
				t.Errorf("Content-Type %q", got)
			}
			if got := res.Header.Get("Cache-Control"); got != c.cache {
				t.Errorf("Cache-Control %q", got)
			}
			if !bytes.Contains(body, []byte(c.bodyHas)) {
				t.Errorf("body lacks %q: %s", c.bodyHas, body)
			}
			for h, want := range map[string]string{
				"Content-Security-Policy": adminui.CSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := res.Header.Get(h); got != want {
					t.Errorf("%s %q", h, got)
				}
			}
		})
	}
	t.Run("csp forbids inline scripts", func(t *testing.T) {
		if strings.Contains(adminui.CSP, "unsafe-inline") || !strings.Contains(adminui.CSP, "script-src 'self'") {
			t.Fatal(adminui.CSP)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		res, body := get(t, base+"/assets/app-abc123.js", "Accept-Encoding", "gzip")
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("not compressed: %v", res.Header)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if string(plain) != string(testFiles["assets/app-abc123.js"].Data) {
			t.Fatal("gzip body differs")
		}
	})
	t.Run("revalidation", func(t *testing.T) {
		res, _ := get(t, base+"/")
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		res, body := get(t, base+"/", "If-None-Match", etag)
		if res.StatusCode != 304 || len(body) != 0 {
			t.Fatalf("revalidation: %d %q", res.StatusCode, body)
		}
	})
	t.Run("head", func(t *testing.T) {
		res, err := http.Head(base + "/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("HEAD: %d %v", res.StatusCode, res.Header)
		}
	})
}

// TestEmbedded checks the committed build: a page without inline script
// whose assets are all served.
func TestEmbedded(t *testing.T) {
	base := serve(t, nil)
	_, page := get(t, base+"/")
	html := string(page)
	if !strings.Contains(html, `<script type="module"`) {
		t.Fatalf("no module script in the embedded page:\n%s", html)
	}
	rest := html
	assets := 0
	for {
		i := strings.Index(rest, `"/assets/`)
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		name := rest[:strings.IndexByte(rest, '"')]
		res, _ := get(t, base+name)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
		assets++
	}
	if assets < 2 {
		t.Fatalf("the page names %d assets", assets)
	}
	// Every <script> has a src: the CSP would block an inline one.
	for _, s := range strings.Split(html, "<script")[1:] {
		if !strings.Contains(s[:strings.IndexByte(s, '>')], "src=") {
			t.Fatalf("inline script in the embedded page:\n%s", html)
		}
	}
}
