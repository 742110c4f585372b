package npm_test

import (
	"encoding/base64"
	"os"
	"testing"

	"entrepot/edge/alloctest"
	"entrepot/edge/claimtest"

	"github.com/valyala/fasthttp"
)

// TestAuthenticatedGetAllocs holds an authenticated hot GET to the
// anonymous one's allocations: the same cached mirrored packument, with
// a Bearer srg_ token and with Basic carrying it. Measured 19 anonymous,
// 20 Bearer (the Authorization header's string) and 21 Basic (the decoded
// user:secret); the budgets add one for a background timer's allocation
// landing in the window.
func TestAuthenticatedGetAllocs(t *testing.T) {
	e := claimtest.NewHotEnv(t, claims, "is-number", "acme-tool")
	cases := authenticatedGets(e)
	alloctest.Run(t, e.Addr, []alloctest.Case{
		{Name: "anonymous", Path: "/npm/is-number", Header: cases[0].header, Budget: 20},
		{Name: "bearer token", Path: "/npm/is-number", Header: cases[1].header, Budget: 21},
		{Name: "basic token", Path: "/npm/is-number", Header: cases[2].header, Budget: 22},
	})
}

type authenticatedGet struct {
	name   string
	header []string
}

// authenticatedGets is npm install's hot read anonymously, with Bearer
// and with Basic.
func authenticatedGets(e *claimtest.Env) []authenticatedGet {
	install := []string{"Accept", "application/vnd.npm.install-v1+json", "Accept-Encoding", "gzip"}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+e.Token))
	return []authenticatedGet{
		{"anonymous", install},
		{"bearer", append([]string{"Authorization", "Bearer " + e.Token}, install...)},
		{"basic", append([]string{"Authorization", basic}, install...)},
	}
}

// TestHotGetBench measures the reads of TestAuthenticatedGetAllocs in one
// run (ENTREPOT_BENCH=1): it logs ns/op and allocs/op and asserts nothing.
func TestHotGetBench(t *testing.T) {
	if os.Getenv("ENTREPOT_BENCH") == "" {
		t.Skip("ENTREPOT_BENCH unset")
	}
	e := claimtest.NewHotEnv(t, claims, "is-number", "acme-tool")
	c := &fasthttp.HostClient{Addr: e.Addr}
	// Interleaved rounds, parallel clients: the machine's other load
	// moves every figure, so the cases are compared within a round.
	for round := range 3 {
		for _, tc := range authenticatedGets(e) {
			r := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.SetRequestURI("http://" + e.Addr + "/npm/is-number")
					for i := 0; i+1 < len(tc.header); i += 2 {
						req.Header.Set(tc.header[i], tc.header[i+1])
					}
					for pb.Next() {
						if err := c.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusOK {
							b.Errorf("%v %d", err, resp.StatusCode())
							return
						}
					}
				})
			})
			t.Logf("round %d %-10s %s %s", round, tc.name, r, r.MemString())
		}
	}
}
