// Package scaleout_test runs Entrepot as operators scale it out (issue
// 18): three edges of the binary on one FerretDB and one MinIO, with the
// same secrets, behind an nginx round-robin balancer without sticky
// sessions (testkit.StartCluster), and drives it with real clients through
// the balancer: skopeo, npm, and plain HTTP where a test needs to aim at
// one edge. Latencies are logged, never asserted; waits are "until it
// happens, up to a generous bound".
package scaleout_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/deploy/testkit/cluster"
)

// bound is how long a change may take to reach every edge before a test
// fails: far above the 1 s the design promises, so that a slow machine
// does not fail it, and far below the 30 s cache lifetimes of old.
const bound = 10 * time.Second

// fixture is a cluster with the organization "acme", its owner "dev", and
// dev's session and unscoped srg_ token.
type fixture struct {
	c      *testkit.Cluster
	lb     *testkit.Server
	admin  string // the bootstrap admin's session
	dev    string // dev's session
	token  string // dev's srg_ token
	devID  string
	orgID  string
	edges  int
	npmURL string // the balancer's npm registry URL
}

const devPassword = "dev-password-scale-1"

func newFixture(t *testing.T, env ...string) *fixture {
	t.Helper()
	c := testkit.StartCluster(t, 3, env...)
	f := &fixture{c: c, lb: c.LB, edges: len(c.Edges), npmURL: c.URL + "/npm"}
	f.admin = f.lb.AdminToken(t)
	f.orgID = f.lb.CreateOrg(t, f.admin, "acme")
	f.devID = f.lb.CreateUser(t, f.admin, "dev", devPassword)
	f.lb.AddMember(t, f.admin, f.orgID, f.devID, "owner")
	f.dev = f.lb.Login(t, "dev", devPassword)
	f.token = f.lb.Token(t, f.dev, nil, nil, nil)
	return f
}

// publish PUTs one npm version (tagged tag) of name at base (an edge's or
// the balancer's URL) with token, and returns the status and body.
func publish(t testing.TB, base, token, name, version, tag string, size int) (int, []byte) {
	t.Helper()
	body := cluster.NPMPublishBody(base+"/npm", name, version, tag, cluster.NPMTarball(name, version, size))
	resp, b := testkit.Request(t, "PUT", base+"/npm/"+url.PathEscape(name), body,
		"Content-Type", "application/json", "Authorization", "Bearer "+token)
	return resp.StatusCode, b
}

// packument is the part of an npm packument the tests read.
type packument struct {
	DistTags map[string]string `json:"dist-tags"`
	Versions map[string]struct {
		Dist struct{ Tarball string }
	}
}

// getPackument reads name's packument from base with token ("" for
// anonymous); ok is false unless the answer is a 200 packument.
func getPackument(t testing.TB, base, token, name string) (p packument, status int) {
	t.Helper()
	resp, b := testkit.Request(t, "GET", base+"/npm/"+url.PathEscape(name), nil, "Authorization", bearer(token))
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("packument of %s: %v: %.200s", name, err, b)
		}
	}
	return p, resp.StatusCode
}

func bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

// until polls check every 20 ms until it returns true or bound passes,
// and returns how long it took and whether it happened.
func until(check func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if check() {
			return time.Since(start), true
		}
		if time.Since(start) > bound {
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onEdges runs check on each edge but skip at once and waits for all.
func onEdges(f *fixture, skip int, check func(i int, e *testkit.Server)) {
	var wg sync.WaitGroup
	for i, e := range f.c.Edges {
		if i == skip {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); check(i, e) }()
	}
	wg.Wait()
}

// latencies collects propagation delays for a report.
type latencies struct {
	mu sync.Mutex
	by map[string][]time.Duration
}

func (l *latencies) add(kind string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.by == nil {
		l.by = map[string][]time.Duration{}
	}
	l.by[kind] = append(l.by[kind], d)
}

// report logs each kind's samples and the p50/p99 over all of them.
func (l *latencies) report(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []time.Duration
	kinds := make([]string, 0, len(l.by))
	for k := range l.by {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		ds := l.by[k]
		all = append(all, ds...)
		t.Logf("propagation %-28s n=%-3d p50 %-8s max %s", k, len(ds), pct(ds, 50), pct(ds, 100))
	}
	t.Logf("propagation over all %d samples: p50 %s, p99 %s, max %s", len(all), pct(all, 50), pct(all, 99), pct(all, 100))
}

// pct is the p-th percentile (nearest rank) of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Millisecond)
}

// npmClient runs the real npm with its own HOME, user config and cache,
// and none of the caller's npm settings.
type npmClient struct {
	bin, home, rc string
}

func newNPM(t *testing.T, registry, token string) *npmClient {
	t.Helper()
	c := &npmClient{bin: testkit.RequireTool(t, "npm"), home: t.TempDir()}
	c.rc = filepath.Join(c.home, "npmrc")
	host := strings.TrimPrefix(strings.TrimPrefix(registry, "http://"), "https://")
	rc := fmt.Sprintf("registry=%s/\n//%s/:_authToken=%s\n", registry, host, token)
	testkit.WriteFile(t, c.rc, rc)
	return c
}

func (c *npmClient) must(t *testing.T, dir string, args ...string) string {
	t.Helper()
	args = append(args, "--userconfig", c.rc, "--cache", filepath.Join(c.home, "cache"),
		"--no-audit", "--no-fund", "--update-notifier=false", "--loglevel=http")
	env := []string{"HOME=" + c.home, "NO_UPDATE_NOTIFIER=1"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(strings.ToLower(k), "npm_config_") && k != "HOME" {
			env = append(env, kv)
		}
	}
	return testkit.MustRun(t, dir, env, c.bin, args...)
}

// project writes a package folder for npm publish.
func project(t *testing.T, name, version string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	pj, _ := json.Marshal(map[string]string{"name": name, "version": version, "main": "index.js"})
	testkit.WriteFile(t, filepath.Join(dir, "package.json"), string(pj))
	testkit.WriteFile(t, filepath.Join(dir, "index.js"), fmt.Sprintf("module.exports = %q\n", name+"@"+version))
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// served tells whether the access log shows each edge answering.
func served(t *testing.T, f *fixture) {
	t.Helper()
	log := f.c.Nginx.AccessLog()
	for i, e := range f.c.Edges {
		if n := strings.Count(log, "upstream="+e.Host()); n == 0 {
			t.Errorf("the balancer sent nothing to edge %d: no round robin", i)
		} else {
			t.Logf("edge %d answered %d requests through the balancer", i, n)
		}
	}
}
