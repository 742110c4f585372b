package scaleout_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/deploy/testkit/cluster"
)

// TestCrossEdgeStampede sends 60 concurrent misses of one file, 20 to each
// edge directly, behind a slow upstream that counts what it is asked: the
// cluster makes one upstream request, as one edge alone does, and every
// answer is the upstream's bytes. For an npm packument (metadata), an npm
// tarball and a PyPI file (immutable artifacts): the lease is the shared
// cache layer's, not a protocol's.
func TestCrossEdgeStampede(t *testing.T) {
	up := testkit.NewUpstream(t)
	f := newFixture(t, "UPSTREAM_NPM="+up.URL+"/", "UPSTREAM_PYPI="+up.URL+"/simple/")
	const n, delay = 60, 1500 * time.Millisecond

	tgz := cluster.NPMTarball("cold", "1.0.0", 256<<10)
	sum := sha512.Sum512(tgz)
	doc, _ := json.Marshal(map[string]any{
		"name": "cold", "dist-tags": map[string]string{"latest": "1.0.0"},
		"versions": map[string]any{"1.0.0": map[string]any{
			"name": "cold", "version": "1.0.0",
			"dist": map[string]string{
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(sum[:]),
				"tarball":   up.URL + "/cold/-/cold-1.0.0.tgz",
			},
		}},
	})
	slow := func(r *testkit.Route) { r.Delay = delay }
	up.Handle("/cold", doc, slow, func(r *testkit.Route) { r.ContentType = "application/json" })
	up.Handle("/cold/-/cold-1.0.0.tgz", tgz, slow)
	whl := make([]byte, 256<<10)
	rand.Read(whl)
	up.Handle("/simple/cold/", []byte(fmt.Sprintf(`{"meta":{"api-version":"1.1"},"name":"cold","files":[{"filename":"cold-1.0-py3-none-any.whl","url":"../../files/cold-1.0-py3-none-any.whl","hashes":{"sha256":"%x"}}]}`, sha256.Sum256(whl))),
		func(r *testkit.Route) { r.ContentType = "application/vnd.pypi.simple.v1+json" })
	up.Handle("/files/cold-1.0-py3-none-any.whl", whl, slow)

	// miss sends n GETs of path at once, spread evenly over the edges,
	// and returns the upstream's count for upPath and how many answers
	// were not good.
	miss := func(t *testing.T, path, upPath string, good func(status int, body []byte) bool) {
		var wg sync.WaitGroup
		var bad atomic.Int64
		start := time.Now()
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, b := testkit.Request(t, "GET", f.c.Edges[i%f.edges].URL+path, nil)
				if !good(resp.StatusCode, b) {
					bad.Add(1)
				}
			}()
		}
		wg.Wait()
		hits := up.Hits(upPath)
		t.Logf("%d concurrent misses of %s over %d edges: %d upstream requests, %d bad answers, all answered in %s behind a %s upstream",
			n, path, f.edges, hits, bad.Load(), time.Since(start).Round(time.Millisecond), delay)
		if bad.Load() > 0 {
			t.Errorf("%d of %d answers were not good", bad.Load(), n)
		}
		if hits != 1 {
			t.Errorf("%d upstream requests for %s, want 1", hits, upPath)
		}
	}
	// The packument is rewritten on the way out (tarball URLs point at
	// the balancer): its answers are checked for the status; the tarball's
	// bytes are compared.
	t.Run("packument", func(t *testing.T) {
		miss(t, "/npm/cold", "/cold", func(st int, _ []byte) bool { return st == 200 })
	})
	t.Run("tarball", func(t *testing.T) {
		miss(t, "/npm/cold/-/cold-1.0.0.tgz", "/cold/-/cold-1.0.0.tgz", func(st int, b []byte) bool { return st == 200 && bytes.Equal(b, tgz) })
	})
	t.Run("pypi file", func(t *testing.T) {
		miss(t, "/pypi/files/cold/cold-1.0-py3-none-any.whl", "/files/cold-1.0-py3-none-any.whl", func(st int, b []byte) bool { return st == 200 && bytes.Equal(b, whl) })
	})
}
