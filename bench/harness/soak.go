package harness

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entrepot/deploy/testkit/cluster"
)

// The soak (`entrepot bench soak -d 10m`): one server under a steady mix
// of mirrored and hosted reads, publishes and deletes, with the garbage
// collector running every few seconds and an upstream that fails now and
// then, sampled at intervals for RSS, open files, goroutines and latency.
// What must hold is flatness: a leak is a count that keeps growing. The
// verdict (and the exit status) depends on two checks, neither on
// wall-clock numbers:
//
//   - idle: once the load stops and the clients close their connections,
//     goroutines and open files come back to within a margin of what the
//     server held before the load began;
//   - slope: over a run long enough to tell (soakMinSlopeSamples samples
//     after the first fifth, the warm-up), the least-squares growth of
//     goroutines and open files across the run stays within a margin.
//
// RSS and latency are reported with their slopes, not judged: the Go
// heap (which grows to the caches' budget), the embedded store's mmap
// (which grows with its file: every deleted version keeps its record, and
// every change is audited) and the machine's load move them for reasons
// other than leaks. RSS is shown with its file-backed part and the store
// file's size, to tell these apart.

// soakOptions configure a soak.
type soakOptions struct {
	Duration    time.Duration
	Concurrency int
	Sample      time.Duration
	Env         []string
	Keep        bool // leave the data directory for inspection (entrepot gc --dry-run, fsck)
}

// Leak margins: counts may move this much (or this share of their mean)
// without being called a leak.
const (
	goroutineMargin     = 40
	fdMargin            = 16
	soakMinSlopeSamples = 10
)

