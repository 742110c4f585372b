package oci

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/upstream"
)

// fakeRegistry is an upstream OCI registry that insists on the token
// dance and counts what it serves.
type fakeRegistry struct {
	srv     *httptest.Server
	mu      sync.Mutex
	content map[string][]byte // path under /v2/ → bytes
	types   map[string]string
	hits    map[string]int // "METHOD path"
	tokens  atomic.Int32
	down    atomic.Bool
	gate    chan struct{} // when set, blob GETs wait for it
	sent    atomic.Int64  // body bytes written
}

func newFakeRegistry(t *testing.T) *fakeRegistry {
	f := &fakeRegistry{content: map[string][]byte{}, types: map[string]string{}, hits: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRegistry) put(path string, b []byte, mt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.content[path] = b
	f.types[path] = mt
}

func (f *fakeRegistry) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		w.WriteHeader(503)
		return
	}
	if r.URL.Path == "/token" {
		f.tokens.Add(1)
		w.Write([]byte(`{"token":"T","expires_in":300}`))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v2/")
	if r.Header.Get("Authorization") != "Bearer T" {
		name, _, _ := strings.Cut(path, "/manifests/")
		name, _, _ = strings.Cut(name, "/blobs/")
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+f.srv.URL+`/token",service="fake",scope="repository:`+name+`:pull"`)
		w.WriteHeader(401)
		return
	}
	f.mu.Lock()
	f.hits[r.Method+" "+path]++
	b, ok := f.content[path]
	mt := f.types[path]
	gate := f.gate
	f.mu.Unlock()
	if !ok {
		w.WriteHeader(404)
		return
	}
	if strings.Contains(path, "/blobs/") && gate != nil {
		<-gate
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Docker-Content-Digest", sha(b))
	if r.Method == "HEAD" {
		w.Header().Set("Content-Length", itoa(len(b)))
		return
	}
	n, _ := w.Write(b)
	f.sent.Add(int64(n))
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPullThrough(t *testing.T) {
	f := newFakeRegistry(t)
	layer := []byte("a mirrored layer")
	cfg := []byte(`{"os":"linux"}`)
	m := []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + sha(cfg) + `","size":` + itoa(len(cfg)) + `},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + sha(layer) + `","size":` + itoa(len(layer)) + `}]}`)
	f.put("library/nginx/manifests/latest", m, mtOCIManifest)
	f.put("library/nginx/manifests/"+sha(m), m, mtOCIManifest)
	f.put("library/nginx/blobs/"+sha(layer), layer, "application/octet-stream")
	f.put("library/nginx/blobs/"+sha(cfg), bytes.Replace(cfg, []byte("linux"), []byte("LINUX"), 1), "application/octet-stream") // corrupt
	f.put("library/nginx/tags/list", []byte(`{"name":"library/nginx","tags":["latest"]}`), "application/json")
	up, err := upstream.New("oci/hub", f.srv.URL+"/?official=library", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := newHarness(t, map[string]*upstream.Client{"hub": up}, Options{})

	get := func(path string, hdr ...string) (*http.Response, []byte) {
		return x.do("GET", path, nil, append([]string{"Authorization", ""}, hdr...)...)
	}
	if resp, body := get("/v2/hub/nginx/manifests/latest", "Accept", mtOCIManifest); resp.StatusCode != 200 || !bytes.Equal(body, m) || resp.Header.Get("Docker-Content-Digest") != sha(m) {
		t.Fatalf("manifest by tag: %d %s", resp.StatusCode, short(body))
	}
	if f.tokens.Load() != 1 {
		t.Fatalf("%d token requests", f.tokens.Load())
	}
	get("/v2/hub/nginx/manifests/latest")
	if n := f.count("GET library/nginx/manifests/latest"); n != 1 {
		t.Fatalf("a fresh tag went upstream: %d GETs", n)
	}
	// Once a tag is stale, a HEAD revalidates it: no second GET.
	f.put("library/nginx/manifests/stable", m, mtOCIManifest)
	y := newHarness(t, map[string]*upstream.Client{"hub": up}, Options{}, time.Nanosecond)
	for i := 0; i < 3; i++ {
		if resp, _ := y.do("GET", "/v2/hub/library/nginx/manifests/stable", nil); resp.StatusCode != 200 {
			t.Fatalf("revalidated tag: %d", resp.StatusCode)
		}
	}
	if g, h := f.count("GET library/nginx/manifests/stable"), f.count("HEAD library/nginx/manifests/stable"); g != 1 || h != 2 {
		t.Fatalf("revalidation: %d GETs, %d HEADs", g, h)
	}

	// A stampede of cold blob pulls makes one upstream request.
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := get("/v2/hub/nginx/blobs/" + sha(layer))
			if resp.StatusCode != 200 || !bytes.Equal(body, layer) {
				bad.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // let the requests pile up on the flight
	close(f.gate)
	wg.Wait()
	if bad.Load() > 0 || f.count("GET library/nginx/blobs/"+sha(layer)) != 1 {
		t.Fatalf("stampede: %d bad answers, %d upstream GETs", bad.Load(), f.count("GET library/nginx/blobs/"+sha(layer)))
	}
	// Corrupt upstream bytes are refused and never cached.
	if resp, body := get("/v2/hub/nginx/blobs/" + sha(cfg)); resp.StatusCode != 502 {
		t.Fatalf("corrupt blob: %d %s", resp.StatusCode, short(body))
	}
	get("/v2/hub/nginx/blobs/" + sha(cfg))
	if n := f.count("GET library/nginx/blobs/" + sha(cfg)); n != 2 {
		t.Fatalf("corrupt blob cached: %d upstream GETs", n)
	}
	if _, body := get("/v2/hub/nginx/tags/list"); string(body) != `{"name":"hub/nginx","tags":["latest"]}` {
		t.Fatalf("tags: %s", body)
	}
	// Upstream down: cached tags and blobs are still served.
	f.down.Store(true)
	if resp, _ := get("/v2/hub/nginx/manifests/latest"); resp.StatusCode != 200 {
		t.Fatalf("stale tag with the upstream down: %d", resp.StatusCode)
	}
	if resp, _ := get("/v2/hub/nginx/blobs/" + sha(layer)); resp.StatusCode != 200 {
		t.Fatalf("cached blob with the upstream down: %d", resp.StatusCode)
	}
	// Mirrors are read-only, and a prefix wins over an organization.
	if resp, body := x.do("POST", "/v2/hub/nginx/blobs/uploads/", nil); resp.StatusCode != 403 || code(body) != codeDenied {
		t.Fatalf("push to a mirror: %d %s", resp.StatusCode, body)
	}
}
