// Package alloctest guards a protocol's hot GET paths against
// allocation regressions: each case is one request through the whole
// handler of a running edge (route, resolve, authorize, prepared
// document), measured with testing.AllocsPerRun and held to a budget set
// at the count measured when the guard was written. Both ends of the
// loopback connection are counted; the client side (a fasthttp
// HostClient reusing one request and response) adds nothing.
//
// The race detector allocates on its own, so the guards skip under it;
// the test command runs them again without it (`go test -run Allocs`).
package alloctest

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// Case is one hot GET.
type Case struct {
	Name   string
	Path   string   // with its query
	Header []string // name, value pairs
	Status int      // the status it answers; 0: 200
	// Revalidate sends the ETag of the first answer back as
	// If-None-Match, and expects 304.
	Revalidate bool
	// Budget is the most allocations one request may make.
	Budget float64
}

// Run measures every case against the edge listening on addr
// ("127.0.0.1:port"), after a warm-up that fills caches.
func Run(t *testing.T, addr string, cases []Case) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocations are not measured under the race detector")
	}
	c := &fasthttp.HostClient{Addr: addr}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			want := tc.Status
			if want == 0 {
				want = fasthttp.StatusOK
			}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + tc.Path)
			for i := 0; i+1 < len(tc.Header); i += 2 {
				req.Header.Set(tc.Header[i], tc.Header[i+1])
			}
			get := func() {
				if err := c.Do(req, resp); err != nil || resp.StatusCode() != want {
					t.Fatalf("GET %s: %v %d %.200s", tc.Path, err, resp.StatusCode(), resp.Body())
				}
			}
			get()
			if tc.Revalidate {
				tag := resp.Header.Peek("ETag")
				if len(tag) == 0 {
					t.Fatalf("GET %s: no ETag to revalidate", tc.Path)
				}
				req.Header.SetBytesV("If-None-Match", tag)
				want = fasthttp.StatusNotModified
			}
			for range 3 {
				get()
			}
			allocs := testing.AllocsPerRun(200, get)
			t.Logf("%s (GET %s): %.1f allocations per request (budget %.0f)", tc.Name, tc.Path, allocs, tc.Budget)
			if allocs > tc.Budget {
				t.Fatalf("GET %s: %.1f allocations per request, budget %.0f", tc.Path, allocs, tc.Budget)
			}
		})
	}
}
