package edge

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"entrepot/hosted/blob"
	"entrepot/hosted/blob/blobtest"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/fault"
)

// downStore is a blob store whose reads fail as an unreachable S3 would:
// Stat answers, Open is Unavailable (and there is no OpenFile).
type downStore struct{ blob.Store }

func (downStore) Open(context.Context, blob.Digest, int64, int64) (io.ReadCloser, error) {
	return nil, fault.New("test.Open", fault.Unavailable, "the blob store is down")
}

// TestErrorAnswers checks what the Mux's error path leaves of the headers
// a handler set for the answer it meant to give.
func TestErrorAnswers(t *testing.T) {
	ctx := context.Background()
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := blobtest.Put(t, ctx, store, []byte("0123456789")).Digest

	s := newTestServer(t)
	m := s.Mux()
	rt := Route{Protocol: "test", Name: "t"}
	m.Handle("GET", "/blob", rt, func(ctx *fasthttp.RequestCtx) error {
		return ServeBlob(ctx, store, Blob{Digest: d, ContentType: "application/zip", Immutable: true})
	})
	m.Handle("HEAD", "/blob", rt, func(ctx *fasthttp.RequestCtx) error {
		return ServeBlob(ctx, store, Blob{Digest: d, Immutable: true})
	})
	m.Handle("GET", "/down", rt, func(ctx *fasthttp.RequestCtx) error {
		return ServeBlob(ctx, downStore{store}, Blob{Digest: d, ContentType: "text/xml", Immutable: true})
	})
	m.Handle("GET", "/throttled", rt, func(ctx *fasthttp.RequestCtx) error {
		ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="t"`)
		ctx.Response.Header.Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		return fault.New("test", fault.RateLimited, "slow down")
	})
	m.Handle("GET", "/timeout", rt, func(ctx *fasthttp.RequestCtx) error {
		return fault.WrapMsg("test", fault.Upstream, "upstream failed", fmt.Errorf("no response within 1s: %w", context.DeadlineExceeded))
	})
	c := testServer(t, s)

	cases := []struct {
		name, method, path string
		hdr                []string
		status             int
		want               map[string]string // "" = absent
	}{
		{"416 keeps Content-Range only", "GET", "/blob", []string{"Range", "bytes=50-"}, 416, map[string]string{
			"Content-Range": "bytes */10", "Cache-Control": "no-store", "ETag": "", "Accept-Ranges": "", "Content-Disposition": "",
		}},
		{"503 from the store", "GET", "/down", nil, 503, map[string]string{
			"Cache-Control": "no-store", "Retry-After": "5", "ETag": "", "Content-Disposition": "", "Content-Type": "application/json",
		}},
		{"429 keeps the challenge", "GET", "/throttled", nil, 429, map[string]string{
			"Retry-After": "5", "WWW-Authenticate": `Basic realm="t"`, "Last-Modified": "",
		}},
		{"upstream timeout", "GET", "/timeout", nil, 504, map[string]string{"Cache-Control": "no-store", "Retry-After": ""}},
		{"HEAD 416 has no body", "HEAD", "/blob", []string{"Range", "bytes=50-"}, 416, map[string]string{"Cache-Control": "no-store"}},
		{"no route", "GET", "/nowhere", nil, 404, map[string]string{"Cache-Control": "no-store"}},
		{"success keeps caching", "GET", "/blob", nil, 200, map[string]string{
			"Cache-Control": "public, max-age=31536000, immutable", "Content-Disposition": "",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, c, tc.method, tc.path, nil, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d %s", resp.StatusCode, body)
			}
			for k, v := range tc.want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Content-Security-Policy") != CSP || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("security headers missing: %v", resp.Header)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no request id")
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD body %q", body)
			}
		})
	}
}

func TestStatusOfTimeouts(t *testing.T) {
	deadline := fmt.Errorf("no response within 1s: %w", context.DeadlineExceeded)
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"upstream timeout", fault.WrapMsg("u", fault.Upstream, "m", deadline), 504},
		{"fill timed out", fault.Wrap("c", fault.Unavailable, deadline), 504},
		{"wrapped again by a protocol", fault.Op("npm.x", fault.WrapMsg("u", fault.Upstream, "m", deadline)), 504},
		{"upstream refused", fault.New("u", fault.Upstream, "answered 500"), 502},
		{"store down", fault.New("s", fault.Unavailable, "down"), 503},
		{"a timeout of ours is not the upstream's", fault.Wrap("s", fault.Internal, deadline), 500},
		{"explicit status wins", WithStatus(416, fault.Wrap("r", fault.Upstream, deadline)), 416},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := StatusOf(tc.err); got != tc.want {
				t.Fatalf("%d, want %d", got, tc.want)
			}
		})
	}
}

func TestInert(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/octet-stream":                     true,
		"application/zip":                              true,
		"application/java-archive":                     true,
		"application/vnd.oci.image.manifest.v1+json":   true,
		"application/vnd.docker.image.rootfs.diff.tar": true,
		"Application/JSON; charset=utf-8":              true,
		"text/xml":                                     false,
		"application/xml":                              false,
		"application/xhtml+xml":                        false,
		"text/html":                                    false,
		"image/svg+xml":                                false,
		"text/plain; charset=utf-8":                    false,
		"application/pgp-signature":                    false,
		"application/x-made-up":                        false,
		"":                                             false,
	} {
		if inert(ct) != want {
			t.Errorf("inert(%q) = %v", ct, !want)
		}
	}
}

// TestServeDocument checks the validators, the gzip variant and HEAD of
// the one document path, for a prepared document and one built per
// request.
func TestServeDocument(t *testing.T) {
	small := []byte(`{"name":"small"}`)
	large := bytes.Repeat([]byte(`{"name":"large"},`), 200)
	modified := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prepared := NewDocument(large, DocOptions{ContentType: "application/json", CacheControl: "no-cache", Vary: "Accept"})

	s := newTestServer(t)
	rt := Route{Protocol: "test", Name: "doc"}
	for _, m := range []string{"GET", "HEAD"} {
		s.Mux().Handle(m, "/small", rt, func(ctx *fasthttp.RequestCtx) error {
			ServeDocument(ctx, small, DocOptions{ContentType: "application/json", LastModified: modified})
			return nil
		})
		s.Mux().Handle(m, "/large", rt, func(ctx *fasthttp.RequestCtx) error {
			ServeDocument(ctx, large, DocOptions{ContentType: "text/html", ETag: `"v1"`})
			return nil
		})
		s.Mux().Handle(m, "/prepared", rt, func(ctx *fasthttp.RequestCtx) error {
			prepared.Serve(ctx)
			return nil
		})
	}
	c := testServer(t, s)
	// The transport must not negotiate gzip itself: the test reads the
	// wire.
	c.Transport.(*http.Transport).DisableCompression = true

	get := func(method, path string, hdr ...string) (*http.Response, []byte) {
		return do(t, c, method, path, nil, hdr...)
	}
	r, _ := get("GET", "/small")
	smallTag := r.Header.Get("ETag")
	if r.StatusCode != 200 || smallTag == "" || r.Header.Get("Last-Modified") != "Fri, 02 Jan 2026 03:04:05 GMT" ||
		r.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("small: %d %v", r.StatusCode, r.Header)
	}
	if r, _ := get("GET", "/small", "Accept-Encoding", "gzip"); r.Header.Get("Content-Encoding") != "" || r.Header.Get("ETag") != smallTag {
		t.Fatalf("a small document was compressed: %v", r.Header)
	}
	cases := []struct {
		name, method, path string
		hdr                []string
		status             int
		encoding           string
	}{
		{"weak match in a list", "GET", "/small", []string{"If-None-Match", `"x", W/` + smallTag}, 304, ""},
		{"star", "GET", "/small", []string{"If-None-Match", "*"}, 304, ""},
		{"other tag", "GET", "/small", []string{"If-None-Match", `"other"`}, 200, ""},
		{"if-modified-since", "GET", "/small", []string{"If-Modified-Since", "Fri, 02 Jan 2026 03:04:05 GMT"}, 304, ""},
		{"modified since", "GET", "/small", []string{"If-Modified-Since", "Fri, 02 Jan 2026 03:04:04 GMT"}, 200, ""},
		{"if-none-match wins", "GET", "/small", []string{"If-None-Match", `"other"`, "If-Modified-Since", "Fri, 02 Jan 2026 03:04:05 GMT"}, 200, ""},
		{"gzip per request", "GET", "/large", []string{"Accept-Encoding", "gzip"}, 200, "gzip"},
		{"gzip tag", "GET", "/large", []string{"Accept-Encoding", "gzip", "If-None-Match", `"v1-gz"`}, 304, ""},
		{"identity tag does not match gzip", "GET", "/large", []string{"Accept-Encoding", "gzip", "If-None-Match", `"v1"`}, 200, "gzip"},
		{"identity", "GET", "/large", []string{"If-None-Match", `"v1"`}, 304, ""},
		{"prepared gzip", "GET", "/prepared", []string{"Accept-Encoding", "br, gzip"}, 200, "gzip"},
		{"gzip refused", "GET", "/prepared", []string{"Accept-Encoding", "gzip;q=0"}, 200, ""},
		{"HEAD", "HEAD", "/prepared", []string{"Accept-Encoding", "gzip"}, 200, "gzip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, body := get(tc.method, tc.path, tc.hdr...)
			if r.StatusCode != tc.status || r.Header.Get("Content-Encoding") != tc.encoding {
				t.Fatalf("%d %q %v", r.StatusCode, r.Header.Get("Content-Encoding"), r.Header)
			}
			if r.Header.Get("ETag") == "" || r.Header.Get("Vary") == "" {
				t.Fatalf("validators missing: %v", r.Header)
			}
			switch {
			case tc.status == 304 || tc.method == "HEAD":
				if len(body) != 0 {
					t.Fatalf("body %q", body)
				}
			case tc.encoding == "gzip":
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(zr); !bytes.Equal(b, large) {
					t.Fatal("gzip body differs")
				}
			}
		})
	}
	if r, _ := get("GET", "/prepared"); r.Header.Get("Vary") != "Accept, Accept-Encoding" || r.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("prepared: %v", r.Header)
	}
	if r, _ := do(t, c, "POST", "/small", nil, "If-None-Match", "*"); r.StatusCode == 304 {
		t.Fatal("304 to a POST")
	}
}

// TestDocumentAllocs guards the hot document path: a prepared document,
// revalidated or sent gzip, through the Mux over an in-memory listener,
// allocates no more per request than the budget below (the Mux's request
// id and access log included).
func TestDocumentAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not measured under the race detector")
	}
	doc := NewDocument(bytes.Repeat([]byte(`{"name":"x"},`), 100), DocOptions{ContentType: "application/json", CacheControl: "no-cache", Vary: "Accept"})
	s := New(Config{Logger: discard()})
	s.Mux().Handle("GET", "/doc", Route{Protocol: "test", Name: "doc"}, func(ctx *fasthttp.RequestCtx) error {
		doc.Serve(ctx)
		return nil
	})
	ln := fasthttputil.NewInmemoryListener()
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	hc := &fasthttp.HostClient{Addr: "edge", Dial: func(string) (net.Conn, error) { return ln.Dial() }}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://edge/doc")
	req.Header.Set("Accept-Encoding", "gzip")
	if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("%v %d", err, resp.StatusCode())
	}
	tag := string(resp.Header.Peek("ETag"))
	for _, tc := range []struct {
		name string
		inm  string
		want int
	}{{"gzip", "", 200}, {"revalidated", tag, 304}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.inm != "" {
				req.Header.Set("If-None-Match", tc.inm)
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := hc.Do(req, resp); err != nil || resp.StatusCode() != tc.want {
					t.Fatalf("%v %d", err, resp.StatusCode())
				}
			})
			// Measured at 2 (gzip) and 3 (304): the Mux's request id
			// string; the document itself adds none.
			if allocs > docAllocBudget {
				t.Fatalf("%.1f allocations per request, budget %d", allocs, docAllocBudget)
			}
		})
	}
}

const docAllocBudget = 3

func discard() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
