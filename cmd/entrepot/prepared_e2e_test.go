package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestLargePackumentFromFile drives the binary with a small CACHE_MEMORY
// and a mirrored packument of about 1 MiB: the prepared document leaves
// from a file in DATA_DIR/prepared (which fasthttp sends by sendfile), and
// the client gets the right bytes, identity and gzip, a 304 on its tag and
// the length on HEAD, with one upstream fetch.
func TestLargePackumentFromFile(t *testing.T) {
	up := testkit.NewUpstream(t)
	versions := map[string]any{}
	for i := range 3000 {
		v := fmt.Sprintf("1.%d.0", i)
		versions[v] = map[string]any{"name": "big-pkg", "version": v, "dependencies": map[string]string{"dep-" + v: "^" + v},
			"dist": map[string]string{"tarball": up.URL + "/npm-files/big-pkg-" + v + ".tgz", "shasum": fmt.Sprintf("%040x", i*7919)}}
	}
	packument, _ := json.Marshal(map[string]any{"name": "big-pkg", "dist-tags": map[string]string{"latest": "1.0.0"}, "versions": versions})
	up.Handle("/npm/big-pkg", packument, func(r *testkit.Route) { r.ContentType = "application/json" })
	dir := t.TempDir()
	s := testkit.Start(t, "DATA_DIR="+dir, "CACHE_MEMORY=2", "UPSTREAM_NPM="+up.URL+"/npm/")

	const abbr = "application/vnd.npm.install-v1+json"
	resp, body := testkit.Request(t, "GET", s.URL+"/npm/big-pkg", nil, "Accept", abbr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	var doc struct {
		Versions map[string]struct {
			Dist struct{ Tarball string } `json:"dist"`
		} `json:"versions"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("served packument: %v", err)
	}
	if len(doc.Versions) != 3000 || !strings.HasPrefix(doc.Versions["1.42.0"].Dist.Tarball, s.URL+"/npm/") {
		t.Fatalf("%d versions, tarball %q", len(doc.Versions), doc.Versions["1.42.0"].Dist.Tarball)
	}
	t.Logf("packument: %d bytes upstream, %d served", len(packument), len(body))
	files, _ := filepath.Glob(filepath.Join(dir, "prepared", "*"))
	if len(files) == 0 {
		t.Fatal("no prepared file for a 1 MiB packument")
	}

	etag := resp.Header.Get("ETag")
	for range 3 { // hot: from the prepared file, the same bytes each time
		resp, again := testkit.Request(t, "GET", s.URL+"/npm/big-pkg", nil, "Accept", abbr)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(again, body) || resp.Header.Get("ETag") != etag {
			t.Fatalf("hot GET: %d, %d bytes, ETag %q (was %q)", resp.StatusCode, len(again), resp.Header.Get("ETag"), etag)
		}
	}

	// Setting Accept-Encoding keeps the client from decoding: the test does.
	resp, gz := testkit.Request(t, "GET", s.URL+"/npm/big-pkg", nil, "Accept", abbr, "Accept-Encoding", "gzip")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip GET: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, body) {
		t.Fatalf("gzip variant decodes to %d bytes, want %d", len(plain), len(body))
	}
	gzTag := resp.Header.Get("ETag")

	for _, c := range []struct{ name, tag, ae string }{{"identity", etag, ""}, {"gzip", gzTag, "gzip"}} {
		h := []string{"Accept", abbr, "If-None-Match", c.tag}
		if c.ae != "" {
			h = append(h, "Accept-Encoding", c.ae)
		}
		if resp, b := testkit.Request(t, "GET", s.URL+"/npm/big-pkg", nil, h...); resp.StatusCode != http.StatusNotModified || len(b) != 0 {
			t.Errorf("%s If-None-Match: %d, %d bytes", c.name, resp.StatusCode, len(b))
		}
	}
	resp, _ = testkit.Request(t, "HEAD", s.URL+"/npm/big-pkg", nil, "Accept", abbr)
	if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(body)) {
		t.Errorf("HEAD: %d, Content-Length %d, want %d", resp.StatusCode, resp.ContentLength, len(body))
	}
	if n := up.Hits("/npm/big-pkg"); n != 1 {
		t.Errorf("%d upstream fetches, want 1", n)
	}
}