// SoakMain runs `bench soak [flags]`.
func SoakMain(ctx context.Context, args []string, stdout, stderr io.Writer, binary string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o soakOptions
	fs.DurationVar(&o.Duration, "d", 10*time.Minute, "how long the load runs")
	fs.IntVar(&o.Concurrency, "c", 8, "concurrent clients")
	fs.BoolVar(&o.Keep, "keep", false, "leave the server's data directory behind, for entrepot gc --dry-run and fsck")
	fs.DurationVar(&o.Sample, "sample", 0, "sampling interval (default: the duration / 60, from 1s to 10s)")
	fs.Func("e", "a `KEY=VALUE` setting for the Entrepot under test (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("-e %q is not KEY=VALUE", v)
		}
		o.Env = append(o.Env, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if o.Sample <= 0 {
		o.Sample = min(max(o.Duration/60, time.Second), 10*time.Second)
	}
	rep, err := runSoak(ctx, binary, o, stderr)
	if rep != nil {
		fmt.Fprint(stdout, rep.markdown())
		if err == nil && !rep.flat() {
			err = errors.New("soak: " + strings.Join(rep.leaks(), "; "))
		}
	}
	return err
}

// soakSample is one sampling of the server.
type soakSample struct {
	At         time.Duration // since the load began
	RSS        int64
	RSSFile    int64 // of RSS, file-backed pages: the embedded store's mmap, mostly
	Store      int64 // bytes of the embedded store's file, which records grow
	FDs        int
	Goroutines int
	Blobs      int // files in the blob store: flat when the collector keeps up
	Requests   int
	Errors     int
	P50, P99   time.Duration
}

// soakReport is what a soak measured.
type soakReport struct {
	o        soakOptions
	base     soakSample // before the load
	idle     soakSample // after it, idle
	samples  []soakSample
	ops      map[string]*atomic.Int64 // by operation, done
	failures map[string]*atomic.Int64 // by operation, failed (upstream faults make some)
	faults   int64                    // faults the upstream injected
}

// fit is the least-squares slope of ys over xs (per unit of x) and the
// mean of ys.
func fit(xs, ys []float64) (slope, mean float64) {
	n := float64(len(xs))
	if n < 2 {
		return 0, 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
		sxx += xs[i] * xs[i]
		sxy += xs[i] * ys[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0, sy / n
	}
	return (n*sxy - sx*sy) / d, sy / n
}

// trend is a metric's slope per minute over the samples after the
// warm-up, its growth across that window and its mean.
func (r *soakReport) trend(get func(soakSample) float64) (perMin, growth, mean float64, n int) {
	s := r.samples[len(r.samples)/5:]
	if len(s) < 2 {
		return 0, 0, 0, len(s)
	}
	xs, ys := make([]float64, len(s)), make([]float64, len(s))
	for i, v := range s {
		xs[i], ys[i] = v.At.Minutes(), get(v)
	}
	slope, mean := fit(xs, ys)
	return slope, slope * (xs[len(xs)-1] - xs[0]), mean, len(s)
}

// leaks says which checks failed.
func (r *soakReport) leaks() []string {
	var out []string
	check := func(name string, base, idle int, margin float64, get func(soakSample) float64) {
		if float64(idle-base) > margin {
			out = append(out, fmt.Sprintf("%s did not come back once idle: %d before the load, %d after", name, base, idle))
		}
		_, growth, mean, n := r.trend(get)
		if n >= soakMinSlopeSamples && growth > math.Max(margin, mean/2) {
			out = append(out, fmt.Sprintf("%s grew by %.0f over the run (mean %.0f): not flat", name, growth, mean))
		}
	}
	check("goroutines", r.base.Goroutines, r.idle.Goroutines, goroutineMargin, func(s soakSample) float64 { return float64(s.Goroutines) })
	check("open files", r.base.FDs, r.idle.FDs, fdMargin, func(s soakSample) float64 { return float64(s.FDs) })
	return out
}

func (r *soakReport) flat() bool { return len(r.leaks()) == 0 }

func (r *soakReport) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Soak: %s, %d clients, sampled every %s (%s)\n\n", r.o.Duration, r.o.Concurrency, r.o.Sample, machine())
	b.WriteString("| t | RSS MiB | of it file-backed | store file MiB | open files | goroutines | blobs | req/s | errors | p50 | p99 |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	row := func(label string, s soakSample, rps string) {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %d | %d | %d | %s | %d | %s | %s |\n", label, float64(s.RSS)/(1<<20), float64(s.RSSFile)/(1<<20), float64(s.Store)/(1<<20),
			s.FDs, s.Goroutines, s.Blobs, rps, s.Errors, fmtDur(s.P50), fmtDur(s.P99))
	}
	row("before", r.base, "-")
	for _, s := range r.samples {
		row(s.At.Round(time.Second).String(), s, strconv.FormatFloat(float64(s.Requests)/r.o.Sample.Seconds(), 'f', 0, 64))
	}
	row("idle after", r.idle, "-")
	b.WriteString("\n| metric | slope per minute (after the first fifth) | growth over that window | mean |\n| --- | --- | --- | --- |\n")
	for _, m := range []struct {
		name string
		get  func(soakSample) float64
	}{
		{"goroutines", func(s soakSample) float64 { return float64(s.Goroutines) }},
		{"open files", func(s soakSample) float64 { return float64(s.FDs) }},
		{"RSS MiB", func(s soakSample) float64 { return float64(s.RSS) / (1 << 20) }},
		{"RSS anonymous MiB", func(s soakSample) float64 { return float64(s.RSS-s.RSSFile) / (1 << 20) }},
		{"store file MiB", func(s soakSample) float64 { return float64(s.Store) / (1 << 20) }},
		{"blobs", func(s soakSample) float64 { return float64(s.Blobs) }},
		{"p50 ms", func(s soakSample) float64 { return float64(s.P50) / 1e6 }},
		{"p99 ms", func(s soakSample) float64 { return float64(s.P99) / 1e6 }},
	} {
		perMin, growth, mean, _ := r.trend(m.get)
		fmt.Fprintf(&b, "| %s | %+.2f | %+.1f | %.1f |\n", m.name, perMin, growth, mean)
	}
	b.WriteString("\noperations: ")
	names := make([]string, 0, len(r.ops))
	for k := range r.ops {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d (%d failed)", k, r.ops[k].Load(), r.failures[k].Load())
	}
	fmt.Fprintf(&b, "; upstream faults injected %d (503, 300 ms stalls, tarballs cut short); garbage collection every 3 s with a 1 s grace\n\n", r.faults)
	if leaks := r.leaks(); len(leaks) > 0 {
		b.WriteString("**Not flat:** " + strings.Join(leaks, "; ") + "\n")
	} else {
		b.WriteString("**Flat:** goroutines and open files came back to their level before the load, and did not grow over it.\n")
	}
	return b.String()
}

// faultyUpstream is an npm upstream of soakMirrors generated packages
// that fails one request in faultEvery: a 503, a stall, or a tarball cut
// short (which must never be cached).
type faultyUpstream struct {
	*httptest.Server
	n      atomic.Int64
	faults atomic.Int64
	tgz    map[string][]byte
}

const (
	soakMirrors = 16
	faultEvery  = 12
)

