package oci_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/oci"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/blob/s3"
	"entrepot/hosted/bolt"
	"entrepot/hosted/mongo"
)

// Two edges share the metadata store and the blob store and nothing else
// (each has its own registry, caches, spool folder and server): every
// request of an upload session is taken by either. The cases run on the
// embedded stores and, when the test environment provides them, on
// FerretDB and MinIO.

// stores are the backends the twin edges share.
type stores struct {
	name  string
	meta  hosted.Store
	blobs blob.Store
}

// sharedStores returns the embedded stores, and MongoDB (FerretDB) with S3
// (MinIO) when ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT
// say where they are, each fresh.
func sharedStores(t *testing.T) []func(t *testing.T) stores {
	embedded := func(t *testing.T) stores {
		dir := t.TempDir()
		meta, err := bolt.Open(filepath.Join(dir, "entrepot.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { meta.Close(context.Background()) })
		blobs, err := fs.New(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return stores{"embedded", meta, blobs}
	}
	remote := func(t *testing.T) stores {
		mongoURL, s3URL := os.Getenv("ENTREPOT_TEST_MONGODB_URL"), os.Getenv("ENTREPOT_TEST_S3_ENDPOINT")
		if mongoURL == "" || s3URL == "" {
			t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are unset: no FerretDB and MinIO (deploy/testenv/start.sh starts them)")
		}
		ctx := context.Background()
		id := make([]byte, 6)
		rand.Read(id)
		name := "oci_scale_" + hex.EncodeToString(id)
		meta, err := mongo.Open(ctx, mongoURL, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { meta.Close(context.Background()) })
		blobs, err := s3.New(ctx, s3.Config{
			Endpoint: s3URL, Bucket: os.Getenv("ENTREPOT_TEST_S3_BUCKET"), Region: cmpOr(os.Getenv("ENTREPOT_TEST_S3_REGION"), "us-east-1"),
			AccessKey: os.Getenv("ENTREPOT_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
			ForcePathStyle: true, Prefix: strings.ReplaceAll(name, "_", "-"), TempDir: t.TempDir(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return stores{"ferretdb+minio", meta, blobs}
	}
	return []func(t *testing.T) stores{embedded, remote}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// twins starts two edges serving OCI over st, and returns them with
// their handlers.
func twins(t *testing.T, st stores) (a, b *testkit.Edge, ha, hb *oci.Handler) {
	t.Helper()
	mount := func(h **oci.Handler) func(r *edge.Registry, m *edge.Mux) {
		return func(r *edge.Registry, m *edge.Mux) {
			*h = oci.New(r, nil, oci.Options{})
			(*h).Mount(m.Group(""))
			t.Cleanup((*h).Close)
		}
	}
	a = testkit.StartEdge(t, testkit.EdgeOptions{MaxUpload: 1 << 30, Meta: st.meta, Blobs: st.blobs}, mount(&ha))
	return a, a.Twin(t, testkit.EdgeOptions{MaxUpload: 1 << 30}, mount(&hb)), ha, hb
}

func forEachStores(t *testing.T, fn func(t *testing.T, st stores)) {
	for i, mk := range sharedStores(t) {
		t.Run([]string{"embedded", "ferretdb+minio"}[i], func(t *testing.T) { fn(t, mk(t)) })
	}
}

// admin sends a request with the admin's Basic credentials to e.
func admin(t *testing.T, e *testkit.Edge, method, path string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	return e.Do(t, method, path, body, append([]string{"Authorization", testkit.Basic("admin", testkit.AdminPassword)}, header...)...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestTwinEdgesUpload alternates the requests of upload sessions between
// two edges: POST on A, PATCH on B, PATCH on A, status GET on B, PUT on
// A; a streamed PATCH and a PUT without body on different edges; chunks
// out of order or overlapping answered 416 with the Range any edge can
// complete; a cancel and a mount on the other edge.
func TestTwinEdgesUpload(t *testing.T) {
	forEachStores(t, func(t *testing.T, st stores) {
		a, b, _, hb := twins(t, st)
		data := randomBytes(3<<20 + 1234)
		d := digestOf(data)
		c1, c2 := 1<<20, 2<<20 // chunk boundaries
		rng := func(from, to int) string { return fmt.Sprintf("%d-%d", from, to-1) }

		resp, body := admin(t, a, "POST", "/v2/acme/twin/blobs/uploads/", nil)
		if resp.StatusCode != 202 {
			t.Fatalf("POST on A: %d %s", resp.StatusCode, body)
		}
		loc := resp.Header.Get("Location")
		if resp, body = admin(t, b, "PATCH", loc, data[:c1], "Content-Range", rng(0, c1)); resp.StatusCode != 202 || resp.Header.Get("Range") != rng(0, c1) {
			t.Fatalf("PATCH on B: %d %q %s", resp.StatusCode, resp.Header.Get("Range"), body)
		}
		loc = resp.Header.Get("Location")
		if resp, body = admin(t, a, "PATCH", loc, data[c1:c2], "Content-Range", rng(c1, c2)); resp.StatusCode != 202 || resp.Header.Get("Range") != rng(0, c2) {
			t.Fatalf("PATCH on A: %d %q %s", resp.StatusCode, resp.Header.Get("Range"), body)
		}
		if resp, _ = admin(t, b, "GET", loc, nil); resp.StatusCode != 204 || resp.Header.Get("Range") != rng(0, c2) {
			t.Fatalf("status GET on B: %d %q", resp.StatusCode, resp.Header.Get("Range"))
		}
		// An overlapping chunk, on either edge, and one past the end.
		for _, x := range []struct {
			e    *testkit.Edge
			from int
		}{{b, c1}, {a, 0}, {b, c2 + 10}} {
			resp, body = admin(t, x.e, "PATCH", loc, data[x.from:x.from+100], "Content-Range", rng(x.from, x.from+100))
			if resp.StatusCode != 416 || resp.Header.Get("Range") != rng(0, c2) || errCode(body) != "RANGE_INVALID" {
				t.Fatalf("chunk at %d: %d %q %s", x.from, resp.StatusCode, resp.Header.Get("Range"), body)
			}
		}
		if resp, body = admin(t, a, "PUT", loc+"?digest="+d, data[c2:], "Content-Range", rng(c2, len(data))); resp.StatusCode != 201 {
			t.Fatalf("PUT on A: %d %s", resp.StatusCode, body)
		}
		if resp, body = admin(t, b, "GET", "/v2/acme/twin/blobs/"+d, nil); resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("blob on B: %d, %d bytes", resp.StatusCode, len(body))
		}
		if resp, _ = admin(t, b, "GET", loc, nil); resp.StatusCode != 404 {
			t.Fatalf("the finished session on B: %d", resp.StatusCode)
		}

		t.Run("streamed PATCH, PUT without body", func(t *testing.T) {
			other := randomBytes(1<<20 + 7)
			resp, _ := admin(t, b, "POST", "/v2/acme/twin/blobs/uploads/", nil)
			loc := resp.Header.Get("Location")
			req, _ := http.NewRequest("PATCH", a.URL+loc, io.MultiReader(bytes.NewReader(other))) // no length: chunked
			req.Header.Set("Authorization", testkit.Basic("admin", testkit.AdminPassword))
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != 202 || r.Header.Get("Range") != rng(0, len(other)) {
				t.Fatalf("streamed PATCH on A: %d %q", r.StatusCode, r.Header.Get("Range"))
			}
			if resp, body := admin(t, b, "PUT", r.Header.Get("Location")+"?digest="+digestOf(other), nil); resp.StatusCode != 201 {
				t.Fatalf("PUT on B: %d %s", resp.StatusCode, body)
			}
			if resp, _ := admin(t, a, "HEAD", "/v2/acme/twin/blobs/"+digestOf(other), nil); resp.StatusCode != 200 {
				t.Fatalf("blob on A: %d", resp.StatusCode)
			}
		})
		t.Run("cancel on the other edge", func(t *testing.T) {
			resp, _ := admin(t, a, "POST", "/v2/acme/twin/blobs/uploads/", nil)
			loc := resp.Header.Get("Location")
			admin(t, a, "PATCH", loc, data[:c1], "Content-Range", rng(0, c1))
			if resp, _ := admin(t, b, "DELETE", loc, nil); resp.StatusCode != 204 {
				t.Fatalf("DELETE on B: %d", resp.StatusCode)
			}
			// A chunk for the ended session: the error, not a reset, even
			// with a body the edge never reads.
			if resp, body := admin(t, a, "PATCH", loc, data[c1:], "Content-Range", rng(c1, len(data))); resp.StatusCode != 404 || errCode(body) != "BLOB_UPLOAD_UNKNOWN" {
				t.Fatalf("PATCH after the cancel: %d %s", resp.StatusCode, body)
			}
		})
		t.Run("the other edge sweeps", func(t *testing.T) {
			// A session abandoned on A, with a chunk and a chunk object a
			// PATCH cut by a crash stored without recording it.
			resp, _ := admin(t, a, "POST", "/v2/acme/twin/blobs/uploads/", nil)
			loc := resp.Header.Get("Location")
			id := loc[strings.LastIndexByte(loc, '/')+1:]
			admin(t, a, "PATCH", loc, data[:c1], "Content-Range", rng(0, c1))
			scratch := st.blobs.(blob.Scratch)
			ctx := context.Background()
			if _, err := scratch.PutScratch(ctx, "oci-uploads/"+id+"/crashed", bytes.NewReader([]byte("cut short"))); err != nil {
				t.Fatal(err)
			}
			objects := func() (n int) {
				scratch.ListScratch(ctx, "oci-uploads/"+id+"/", func(string, time.Time) bool { n++; return true })
				return n
			}
			// Past the sweep interval, the unrecorded chunk goes; the
			// session stays, and A still takes it.
			if n := hb.Sweep(ctx, time.Now().Add(11*time.Minute)); n != 0 || objects() != 1 {
				t.Fatalf("a sweep inside the session's life ended %d sessions and left %d objects", n, objects())
			}
			if resp, _ := admin(t, a, "GET", loc, nil); resp.StatusCode != 204 || resp.Header.Get("Range") != rng(0, c1) {
				t.Fatalf("the session after the sweep: %d %q", resp.StatusCode, resp.Header.Get("Range"))
			}
			// Once idle past its lifetime, it goes with its chunks.
			if n := hb.Sweep(ctx, time.Now().Add(25*time.Hour)); n == 0 || objects() != 0 {
				t.Fatalf("the expired session: %d ended, %d objects left", n, objects())
			}
			if resp, _ := admin(t, a, "GET", loc, nil); resp.StatusCode != 404 {
				t.Fatalf("the swept session on A: %d", resp.StatusCode)
			}
		})
		t.Run("mount on the other edge", func(t *testing.T) {
			resp, body := admin(t, b, "POST", "/v2/acme/other/blobs/uploads/?mount="+d+"&from=acme/twin", nil)
			if resp.StatusCode != 201 {
				t.Fatalf("mount on B: %d %s", resp.StatusCode, body)
			}
			if resp, _ := admin(t, a, "HEAD", "/v2/acme/other/blobs/"+d, nil); resp.StatusCode != 200 {
				t.Fatalf("mounted blob on A: %d", resp.StatusCode)
			}
		})
	})
}

// roundRobin is a reverse proxy that sends each request to the next of
// backends, as a load balancer without sticky sessions does, and counts
// the upload requests each backend took.
type roundRobin struct {
	next    atomic.Uint64
	proxies []*httputil.ReverseProxy
	uploads []atomic.Int64
}

func newRoundRobin(t *testing.T, backends ...string) (*roundRobin, *httptest.Server) {
	rr := &roundRobin{uploads: make([]atomic.Int64, len(backends))}
	for _, b := range backends {
		u, _ := url.Parse(b)
		rr.proxies = append(rr.proxies, httputil.NewSingleHostReverseProxy(u))
	}
	srv := httptest.NewServer(rr)
	t.Cleanup(srv.Close)
	return rr, srv
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(rr.next.Add(1) % uint64(len(rr.proxies)))
	if strings.Contains(r.URL.Path, "/blobs/uploads/") {
		rr.uploads[i].Add(1)
	}
	rr.proxies[i].ServeHTTP(w, r)
}

// TestTwinEdgesSkopeo pushes an image of three layers, one of 24 MiB,
// with skopeo through a round-robin proxy in front of two edges, pulls it
// back the same way and compares the digests.
func TestTwinEdgesSkopeo(t *testing.T) {
	skopeoBin := testkit.RequireTool(t, "skopeo")
	forEachStores(t, func(t *testing.T, st stores) {
		a, b, _, _ := twins(t, st)
		rr, front := newRoundRobin(t, a.URL, b.URL)
		host := strings.TrimPrefix(front.URL, "http://")
		src := t.TempDir()
		want := ociLayout(t, src, 24<<20, 300<<10, 5000)
		creds := "admin:" + testkit.AdminPassword
		ref := "docker://" + host + "/acme/big:1"
		if out, err := testkit.Run(t, "", nil, skopeoBin, "copy", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+src+":1", ref); err != nil {
			t.Fatalf("skopeo push: %v\n%s", err, out)
		}
		t.Logf("upload requests per edge: %d, %d", rr.uploads[0].Load(), rr.uploads[1].Load())
		if rr.uploads[0].Load() == 0 || rr.uploads[1].Load() == 0 {
			t.Fatal("the upload requests were not spread over both edges")
		}
		dst := t.TempDir()
		if out, err := testkit.Run(t, "", nil, skopeoBin, "copy", "--src-tls-verify=false", "--src-creds", creds, ref, "oci:"+dst+":1"); err != nil {
			t.Fatalf("skopeo pull: %v\n%s", err, out)
		}
		got := layoutManifest(t, dst)
		if got.digest != want.digest || strings.Join(got.layers, ",") != strings.Join(want.layers, ",") {
			t.Fatalf("pulled %+v, pushed %+v", got, want)
		}
		for _, l := range want.layers {
			if _, err := os.Stat(filepath.Join(dst, "blobs", "sha256", strings.TrimPrefix(l, "sha256:"))); err != nil {
				t.Fatalf("layer %s not pulled: %v", l, err)
			}
		}
	})
}

// image is what an OCI layout holds: its manifest's digest and its
// layers' digests, in order.
type image struct {
	digest string
	layers []string
}

// ociLayout writes an OCI image layout under dir, tagged "1", with one
// uncompressed tar layer per size (a file of that many random bytes).
func ociLayout(t *testing.T, dir string, sizes ...int) image {
	t.Helper()
	put := func(b []byte) string {
		d := digestOf(b)
		p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	var img image
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	var layers []desc
	var diffIDs []string
	for i, n := range sizes {
		// Compressed already, so that the client pushes these very bytes.
		var tarred, buf bytes.Buffer
		tw := tar.NewWriter(&tarred)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d.bin", i), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
		tw.Write(randomBytes(n))
		tw.Close()
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(tarred.Bytes())
		zw.Close()
		d := put(buf.Bytes())
		layers = append(layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", d, buf.Len()})
		diffIDs = append(diffIDs, digestOf(tarred.Bytes()))
		img.layers = append(img.layers, d)
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc{"application/vnd.oci.image.config.v1+json", put(cfg), len(cfg)},
		"layers": layers,
	})
	img.digest = put(m)
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img.digest, "size": len(m),
		"annotations": map[string]string{"org.opencontainers.image.ref.name": "1"},
	}}})
	os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return img
}

// layoutManifest reads back the image of an OCI layout that skopeo wrote.
func layoutManifest(t *testing.T, dir string) image {
	t.Helper()
	var idx struct{ Manifests []struct{ Digest string } }
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || json.Unmarshal(raw, &idx) != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, raw)
	}
	img := image{digest: idx.Manifests[0].Digest}
	raw, _ = os.ReadFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(img.digest, "sha256:")))
	var m struct{ Layers []struct{ Digest string } }
	json.Unmarshal(raw, &m)
	for _, l := range m.Layers {
		img.layers = append(img.layers, l.Digest)
	}
	if s := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(s[:]) != img.digest {
		t.Fatalf("manifest %s does not match its digest", img.digest)
	}
	return img
}
