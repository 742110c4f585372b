package cache_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/cache"
	"entrepot/deploy/testkit"
	"entrepot/hosted/blob"
	blobfs "entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a cache over real bolt and fs stores, in front of a testkit
// upstream reached through a real upstream.Client.
type env struct {
	t     *testing.T
	dir   string
	u     *testkit.Upstream
	cl    *upstream.Client
	meta  *bolt.Store
	blobs *blobfs.Store
	clock *clock
	opts  cache.Options
	c     *cache.Cache
}

func newEnv(t *testing.T, opts cache.Options) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), u: testkit.NewUpstream(t), clock: newClock()}
	var err error
	// No retries: the upstream's failures are the point of most tests.
	if e.cl, err = upstream.New("test", e.u.URL, upstream.Options{Retries: -1}); err != nil {
		t.Fatal(err)
	}
	if e.blobs, err = blobfs.New(filepath.Join(e.dir, "blobs")); err != nil {
		t.Fatal(err)
	}
	e.openMeta()
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.opts = opts
	e.c = cache.New(e.meta, e.blobs, opts)
	return e
}

func (e *env) openMeta() {
	var err error
	if e.meta, err = bolt.Open(filepath.Join(e.dir, "meta.db")); err != nil {
		e.t.Fatal(err)
	}
	m := e.meta
	e.t.Cleanup(func() { m.Close(context.Background()) })
}

// restart closes the store and builds a new Cache over the same files, as
// a process restart would.
func (e *env) restart() {
	e.meta.Close(context.Background())
	e.openMeta()
	e.c = cache.New(e.meta, e.blobs, e.opts)
}

// fetch is the Fetch a protocol would write: a conditional GET of url
// streamed into w.
func (e *env) fetch(path string) cache.Fetch {
	return func(ctx context.Context, prev *cache.Entry, w blob.Writer) (cache.Result, error) {
		var req upstream.Request
		if prev != nil {
			req.IfNoneMatch, req.IfModifiedSince = prev.ETag, prev.LastModified
		}
		resp, err := e.cl.Get(ctx, e.u.URL+path, req)
		if err != nil {
			return cache.Result{}, err
		}
		defer resp.Body.Close()
		res := cache.Result{NotModified: resp.NotModified, ContentType: resp.ContentType, ETag: resp.ETag, LastModified: resp.LastModified}
		if !resp.NotModified {
			if _, err := io.Copy(w, resp.Body); err != nil {
				return cache.Result{}, err
			}
		}
		return res, nil
	}
}

// artifact asks for an immutable, digest-checked file at path.
func (e *env) artifact(path string, want []byte) cache.Request {
	return cache.Request{Key: "k" + path, Want: []blob.Digest{sha(want)}, Fetch: e.fetch(path)}
}

// document asks for a metadata document at path with a TTL.
func (e *env) document(path string, ttl time.Duration) cache.Request {
	return cache.Request{Key: "k" + path, TTL: ttl, Fetch: e.fetch(path)}
}

func (e *env) get(r cache.Request) (cache.Entry, error) {
	return e.c.Get(context.Background(), r)
}

func (e *env) mustGet(r cache.Request) cache.Entry {
	e.t.Helper()
	got, err := e.get(r)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", r.Key, err)
	}
	return got
}