func newFaultyUpstream() *faultyUpstream {
	u := &faultyUpstream{tgz: map[string][]byte{}}
	for i := range soakMirrors {
		name := fmt.Sprintf("soak-mirror-%d", i)
		u.tgz[name] = cluster.NPMTarball(name, "1.0.0", 16<<10)
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	return u
}

func (u *faultyUpstream) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	name, file, isTarball := strings.Cut(p, "/-/")
	t, ok := u.tgz[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if n := u.n.Add(1); n%faultEvery == 0 {
		u.faults.Add(1)
		switch (n / faultEvery) % 3 {
		case 0:
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		case 1:
			time.Sleep(300 * time.Millisecond)
		case 2:
			if isTarball {
				w.Header().Set("Content-Length", strconv.Itoa(len(t)))
				w.Write(t[:len(t)/2])
				return // the connection closes short of its length
			}
		}
	}
	if isTarball {
		if file != name+"-1.0.0.tgz" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(t)
		return
	}
	s5 := sha512.Sum512(t)
	json.NewEncoder(w).Encode(map[string]any{
		"name": name, "dist-tags": map[string]string{"latest": "1.0.0"},
		"versions": map[string]any{"1.0.0": map[string]any{
			"name": name, "version": "1.0.0",
			"dist": map[string]any{
				"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s5[:]),
				"tarball":   u.URL + "/" + name + "/-/" + name + "-1.0.0.tgz",
			},
		}},
	})
}

// soakPackages is how many hosted packages the publishers and deleters
// share at a time; each keeps at most soakKeep live versions, and after
// soakGeneration publishes its slot moves to a new package and the old
// one is deleted whole. A deleted version's record stays (it can never be
// published again), so without the rotation every packument would grow
// with the run and the soak would measure that, not leaks.
const (
	soakPackages   = 4
	soakKeep       = 3
	soakGeneration = 25
)

// runSoak starts a server and soaks it.
func runSoak(ctx context.Context, binary string, o soakOptions, log io.Writer) (*soakReport, error) {
	work, err := os.MkdirTemp("", "entrepot-soak-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		defer fmt.Fprintf(log, "soak: data directory kept: %s\n", filepath.Join(work, "data"))
	} else {
		defer os.RemoveAll(work)
	}
	up := newFaultyUpstream()
	defer up.Close()
	env := append([]string{
		"DATA_DIR=" + filepath.Join(work, "data"),
		"ADMIN_PASSWORD=" + adminPassword,
		"UPSTREAM_NPM=" + up.URL + "/",
		"UPSTREAM_CACHE_EXPIRY=0.0006", // hours: about 2 s, so metadata revalidates, and meets the faults, all along
		"GC_INTERVAL=3s", "GC_GRACE=1s",
	}, o.Env...)
	srv, base, err := startEntrepot(binary, env)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	fmt.Fprintf(log, "soak: entrepot at %s for %s\n", base, o.Duration)
	b := &bench{o: Options{}, log: log, base: base}
	var login struct{ AccessToken string }
	if err := b.api("POST", "/auth/login", "", map[string]string{"email": "admin", "password": adminPassword}, &login); err != nil {
		return nil, err
	}
	if err := b.api("POST", "/organizations", login.AccessToken, map[string]string{"name": "soak"}, nil); err != nil {
		return nil, err
	}
	var tok struct{ Token string }
	if err := b.api("POST", "/tokens", login.AccessToken, map[string]any{"name": "soak", "protocols": []string{"npm"}}, &tok); err != nil {
		return nil, err
	}
	s := &soaker{base: base, token: tok.Token, up: up, blobDir: filepath.Join(work, "data", "blobs"), versions: make([][]int, soakPackages), next: make([]int, soakPackages), gen: make([]int, soakPackages), slots: make([]sync.RWMutex, soakPackages)}
	for i := range soakPackages {
		if err := s.publish(i); err != nil {
			return nil, fmt.Errorf("first publish: %w", err)
		}
	}
	rep := &soakReport{o: o, ops: map[string]*atomic.Int64{}, failures: map[string]*atomic.Int64{}}
	for _, k := range soakOps {
		rep.ops[k], rep.failures[k] = new(atomic.Int64), new(atomic.Int64)
	}
	pid := srv.edge.Pid()
	httpClient.CloseIdleConnections()
	rep.base = s.sample(pid)

	lctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for lctx.Err() == nil {
				op := soakOps[pick(rng)]
				t0 := time.Now()
				err := s.do(op, rng)
				s.record(time.Since(t0), err != nil)
				rep.ops[op].Add(1)
				if err != nil {
					rep.failures[op].Add(1)
				}
			}
		}()
	}
	tick := time.NewTicker(o.Sample)
	for done := false; !done; {
		select {
		case <-lctx.Done():
			done = true
		case <-tick.C:
			sm := s.sample(pid)
			sm.At = time.Since(start)
			rep.samples = append(rep.samples, sm)
			fmt.Fprintf(log, "soak: %6s rss %6.1f MiB fds %4d goroutines %4d blobs %5d req %5d err %3d p50 %s p99 %s\n",
				sm.At.Round(time.Second), float64(sm.RSS)/(1<<20), sm.FDs, sm.Goroutines, sm.Blobs, sm.Requests, sm.Errors, fmtDur(sm.P50), fmtDur(sm.P99))
		}
	}
	tick.Stop()
	wg.Wait()
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	// Idle: the clients let their connections go; a leak is what stays.
	// The server's background jobs (GC, change feed, access log batches)
	// come and go, so the idle level is the lowest seen for a while.
	httpClient.CloseIdleConnections()
	rep.idle = s.sample(pid)
	rep.idle.P50, rep.idle.P99, rep.idle.Errors = 0, 0, 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		sm := s.sample(pid)
		rep.idle.Goroutines = min(rep.idle.Goroutines, sm.Goroutines)
		rep.idle.FDs = min(rep.idle.FDs, sm.FDs)
		rep.idle.RSS, rep.idle.RSSFile, rep.idle.Store, rep.idle.Blobs = sm.RSS, sm.RSSFile, sm.Store, sm.Blobs
		if rep.idle.Goroutines-rep.base.Goroutines <= goroutineMargin/2 && rep.idle.FDs-rep.base.FDs <= fdMargin/2 {
			break
		}
	}
	rep.faults = up.faults.Load()
	return rep, nil
}

