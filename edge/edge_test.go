package edge

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/blob"
	"entrepot/hosted/blob/blobtest"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/fault"
)

// testServer runs s on a loopback port and returns an HTTP client that
// dials it whatever the URL's host.
func testServer(t *testing.T, s *Server) *http.Client {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", ln.Addr().String())
		},
	}}
}

func newTestServer(t *testing.T) *Server {
	return New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func do(t *testing.T, c *http.Client, method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://edge.test"+path, body)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestServeBlob(t *testing.T) {
	ctx := context.Background()
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	small := []byte("0123456789")
	big := bytes.Repeat([]byte("entrepot"), 64<<10) // over fasthttp's sendfile threshold
	ds := blobtest.Put(t, ctx, store, small).Digest
	db := blobtest.Put(t, ctx, store, big).Digest

	s := newTestServer(t)
	s.Mux().Handle("GET", "/b/{d}", Route{Protocol: "test", Name: "blob"}, func(ctx *fasthttp.RequestCtx) error {
		return ServeBlob(ctx, store, Blob{Digest: blob.Digest(ctx.UserValue("d").(string)), ContentType: "application/x-test", Immutable: true})
	})
	s.Mux().Handle("HEAD", "/b/{d}", Route{Protocol: "test", Name: "blob"}, func(ctx *fasthttp.RequestCtx) error {
		return ServeBlob(ctx, store, Blob{Digest: blob.Digest(ctx.UserValue("d").(string))})
	})
	c := testServer(t, s)
	etag := `"` + string(ds) + `"`

	cases := []struct {
		name       string
		method     string
		digest     blob.Digest
		hdr        []string
		wantStatus int
		wantBody   string
		wantHdr    map[string]string
	}{
		{"whole", "GET", ds, nil, 200, "0123456789", map[string]string{"ETag": etag, "Content-Type": "application/x-test", "Accept-Ranges": "bytes", "Content-Length": "10"}},
		{"range", "GET", ds, []string{"Range", "bytes=2-4"}, 206, "234", map[string]string{"Content-Range": "bytes 2-4/10"}},
		{"open range", "GET", ds, []string{"Range", "bytes=7-"}, 206, "789", nil},
		{"suffix range", "GET", ds, []string{"Range", "bytes=-3"}, 206, "789", nil},
		{"range past end clamps", "GET", ds, []string{"Range", "bytes=8-100"}, 206, "89", nil},
		{"unsatisfiable", "GET", ds, []string{"Range", "bytes=10-"}, 416, "", map[string]string{"Content-Range": "bytes */10"}},
		{"multiple ranges: whole body", "GET", ds, []string{"Range", "bytes=0-1,3-4"}, 200, "0123456789", nil},
		{"if-range mismatch: whole body", "GET", ds, []string{"Range", "bytes=2-4", "If-Range", `"other"`}, 200, "0123456789", nil},
		{"if-range match", "GET", ds, []string{"Range", "bytes=2-4", "If-Range", etag}, 206, "234", nil},
		{"not modified", "GET", ds, []string{"If-None-Match", etag}, 304, "", nil},
		{"not modified weak list", "GET", ds, []string{"If-None-Match", `"x", W/` + etag}, 304, "", nil},
		{"head", "HEAD", ds, nil, 200, "", map[string]string{"Content-Length": "10"}},
		{"head range", "HEAD", ds, []string{"Range", "bytes=0-0"}, 206, "", map[string]string{"Content-Length": "1"}},
		{"missing", "GET", blob.NewDigest(blob.SHA256, make([]byte, 32)), nil, 404, "", nil},
		{"invalid digest", "GET", "sha256:nothex", nil, 400, "", nil},
		{"big (sendfile)", "GET", db, nil, 200, string(big), nil},
		{"big range (sendfile after seek)", "GET", db, []string{"Range", "bytes=100000-299999"}, 206, string(big[100000:300000]), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, c, tc.method, "/b/"+string(tc.digest), nil, tc.hdr...)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus < 300 && string(body) != tc.wantBody {
				t.Fatalf("body %d bytes, want %d", len(body), len(tc.wantBody))
			}
			for k, v := range tc.wantHdr {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	s := newTestServer(t)
	s.Mux().Handle("PUT", "/up", Route{Protocol: "test", Name: "up"}, func(ctx *fasthttp.RequestCtx) error {
		r, err := Body(ctx, 1<<20)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil {
			return err
		}
		ctx.SetBodyString(strings.Repeat("x", int(n%7)))
		return nil
	})
	c := testServer(t, s)
	cases := []struct {
		name   string
		size   int
		chunk  bool // no Content-Length: the limit must still hold
		status int
	}{
		{"under", 1000, false, 200},
		{"exactly", 1 << 20, false, 200},
		{"chunked under", 5000, true, 200},
		{"chunked exactly", 1 << 20, true, 200},
		{"chunked over", 3 << 20, true, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(make([]byte, tc.size))
			if tc.chunk {
				body = io.MultiReader(body) // hides the length: chunked encoding
			}
			resp, b := do(t, c, "PUT", "/up", body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status == 413 && !bytes.Contains(b, []byte("too_large")) {
				t.Fatalf("body %s", b)
			}
		})
	}
	// A declared length over the limit is refused after the first bytes:
	// the client gets its 413 without sending the rest of the 1 GiB.
	t.Run("declared over", func(t *testing.T) {
		conn, err := c.Transport.(*http.Transport).DialContext(context.Background(), "tcp", "")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(conn, "PUT /up HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 1073741824\r\n\r\n")
		conn.Write(make([]byte, 64<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || !bytes.Contains(b, []byte("too_large")) {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	})
}

func TestRecoverAndErrors(t *testing.T) {
	s := newTestServer(t)
	s.Mux().Handle("GET", "/panic", Route{Protocol: "test", Name: "panic"}, func(ctx *fasthttp.RequestCtx) error {
		panic("boom: secret detail")
	})
	s.Mux().Handle("GET", "/internal", Route{Protocol: "test", Name: "internal"}, func(ctx *fasthttp.RequestCtx) error {
		return fault.Wrap("test", fault.Internal, io.ErrUnexpectedEOF)
	})
	s.Mux().Handle("GET", "/conflict", Route{Protocol: "test", Name: "conflict"}, func(ctx *fasthttp.RequestCtx) error {
		return fault.New("test", fault.Conflict, "version 1.0.0 exists")
	})
	s.Mux().Handle("GET", "/custom", Route{Protocol: "test", Name: "custom", Render: func(ctx *fasthttp.RequestCtx, err error) {
		ctx.SetBodyString("custom:" + fault.Message(err))
	}}, func(ctx *fasthttp.RequestCtx) error {
		return fault.New("test", fault.Forbidden, "no")
	})
	c := testServer(t, s)
	cases := []struct {
		path, reqID string
		status      int
		want        string
		notWant     string
	}{
		{"/panic", "", 500, "internal error (request id ", "boom"},
		{"/internal", "abc-123", 500, `"requestId":"abc-123"`, "unexpected EOF"},
		{"/conflict", "", 409, `"message":"version 1.0.0 exists"`, ""},
		{"/custom", "", 403, "custom:no", ""},
		{"/nowhere", "", 404, `"code":"not_found"`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, b := do(t, c, "GET", tc.path, nil, "X-Request-Id", tc.reqID)
			if resp.StatusCode != tc.status || !bytes.Contains(b, []byte(tc.want)) || (tc.notWant != "" && bytes.Contains(b, []byte(tc.notWant))) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if tc.reqID != "" && resp.Header.Get("X-Request-Id") != tc.reqID {
				t.Fatalf("request id %q", resp.Header.Get("X-Request-Id"))
			}
		})
	}
	// the server survived the panic
	if resp, _ := do(t, c, "GET", "/conflict", nil); resp.StatusCode != 409 {
		t.Fatal("server did not survive a panic")
	}
}

func TestGracefulShutdown(t *testing.T) {
	s := newTestServer(t)
	started := make(chan struct{})
	s.Mux().Handle("GET", "/slow", Route{Protocol: "test", Name: "slow"}, func(ctx *fasthttp.RequestCtx) error {
		close(started)
		time.Sleep(300 * time.Millisecond)
		ctx.SetBodyString("finished")
		return nil
	})
	c := testServer(t, s)
	type result struct {
		status int
		body   string
	}
	done := make(chan result)
	go func() {
		resp, b := do(t, c, "GET", "/slow", nil)
		done <- result{resp.StatusCode, string(b)}
	}()
	<-started
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.status != 200 || r.body != "finished" {
		t.Fatalf("in-flight request: %+v", r)
	}
}

func TestBaseURL(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name   string
		b      BaseURL
		remote string
		hdr    map[string]string
		want   string
	}{
		{"fixed", BaseURL{Fixed: "https://r.example"}, "1.2.3.4", map[string]string{"X-Forwarded-Host": "evil"}, "https://r.example"},
		{"from host", BaseURL{}, "1.2.3.4", nil, "http://edge.test:3000"},
		{"untrusted forward ignored", BaseURL{Trusted: trusted}, "1.2.3.4", map[string]string{"X-Forwarded-Host": "evil", "X-Forwarded-Proto": "https"}, "http://edge.test:3000"},
		{"trusted forward", BaseURL{Trusted: trusted}, "10.1.2.3", map[string]string{"X-Forwarded-Host": "r.example, inner", "X-Forwarded-Proto": "https"}, "https://r.example"},
		{"trusted but bad host", BaseURL{Trusted: trusted}, "10.1.2.3", map[string]string{"X-Forwarded-Host": "r.example/evil"}, "http://edge.test:3000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.SetHost("edge.test:3000")
			for k, v := range tc.hdr {
				ctx.Request.Header.Set(k, v)
			}
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(tc.remote), Port: 1})
			if got := tc.b.For(&ctx); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestClientIP: X-Forwarded-For is believed only from trusted proxies, read
// from the right up to the first address that is not one of them.
func TestClientIP(t *testing.T) {
	b := &BaseURL{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	cases := []struct {
		name   string
		b      *BaseURL
		remote string
		xff    []string
		want   string
	}{
		{"no proxy", b, "1.2.3.4", nil, "1.2.3.4"},
		{"untrusted peer's header ignored", b, "1.2.3.4", []string{"9.9.9.9"}, "1.2.3.4"},
		{"no proxies configured", &BaseURL{}, "10.1.1.1", []string{"9.9.9.9"}, "10.1.1.1"},
		{"nil", nil, "10.1.1.1", []string{"9.9.9.9"}, "10.1.1.1"},
		{"one trusted proxy", b, "10.1.1.1", []string{"203.0.113.7"}, "203.0.113.7"},
		{"a client's forged entry is left of the real one", b, "10.1.1.1", []string{"6.6.6.6, 203.0.113.7"}, "203.0.113.7"},
		{"chained trusted proxies", b, "10.1.1.1", []string{"203.0.113.7, 10.2.2.2"}, "203.0.113.7"},
		{"several headers", b, "10.1.1.1", []string{"6.6.6.6", "203.0.113.7, 10.2.2.2"}, "203.0.113.7"},
		{"garbage stops the walk", b, "10.1.1.1", []string{"203.0.113.7, nonsense"}, "10.1.1.1"},
		{"only proxies", b, "10.1.1.1", []string{"10.3.3.3"}, "10.3.3.3"},
		{"IPv6", b, "10.1.1.1", []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			for _, v := range tc.xff {
				ctx.Request.Header.Add("X-Forwarded-For", v)
			}
			ctx.SetRemoteAddr(&net.TCPAddr{IP: net.ParseIP(tc.remote), Port: 1})
			if got := tc.b.ClientIP(&ctx); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	cases := []struct {
		h          string
		size       int64
		start, end int64
		ok         bool
	}{
		{"bytes=0-0", 10, 0, 0, true},
		{"bytes=0-", 10, 0, 9, true},
		{"bytes=-1", 10, 9, 9, true},
		{"bytes=-20", 10, 0, 9, true},
		{"bytes=-0", 10, 0, 0, false},
		{"bytes=10-", 10, 0, 0, false},
		{"bytes=5-2", 10, -1, -1, true},
		{"items=0-1", 10, -1, -1, true},
		{"bytes=a-b", 10, -1, -1, true},
		{"bytes=0-0", 0, 0, 0, false},
	}
	for _, tc := range cases {
		s, e, ok := parseRange([]byte(tc.h), tc.size)
		if s != tc.start || e != tc.end || ok != tc.ok {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v; want %d, %d, %v", tc.h, tc.size, s, e, ok, tc.start, tc.end, tc.ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add([]byte("bytes=0-10"), int64(100))
	f.Add([]byte("bytes=-5"), int64(3))
	f.Fuzz(func(t *testing.T, h []byte, size int64) {
		if size < 0 {
			return
		}
		s, e, ok := parseRange(h, size)
		if ok && s >= 0 && (e < s || e >= size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d out of bounds", h, size, s, e)
		}
	})
}