// settled is mustGet for an env whose WaitTimeout may be shorter than a
// fill takes on a loaded machine: a waiter that gave up is asked again
// (the fill goes on, and a later Get finds its result).
func (e *env) settled(r cache.Request) cache.Entry {
	e.t.Helper()
	for range 500 {
		got, err := e.get(r)
		if err == nil {
			return got
		}
		if !fault.Is(err, fault.Unavailable) {
			e.t.Fatalf("Get(%s): %v", r.Key, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("Get(%s): the fill never settled", r.Key)
	return cache.Entry{}
}

// read returns the stored bytes of entry.
func (e *env) read(entry cache.Entry) []byte {
	e.t.Helper()
	rc, err := e.blobs.Open(context.Background(), entry.Digest, 0, -1)
	if err != nil {
		e.t.Fatalf("open blob %s: %v", entry.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// blobFiles counts the files in the blob store, temp files included.
func (e *env) blobFiles() int {
	n := 0
	filepath.WalkDir(filepath.Join(e.dir, "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func sha(b []byte) blob.Digest {
	s := sha256.Sum256(b)
	return blob.NewDigest(blob.SHA256, s[:])
}

func wantKind(t *testing.T, err error, k fault.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if got := fault.KindOf(err); got != k {
		t.Fatalf("got %v error (%v), want %v", got, err, k)
	}
}

var tarball = bytes.Repeat([]byte("tarball bytes "), 1000)

func TestHitAfterFill(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Handle("/a.tgz", tarball, func(r *testkit.Route) { r.ContentType = "application/octet-stream" })
	first := e.mustGet(e.artifact("/a.tgz", tarball))
	second := e.mustGet(e.artifact("/a.tgz", tarball))
	if hits := e.u.Hits("/a.tgz"); hits != 1 {
		t.Fatalf("%d upstream hits, want 1", hits)
	}
	if first.Digest != sha(tarball) || first.Size != int64(len(tarball)) || first.ContentType != "application/octet-stream" || !first.Expires.IsZero() {
		t.Fatalf("entry %+v", first)
	}
	if second.Digest != first.Digest || second.Stale {
		t.Fatalf("second entry %+v, first %+v", second, first)
	}
	if !bytes.Equal(e.read(second), tarball) {
		t.Fatal("stored bytes differ from the upstream's")
	}
	// Immutable: a year later it is still a hit.
	e.clock.Advance(365 * 24 * time.Hour)
	e.mustGet(e.artifact("/a.tgz", tarball))
	if hits := e.u.Hits("/a.tgz"); hits != 1 {
		t.Fatalf("%d upstream hits after a year, want 1", hits)
	}
}

func TestStampede(t *testing.T) {
	const n = 200
	e := newEnv(t, cache.Options{})
	e.u.Set("/hot.tgz", testkit.Route{Body: tarball, Delay: 100 * time.Millisecond})
	start := make(chan struct{})
	entries := make([]cache.Entry, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			entries[i], errs[i] = e.get(e.artifact("/hot.tgz", tarball))
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("waiter %d: %v", i, errs[i])
		}
		if got := entries[i]; got.Digest != entries[0].Digest || !got.FetchedAt.Equal(entries[0].FetchedAt) || got.Size != entries[0].Size {
			t.Fatalf("waiter %d got %+v, waiter 0 %+v", i, got, entries[0])
		}
	}
	if hits := e.u.Hits("/hot.tgz"); hits != 1 {
		t.Fatalf("%d upstream hits for %d concurrent misses, want 1", hits, n)
	}
	if !bytes.Equal(e.read(entries[0]), tarball) {
		t.Fatal("stored bytes differ from the upstream's")
	}
}

func TestWaiterLeavesFlightGoesOn(t *testing.T) {
	cases := []struct {
		name string
		opts cache.Options
		ctx  time.Duration // the impatient waiter's deadline; 0: none
	}{
		{"own deadline", cache.Options{}, 20 * time.Millisecond},
		{"wait timeout", cache.Options{WaitTimeout: 20 * time.Millisecond}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			e.u.Set("/slow.tgz", testkit.Route{Body: tarball, Delay: 300 * time.Millisecond})
			ctx := context.Background()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}
			_, err := e.c.Get(ctx, e.artifact("/slow.tgz", tarball))
			wantKind(t, err, fault.Unavailable)
			// The flight goes on: wait for its record, then it is a hit.
			for {
				if _, ok := e.c.Peek(context.Background(), "k/slow.tgz"); ok {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			got := e.mustGet(e.artifact("/slow.tgz", tarball))
			if hits := e.u.Hits("/slow.tgz"); hits != 1 {
				t.Fatalf("%d upstream hits, want 1", hits)
			}
			if !bytes.Equal(e.read(got), tarball) {
				t.Fatal("stored bytes differ")
			}
		})
	}
}

func TestBadBytesAreNeverRecorded(t *testing.T) {
	cases := []struct {
		name  string
		route testkit.Route
		kind  fault.Kind
		msg   string
	}{
		{"corrupt", testkit.Route{Body: tarball, Corrupt: true}, fault.Upstream, "upstream sent bytes that do not match " + string(sha(tarball))},
		{"truncated", testkit.Route{Body: tarball, Truncate: 100}, fault.Upstream, "cut short"},
		{"reset", testkit.Route{Reset: true}, fault.Upstream, ""},
		{"5xx", testkit.Route{Status: 502}, fault.Upstream, ""},
		{"401", testkit.Route{Status: 401}, fault.Upstream, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, cache.Options{})
			e.u.Set("/x.tgz", tc.route)
			req := e.artifact("/x.tgz", tarball)
			_, err := e.get(req)
			wantKind(t, err, tc.kind)
			if !strings.Contains(fault.Message(err), tc.msg) {
				t.Errorf("message %q, want it to contain %q", fault.Message(err), tc.msg)
			}
			if _, ok := e.c.Peek(context.Background(), req.Key); ok {
				t.Fatal("a failed fill left a record")
			}
			if n := e.blobFiles(); n != 0 {
				t.Fatalf("a failed fill left %d files in the blob store", n)
			}
			// Nothing was remembered: the next Get asks again, and a
			// repaired upstream fills.
			e.u.Handle("/x.tgz", tarball)
			got := e.mustGet(req)
			if hits := e.u.Hits("/x.tgz"); hits < 2 {
				t.Fatalf("%d upstream hits, want the second Get to ask again", hits)
			}
			if !bytes.Equal(e.read(got), tarball) {
				t.Fatal("stored bytes differ")
			}
		})
	}
}

func TestRevalidation(t *testing.T) {
	const lm = "Mon, 02 Jan 2006 15:04:05 GMT"
	doc := []byte(`{"name":"left-pad","versions":{}}`)
	cases := []struct {
		name   string
		route  testkit.Route
		header string // the conditional header the revalidation must send
	}{
		{"etag", testkit.Route{Body: doc, ETag: `"v1"`}, "If-None-Match"},
		{"last-modified", testkit.Route{Body: doc, LastModified: lm}, "If-Modified-Since"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, cache.Options{})
			e.u.Set("/left-pad", tc.route)
			req := e.document("/left-pad", time.Minute)
			first := e.mustGet(req)
			e.mustGet(req) // fresh: no upstream request
			if hits := e.u.Hits("/left-pad"); hits != 1 {
				t.Fatalf("%d hits while fresh, want 1", hits)
			}

			e.clock.Advance(2 * time.Minute)
			second := e.mustGet(req)
			if hits := e.u.Hits("/left-pad"); hits != 2 {
				t.Fatalf("%d hits after expiry, want 2", hits)
			}
			if e.u.Header("/left-pad").Get(tc.header) == "" {
				t.Fatalf("revalidation sent no %s", tc.header)
			}
			now := e.clock.Now()
			if second.Digest != first.Digest || !second.FetchedAt.Equal(now) || !second.Expires.Equal(now.Add(time.Minute)) || second.Stale {
				t.Fatalf("after 304: %+v, want the same blob with its TTL reset at %v", second, now)
			}
			e.mustGet(req) // the TTL was reset
			if hits := e.u.Hits("/left-pad"); hits != 2 {
				t.Fatalf("%d hits after revalidation, want 2", hits)
			}

			// A changed document replaces the entry.
			changed := []byte(`{"name":"left-pad","versions":{"1.0.0":{}}}`)
			e.u.Set("/left-pad", testkit.Route{Body: changed, ETag: `"v2"`})
			e.clock.Advance(2 * time.Minute)
			third := e.mustGet(req)
			if third.Digest != sha(changed) || third.ETag != `"v2"` || !bytes.Equal(e.read(third), changed) {
				t.Fatalf("after change: %+v", third)
			}
		})
	}
}

func TestServeStale(t *testing.T) {
	doc := []byte(`{"name":"left-pad"}`)
	cases := []struct {
		name    string
		opts    cache.Options
		breakIt func(u *testkit.Upstream)
	}{
		{"down", cache.Options{}, func(u *testkit.Upstream) { u.Down() }},
		{"5xx", cache.Options{}, func(u *testkit.Upstream) { u.Set("/left-pad", testkit.Route{Status: 503}) }},
		{"fill times out", cache.Options{FillTimeout: 50 * time.Millisecond},
			func(u *testkit.Upstream) { u.Set("/left-pad", testkit.Route{Body: doc, Delay: time.Minute}) }},
		{"waiter times out", cache.Options{WaitTimeout: 30 * time.Millisecond},
			func(u *testkit.Upstream) { u.Set("/left-pad", testkit.Route{Body: doc, Delay: 300 * time.Millisecond}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			e.u.Handle("/left-pad", doc, func(r *testkit.Route) { r.ETag = `"v1"` })
			req := e.document("/left-pad", time.Minute)
			first := e.settled(req)

			e.clock.Advance(2 * time.Minute)
			tc.breakIt(e.u)
			got, err := e.get(req)
			if err != nil {
				t.Fatalf("want the stale entry, got %v", err)
			}
			if !got.Stale || got.Digest != first.Digest || !bytes.Equal(e.read(got), doc) {
				t.Fatalf("got %+v, want the first entry marked stale", got)
			}
			if peek, ok := e.c.Peek(context.Background(), req.Key); !ok || !peek.Stale {
				t.Fatalf("Peek = %+v, %v; want the stale record kept", peek, ok)
			}
		})
	}
}

func TestNoStaleWithoutRecord(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Down()
	_, err := e.get(e.document("/never-seen", time.Minute))
	wantKind(t, err, fault.Upstream)
}

func TestNegativeCache(t *testing.T) {
	e := newEnv(t, cache.Options{NegativeTTL: time.Minute})
	req := e.document("/nope", time.Hour)
	for range 2 {
		_, err := e.get(req)
		wantKind(t, err, fault.NotFound)
	}
	if hits := e.u.Hits("/nope"); hits != 1 {
		t.Fatalf("%d hits within NegativeTTL, want 1", hits)
	}
	e.clock.Advance(61 * time.Second)
	_, err := e.get(req)
	wantKind(t, err, fault.NotFound)
	if hits := e.u.Hits("/nope"); hits != 2 {
		t.Fatalf("%d hits after NegativeTTL, want 2", hits)
	}
	// Once it exists upstream, the next expiry finds it.
	e.u.Handle("/nope", []byte("now it exists"))
	e.clock.Advance(61 * time.Second)
	if got := e.mustGet(req); !bytes.Equal(e.read(got), []byte("now it exists")) {
		t.Fatal("stored bytes differ")
	}
}

func TestNotFoundDropsPositiveRecord(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Handle("/gone", []byte("doc"))
	req := e.document("/gone", time.Minute)
	e.mustGet(req)
	e.clock.Advance(2 * time.Minute)
	e.u.Set("/gone", testkit.Route{Status: 404})
	_, err := e.get(req)
	wantKind(t, err, fault.NotFound)
	if peek, ok := e.c.Peek(context.Background(), req.Key); !ok || !peek.Negative || peek.Digest != "" {
		t.Fatalf("Peek = %+v, %v; want a negative record", peek, ok)
	}
}

func TestRestartKeepsEntries(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Handle("/a.tgz", tarball)
	e.u.Handle("/doc", []byte("doc"))
	art := e.mustGet(e.artifact("/a.tgz", tarball))
	e.mustGet(e.document("/doc", time.Hour))
	_, err := e.get(e.document("/missing", time.Hour))
	wantKind(t, err, fault.NotFound)
	before := e.u.TotalHits()

	e.restart()
	got := e.mustGet(e.artifact("/a.tgz", tarball))
	e.mustGet(e.document("/doc", time.Hour))
	_, err = e.get(e.document("/missing", time.Hour))
	wantKind(t, err, fault.NotFound)
	if hits := e.u.TotalHits(); hits != before {
		t.Fatalf("%d upstream hits after restart, want none", hits-before)
	}
	if got.Digest != art.Digest || !got.FetchedAt.Equal(art.FetchedAt) || !bytes.Equal(e.read(got), tarball) {
		t.Fatalf("after restart %+v, before %+v", got, art)
	}
}

// TestLegacyKey: after an upgrade that renamed a key, the first Get under
// the new name moves the old record there, so nothing is fetched again,
// and a purge of the new layout finds it.
func TestLegacyKey(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Handle("/a.tgz", tarball)
	e.u.Handle("/doc", []byte("doc"))
	old := e.mustGet(e.artifact("/a.tgz", tarball))
	e.mustGet(e.document("/doc", time.Hour))
	before := e.u.TotalHits()

	e.restart()
	art := e.artifact("/a.tgz", tarball)
	art.Key, art.Legacy = "new/a.tgz", old.Key
	doc := e.document("/doc", time.Hour)
	doc.Key, doc.Legacy = "new/doc", doc.Key
	got := e.mustGet(art)
	e.mustGet(doc)
	if hits := e.u.TotalHits(); hits != before {
		t.Fatalf("%d upstream hits for renamed keys, want none", hits-before)
	}
	if got.Key != "new/a.tgz" || got.Digest != old.Digest || !bytes.Equal(e.read(got), tarball) {
		t.Fatalf("adopted %+v, was %+v", got, old)
	}
	if _, ok := e.c.Peek(context.Background(), old.Key); ok {
		t.Fatal("the legacy record is still there")
	}
	if n, err := cache.Purge(context.Background(), e.meta, "new/"); n != 2 || err != nil {
		t.Fatalf("Purge = %d, %v; want the 2 adopted records", n, err)
	}
}

func TestPanicInFetch(t *testing.T) {
	e := newEnv(t, cache.Options{})
	req := cache.Request{Key: "boom", Fetch: func(ctx context.Context, prev *cache.Entry, w blob.Writer) (cache.Result, error) {
		w.Write([]byte("half"))
		panic("protocol bug")
	}}
	_, err := e.get(req)
	wantKind(t, err, fault.Internal)
	if n := e.blobFiles(); n != 0 {
		t.Fatalf("the panicking fill left %d files", n)
	}
	// Still alive, and the key is not poisoned.
	e.u.Handle("/boom", []byte("fine"))
	req.Fetch = e.fetch("/boom")
	if got := e.mustGet(req); !bytes.Equal(e.read(got), []byte("fine")) {
		t.Fatal("stored bytes differ")
	}
}

func TestInvalidate(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Handle("/a.tgz", tarball)
	req := e.artifact("/a.tgz", tarball)
	e.mustGet(req)
	if err := e.c.Invalidate(context.Background(), req.Key); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.c.Peek(context.Background(), req.Key); ok {
		t.Fatal("Peek finds an invalidated key")
	}
	e.mustGet(req)
	if hits := e.u.Hits("/a.tgz"); hits != 2 {
		t.Fatalf("%d hits, want 2", hits)
	}
}

func TestWantChangeRefills(t *testing.T) {
	e := newEnv(t, cache.Options{})
	e.u.Handle("/a.tgz", tarball)
	e.mustGet(e.artifact("/a.tgz", tarball))
	other := []byte("republished")
	e.u.Handle("/a.tgz", other)
	got := e.mustGet(e.artifact("/a.tgz", other))
	if got.Digest != sha(other) || e.u.Hits("/a.tgz") != 2 {
		t.Fatalf("got %+v after %d hits; want the bytes the new digest asks for", got, e.u.Hits("/a.tgz"))
	}
}

func TestInvalidRequest(t *testing.T) {
	e := newEnv(t, cache.Options{})
	_, err := e.get(cache.Request{Key: "k"})
	wantKind(t, err, fault.Invalid)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, cache.Options{Registerer: reg})
	cache.New(e.meta, e.blobs, cache.Options{Registerer: reg}) // a second one shares the counters
	e.u.Handle("/doc", []byte("doc"), func(r *testkit.Route) { r.ETag = `"1"` })
	req := e.document("/doc", time.Minute)
	e.mustGet(req)                          // miss, fill ok
	e.mustGet(req)                          // hit
	e.clock.Advance(2 * time.Minute)        //
	e.mustGet(req)                          // miss, not_modified
	e.clock.Advance(2 * time.Minute)        //
	e.u.Down()                              //
	e.mustGet(req)                          // stale, fill error
	e.u.Up()                                //
	e.get(e.document("/none", time.Minute)) // miss
	e.get(e.document("/none", time.Minute)) // negative

	want := map[string]float64{
		"entrepot_cache_requests_total/hit":       1,
		"entrepot_cache_requests_total/miss":      3,
		"entrepot_cache_requests_total/stale":     1,
		"entrepot_cache_requests_total/negative":  1,
		"entrepot_cache_fills_total/ok":           2,
		"entrepot_cache_fills_total/not_modified": 1,
		"entrepot_cache_fills_total/error":        1,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