// soakOps are the operations, weighted by soakWeights.
var (
	soakOps = []string{"mirror packument", "mirror tarball", "hosted packument", "hosted tarball", "publish", "delete"}
	// Deletions outnumber publishes a little, so that a package's live
	// versions hover around soakKeep instead of drifting up.
	soakWeights = []int{30, 25, 20, 10, 7, 8}
)

func pick(rng *rand.Rand) int {
	total := 0
	for _, w := range soakWeights {
		total += w
	}
	n := rng.IntN(total)
	for i, w := range soakWeights {
		if n < w {
			return i
		}
		n -= w
	}
	return 0
}

// soaker is the load's state: the live versions of each hosted package,
// and the latencies of the current sample.
type soaker struct {
	base, token string
	up          *faultyUpstream
	blobDir     string

	mu       sync.Mutex
	versions [][]int        // per slot, the live patch versions, oldest first
	next     []int          // per slot, the next patch version
	gen      []int          // per slot, the generation: its package's name
	slots    []sync.RWMutex // per slot: publishes hold it shared, a package's deletion alone
	lat      []time.Duration
	errs     int
}

// pkg is the name of slot i's package of generation g.
func pkg(i, g int) string { return fmt.Sprintf("@soak/pkg-%d-%d", i, g) }

func (s *soaker) record(d time.Duration, failed bool) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	if failed {
		s.errs++
	}
	s.mu.Unlock()
}

// sample reads the server's counts and takes the sample's latencies.
func (s *soaker) sample(pid int) soakSample {
	u := procUsage(pid)
	sm := soakSample{RSS: u.RSS, RSSFile: rssFile(pid), FDs: openFiles(pid), Goroutines: s.goroutines(), Blobs: countFiles(s.blobDir)}
	if fi, err := os.Stat(filepath.Join(filepath.Dir(s.blobDir), "entrepot.db")); err == nil {
		sm.Store = fi.Size()
	}
	s.mu.Lock()
	lat, errs := s.lat, s.errs
	s.lat, s.errs = nil, 0
	s.mu.Unlock()
	r := summarize(lat, int64(len(lat)), int64(errs), 0, time.Second)
	sm.Requests, sm.Errors, sm.P50, sm.P99 = len(lat), errs, r.P50, r.P99
	return sm
}

// goroutines reads go_goroutines from the server's /metrics (-1 when it
// cannot).
func (s *soaker) goroutines() int {
	resp, err := httpClient.Get(s.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n)
		}
	}
	return -1
}

