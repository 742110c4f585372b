package npm_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/npm"
	"entrepot/hosted"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
	"entrepot/upstream"
)

// inProcess is an edge serving only npm on a loopback port, over bbolt
// and filesystem blobs in a temp dir, with a platform admin's token.
type inProcess struct {
	url   string
	addr  string
	token string
}

func newInProcess(tb testing.TB, upstreamURL string) inProcess {
	tb.Helper()
	dir := tb.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := bolt.Open(filepath.Join(dir, "entrepot.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close(context.Background()) })
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := auth.New(st, auth.Config{
		SigningKey: []byte("0123456789abcdef0123456789abcdef-bench"),
		Password:   auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, "admin@localhost", "bench-admin-password"); err != nil {
		tb.Fatal(err)
	}
	login, err := svc.Login(ctx, "admin", "bench-admin-password", "127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.CreateOrg(ctx, auth.Org{Name: "acme"}, login.User.ID); err != nil {
		tb.Fatal(err)
	}
	_, token, err := svc.CreateToken(ctx, login.User.ID, auth.NewToken{Name: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	reg := (&edge.Registry{
		Catalog:         hosted.NewCatalog(st),
		Blobs:           blobs,
		Cache:           cache.New(st, blobs, cache.Options{Logger: log}),
		Auth:            svc,
		Base:            &edge.BaseURL{},
		Log:             log,
		MetadataTTL:     24 * 3600e9,
		AnonymousMirror: true,
		MaxUpload:       64 << 20,
	}).Init()
	var up *upstream.Client
	if upstreamURL != "" {
		if up, err = upstream.New("npm", upstreamURL, upstream.Options{}); err != nil {
			tb.Fatal(err)
		}
	}
	srv := edge.New(edge.Config{Logger: log})
	npm.New(reg, up, npm.Options{}).Mount(srv.Mux().Group("/npm"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	return inProcess{url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), token: token}
}

// get fetches path with the given headers and checks the status.
func (p inProcess) get(tb testing.TB, c *fasthttp.HostClient, path string, headers ...string) []byte {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(p.url + path)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if err := c.Do(req, resp); err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		tb.Fatalf("GET %s: %d %s", path, resp.StatusCode(), resp.Body())
	}
	return append([]byte(nil), resp.Body()...)
}

// BenchmarkHot measures hot GETs through the whole handler (route,
// resolve, authorize, prepared document or sendfile) over loopback, with
// a fasthttp client in the same process: ns/op, B/op and allocs/op count
// both sides.
func BenchmarkHot(b *testing.B) {
	up := testkit.NewUpstream(b)
	tarballs := servePackage(&testing.T{}, up, "bench-pkg", "1.0.0", "1.1.0")
	p := newInProcess(b, up.URL+"/")
	tb := tgz(&testing.T{}, "@acme/hosted", "1.0.0")
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(p.url + "/npm/@acme%2fhosted")
	req.Header.SetMethod("PUT")
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.SetBody(publishBody("@acme/hosted", "1.0.0", tb, integrity(tb)))
	resp := fasthttp.AcquireResponse()
	if err := fasthttp.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("publish: %v %d %s", err, resp.StatusCode(), resp.Body())
	}

	abbreviated := []string{"Accept", "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*", "Accept-Encoding", "gzip"}
	cases := []struct {
		name, path string
		headers    []string
		want       []byte
	}{
		{"mirrored abbreviated packument", "/npm/bench-pkg", abbreviated, nil},
		{"hosted abbreviated packument", "/npm/@acme%2fhosted", append([]string{"Authorization", "Bearer " + p.token}, abbreviated...), nil},
		{"mirrored tarball", "/npm/bench-pkg/-/bench-pkg-1.1.0.tgz", nil, tarballs["1.1.0"]},
		{"hosted tarball", "/npm/@acme/hosted/-/hosted-1.0.0.tgz", []string{"Authorization", "Bearer " + p.token}, tb},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := &fasthttp.HostClient{Addr: p.addr, MaxConns: 64}
			got := p.get(b, c, tc.path, tc.headers...) // warm
			if tc.want != nil && !bytes.Equal(got, tc.want) {
				b.Fatalf("%s: wrong bytes", tc.path)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					p.get(b, c, tc.path, tc.headers...)
				}
			})
		})
	}
}
