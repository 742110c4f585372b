package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"entrepot/deploy/testkit/cluster"
)

// scaleStore is the MongoDB and S3 the scale scenario runs its edges on:
// the -e MONGODB_URL and S3_* settings when given, else the test
// environment's (deploy/testenv/start.sh's ENTREPOT_TEST_* variables).
func (b *bench) scaleStore() (cluster.Store, bool) {
	set := map[string]string{}
	for _, kv := range b.o.Env {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	if set["MONGODB_URL"] != "" && set["S3_ENDPOINT"] != "" {
		return cluster.Store{
			MongoURL: set["MONGODB_URL"], S3Endpoint: set["S3_ENDPOINT"],
			S3AccessKey: set["S3_ACCESS_KEY"], S3SecretKey: set["S3_SECRET_KEY"],
			S3Bucket: set["S3_BUCKET"], S3Region: set["S3_REGION"],
		}, true
	}
	return cluster.StoreFromEnv(os.Getenv)
}

// scale runs 1, 2 and 3 edges on one MongoDB and one bucket behind an
// nginx round-robin balancer (package cluster, the same deployment the
// scale-out tests run) and reports, per edge count: hot-read throughput
// through the balancer, how long a publish on one edge takes to be visible
// on the others (p50/p99), and how many upstream requests a cold stampede
// spread over the edges makes.
func (b *bench) scale(ctx context.Context) error {
	st, ok := b.scaleStore()
	if !ok {
		fmt.Fprintln(b.log, "   skipped: give MongoDB and S3 with -e MONGODB_URL=... -e S3_ENDPOINT=... -e S3_BUCKET=... (and S3_ACCESS_KEY, S3_SECRET_KEY), or run deploy/testenv/start.sh and source its env.sh")
		return nil
	}
	counts := []int{1, 2, 3}
	if b.o.Smoke {
		counts = []int{1, 3}
	}
	for _, n := range counts {
		if err := b.scaleRun(ctx, st, n); err != nil {
			return fmt.Errorf("%d edges: %w", n, err)
		}
	}
	return nil
}

func (b *bench) scaleRun(ctx context.Context, st cluster.Store, n int) error {
	dir := filepath.Join(b.work, fmt.Sprintf("scale-%d", n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	c, err := cluster.Start(ctx, cluster.Config{
		Binary: b.o.Binary, Edges: n, Dir: dir, Store: st,
		Env: []string{"UPSTREAM_NPM=" + b.up.URL + "/"}, LogLimit: logLimit,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(b.log, "   %d edge(s) behind nginx at %s\n", n, c.URL)
	// The helpers that talk to "the server" talk to the balancer.
	cb := *b
	cb.base = c.URL
	var login struct{ AccessToken string }
	if err := cb.api("POST", "/auth/login", "", map[string]string{"email": "admin", "password": c.Secrets.AdminPassword}, &login); err != nil {
		return err
	}
	cb.admin = login.AccessToken
	if err := cb.api("POST", "/organizations", cb.admin, map[string]string{"name": "bench"}, nil); err != nil {
		return err
	}
	size := 64 << 10
	if b.o.Smoke {
		size = 4 << 10
	}
	const hot = "@bench/hot"
	if err := npmPublish(c.URL, cb.admin, hot, "1.0.0", size); err != nil {
		return err
	}
	if err := cb.makePublic(); err != nil {
		return err
	}

	edges := fmt.Sprintf("%d edge", n)
	if n > 1 {
		edges += "s"
	}
	u := c.URL + "/npm/" + url.PathEscape(hot)
	abbrev := map[string]string{"Accept": abbreviated}
	body, err := get(u, abbrev)
	if err != nil {
		return err
	}
	if err := b.measure(ctx, "scale: hot packument, "+edges, "entrepot", nil, Load{URLs: []string{u}, Header: abbrev}, int64(len(body))); err != nil {
		return err
	}
	if n > 1 {
		if err := b.scaleVisible(c, cb.admin, edges); err != nil {
			return err
		}
	}
	// Stampede's tarballs are "stampede-*": the slow ones.
	b.coldStampede(fmt.Sprintf("scale: cold stampede (%d) spread over %s", b.o.Stampede, edges), fmt.Sprintf("stampede-scale%d", n),
		func(i int) string { return c.Edges[i%n].URL })
	return nil
}

// scaleVisible publishes on the first edge and polls every other edge
// directly until the version is in its packument.
func (b *bench) scaleVisible(c *cluster.Cluster, token, edges string) error {
	count := 20
	if b.o.Smoke {
		count = 3
	}
	const name = "@bench/visible"
	var lat []time.Duration
	for i := range count {
		v := fmt.Sprintf("1.0.%d", i)
		if err := npmPublish(c.Edges[0].URL, token, name, v, 1<<10); err != nil {
			return err
		}
		published := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, e := range c.Edges[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, ok := visibleAfter(e.URL+"/npm/"+url.PathEscape(name), token, v, published, 30*time.Second)
				if !ok {
					fmt.Fprintf(b.log, "   %s@%s not visible on %s after %s\n", name, v, e.URL, d)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	slices.Sort(lat)
	at := func(p int) time.Duration { return lat[max(0, (p*len(lat)+99)/100-1)].Round(100 * time.Microsecond) }
	scenario := "scale: publish → visible on the other edges, " + edges
	b.rep.add(Row{
		Scenario: scenario, Target: "entrepot",
		Result: Result{Requests: int64(len(lat)), P50: at(50), P99: at(99), Max: at(100), Tool: "built-in"},
		Note:   fmt.Sprintf("%d publishes on one edge, each polled for on every other edge every 5 ms: p50 %s, p99 %s, max %s", count, at(50), at(99), at(100)),
	})
	fmt.Fprintf(b.log, "   publish → visible elsewhere: p50 %s p99 %s max %s\n", at(50), at(99), at(100))
	return nil
}

// visibleAfter polls a packument until it lists version, up to limit
// after since.
func visibleAfter(u, token, version string, since time.Time, limit time.Duration) (time.Duration, bool) {
	for time.Since(since) < limit {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		var doc struct{ Versions map[string]json.RawMessage }
		if do(req, &doc) == nil && doc.Versions[version] != nil {
			return time.Since(since), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(since), false
}

// npmPublish publishes one version of name, of about size bytes, at base
// with token.
func npmPublish(base, token, name, version string, size int) error {
	return npmPut(base, token, name, version, cluster.NPMTarball(name, version, size))
}

// npmPut publishes tgz as name@version at base with token.
func npmPut(base, token, name, version string, tgz []byte) error {
	body := cluster.NPMPublishBody(base+"/npm", name, version, "", tgz)
	req, _ := http.NewRequest("PUT", base+"/npm/"+url.PathEscape(name), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	return do(req, nil)
}
