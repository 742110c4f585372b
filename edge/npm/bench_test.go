package npm_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/npm"
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
	var up *upstream.Client
	if upstreamURL != "" {
		var err error
		if up, err = upstream.New("npm", upstreamURL, upstream.Options{}); err != nil {
			tb.Fatal(err)
		}
	}
	e := testkit.StartEdge(tb, testkit.EdgeOptions{MetadataTTL: 24 * time.Hour, MaxUpload: 64 << 20}, func(r *edge.Registry, m *edge.Mux) {
		npm.New(r, up, npm.Options{}).Mount(m.Group("/npm"))
	})
	return inProcess{url: e.URL, addr: e.Addr, token: e.Token}
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