// rssFile reads RssFile of pid's status, in bytes (0 without /proc).
func rssFile(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// countFiles counts the files under dir.
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// openFiles counts the file descriptors pid holds (-1 without /proc).
func openFiles(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// do performs one operation; an error is a failed request.
func (s *soaker) do(op string, rng *rand.Rand) error {
	switch op {
	case "mirror packument", "mirror tarball":
		name := fmt.Sprintf("soak-mirror-%d", rng.IntN(soakMirrors))
		path := "/npm/" + name
		if op == "mirror tarball" {
			path += "/-/" + name + "-1.0.0.tgz"
		}
		return s.get(path, "")
	case "hosted packument", "hosted tarball":
		i := rng.IntN(soakPackages)
		s.mu.Lock()
		name, vs, v := pkg(i, s.gen[i]), s.versions[i], -1
		if len(vs) > 0 {
			v = vs[len(vs)-1] // the newest, which no delete takes
		}
		s.mu.Unlock()
		if op == "hosted packument" {
			return s.get("/npm/"+url.PathEscape(name), s.token)
		}
		if v < 0 {
			return nil
		}
		_, base, _ := strings.Cut(name, "/")
		return s.get(fmt.Sprintf("/npm/%s/-/%s-1.0.%d.tgz", name, base, v), s.token)
	case "publish":
		return s.publish(rng.IntN(soakPackages))
	case "delete":
		return s.deleteOldest(rng.IntN(soakPackages))
	}
	return nil
}

func (s *soaker) get(path, token string) error {
	req, _ := http.NewRequest("GET", s.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return s.send(req)
}

func (s *soaker) send(req *http.Request) error {
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return nil
}

// publish publishes the next version of slot i's package; the
// soakGeneration-th starts the slot's next package (readers move to it
// once it exists) and deletes the old one.
func (s *soaker) publish(i int) error {
	s.mu.Lock()
	g, v := s.gen[i], s.next[i]
	s.next[i]++
	s.mu.Unlock()
	if v != soakGeneration {
		return s.put(i, g, v)
	}
	if err := s.put(i, g+1, 0); err != nil {
		// The next publish of the slot tries again: a slot that never
		// rotated would grow for the rest of the run.
		s.mu.Lock()
		if s.gen[i] == g {
			s.next[i] = soakGeneration
		}
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	s.gen[i], s.next[i], s.versions[i] = g+1, 1, []int{0}
	s.mu.Unlock()
	// Publishes of the old package still under way finish first: one
	// landing after the deletion would make the package anew, and it would
	// stay for the rest of the run.
	s.slots[i].Lock()
	defer s.slots[i].Unlock()
	return s.deletePackage(pkg(i, g))
}

// put publishes version 1.0.v of slot i's package of generation g,
// unless the slot has moved past g.
func (s *soaker) put(i, g, v int) error {
	s.slots[i].RLock()
	defer s.slots[i].RUnlock()
	s.mu.Lock()
	moved := s.gen[i] > g
	s.mu.Unlock()
	if moved {
		return nil
	}
	name := pkg(i, g)
	version := fmt.Sprintf("1.0.%d", v)
	body := cluster.NPMPublishBody(s.base+"/npm", name, version, "", cluster.NPMTarball(name, version, 8<<10))
	req, _ := http.NewRequest("PUT", s.base+"/npm/"+url.PathEscape(name), strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	if err := s.send(req); err != nil {
		return err
	}
	s.mu.Lock()
	if s.gen[i] == g {
		s.versions[i] = append(s.versions[i], v)
		slices.Sort(s.versions[i])
	}
	s.mu.Unlock()
	return nil
}

// deletePackage deletes a package and its versions through the API.
func (s *soaker) deletePackage(name string) error {
	req, _ := http.NewRequest("DELETE", s.base+"/api/v1/packages/"+url.PathEscape("npm:"+name), nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	return s.send(req)
}

// deleteOldest deletes package i's oldest version once it has more than
// soakKeep, through the API (which the collector then reclaims).
func (s *soaker) deleteOldest(i int) error {
	s.mu.Lock()
	if len(s.versions[i]) <= soakKeep {
		s.mu.Unlock()
		return nil
	}
	v, name := s.versions[i][0], pkg(i, s.gen[i])
	s.versions[i] = s.versions[i][1:]
	s.mu.Unlock()
	id := url.PathEscape("npm:" + name)
	req, _ := http.NewRequest("DELETE", fmt.Sprintf("%s/api/v1/packages/%s/versions/1.0.%d", s.base, id, v), nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	return s.send(req)
}
