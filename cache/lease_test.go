package cache_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/cache"
	"entrepot/deploy/testkit"
	"entrepot/deploy/testkit/stores"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	blobfs "entrepot/hosted/blob/fs"
	"entrepot/hosted/blob/s3"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// nodes are n Caches as n edges run them: on bolt and fs, n Caches over
// one store in one process (bbolt admits one process); on MongoDB and S3
// ("mongo"), n Caches each with its own clients of one database and one
// bucket. One counting upstream serves them all.
type nodes struct {
	t      *testing.T
	u      *testkit.Upstream
	cl     *upstream.Client
	metas  []*cuttable
	blobs  []blob.Store
	caches []*cache.Cache
}

func newNodes(t *testing.T, backend string, n int, opts cache.Options) *nodes {
	t.Helper()
	ns := &nodes{t: t, u: testkit.NewUpstream(t)}
	var err error
	if ns.cl, err = upstream.New("test", ns.u.URL, upstream.Options{Retries: -1}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, meta := range stores.Peers(t, backend, n) {
		ns.metas = append(ns.metas, &cuttable{Store: meta})
	}
	switch backend {
	case "bolt":
		blobs, err := blobfs.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			ns.blobs = append(ns.blobs, blobs)
		}
	case "mongo":
		endpoint := os.Getenv("ENTREPOT_TEST_S3_ENDPOINT")
		if endpoint == "" {
			t.Skip("ENTREPOT_TEST_S3_ENDPOINT is set by `make test`")
		}
		id := make([]byte, 6)
		rand.Read(id)
		for range n {
			blobs, err := s3.New(ctx, s3.Config{
				Endpoint: endpoint, Bucket: os.Getenv("ENTREPOT_TEST_S3_BUCKET"), Region: os.Getenv("ENTREPOT_TEST_S3_REGION"),
				AccessKey: os.Getenv("ENTREPOT_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
				ForcePathStyle: true, Prefix: "cache-" + hex.EncodeToString(id), TempDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			ns.blobs = append(ns.blobs, blobs)
		}
		t.Cleanup(func() { ns.blobs[0].Delete(ctx, sha(tarball)) })
	}
	for i := range n {
		ns.caches = append(ns.caches, cache.New(ns.metas[i], ns.blobs[i], opts))
	}
	return ns
}

// artifact asks for the immutable file at path, which must be want.
func (ns *nodes) artifact(path string, want []byte) cache.Request {
	return cache.Request{Key: "k" + path, Want: []blob.Digest{sha(want)}, Fetch: ns.fetch(path)}
}

func (ns *nodes) fetch(path string) cache.Fetch {
	return func(ctx context.Context, _ *cache.Entry, w blob.Writer) (cache.Result, error) {
		resp, err := ns.cl.Get(ctx, ns.u.URL+path, upstream.Request{})
		if err != nil {
			return cache.Result{}, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(w, resp.Body)
		return cache.Result{ContentType: resp.ContentType}, err
	}
}

// read returns the bytes node i streams for entry.
func (ns *nodes) read(i int, entry cache.Entry) []byte {
	ns.t.Helper()
	rc, err := ns.blobs[i].Open(context.Background(), entry.Digest, 0, -1)
	if err != nil {
		ns.t.Fatalf("node %d: open blob %s: %v", i, entry.Digest, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		ns.t.Fatal(err)
	}
	return b.Bytes()
}

// cuttable is a node's store client that can be cut off, as a node that
// crashes or loses the network stops talking to the database: every call
// after cut fails Unavailable.
type cuttable struct {
	hosted.Store
	cut atomic.Bool
}

func (s *cuttable) down() error { return fault.New("cuttable", fault.Unavailable, "node cut off") }

func (s *cuttable) Get(ctx context.Context, c hosted.Collection, id string) (hosted.Record, error) {
	if s.cut.Load() {
		return hosted.Record{}, s.down()
	}
	return s.Store.Get(ctx, c, id)
}

func (s *cuttable) Create(ctx context.Context, c hosted.Collection, r hosted.Record) (hosted.Record, error) {
	if s.cut.Load() {
		return hosted.Record{}, s.down()
	}
	return s.Store.Create(ctx, c, r)
}

func (s *cuttable) Replace(ctx context.Context, c hosted.Collection, r hosted.Record, rev uint64) (hosted.Record, error) {
	if s.cut.Load() {
		return hosted.Record{}, s.down()
	}
	return s.Store.Replace(ctx, c, r, rev)
}

func (s *cuttable) Delete(ctx context.Context, c hosted.Collection, id string) error {
	if s.cut.Load() {
		return s.down()
	}
	return s.Store.Delete(ctx, c, id)
}

func (s *cuttable) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	if s.cut.Load() {
		return nil, "", s.down()
	}
	return s.Store.Query(ctx, c, q)
}

// stampede runs callers concurrent Gets of r spread round-robin over the
// nodes and returns their entries, errors and how long each took.
func (ns *nodes) stampede(callers int, r cache.Request) ([]cache.Entry, []error, []time.Duration) {
	entries := make([]cache.Entry, callers)
	errs := make([]error, callers)
	took := make([]time.Duration, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			entries[i], errs[i] = ns.caches[i%len(ns.caches)].Get(context.Background(), r)
			took[i] = time.Since(t0)
		})
	}
	close(start)
	wg.Wait()
	return entries, errs, took
}

// nodeMedians returns the median time each node's callers took.
func nodeMedians(took []time.Duration, n int) []time.Duration {
	per := make([][]time.Duration, n)
	for i, d := range took {
		per[i%n] = append(per[i%n], d)
	}
	out := make([]time.Duration, n)
	for i, ds := range per {
		slices.Sort(ds)
		out[i] = ds[len(ds)/2]
	}
	return out
}

// TestCrossNodeStampede: 60 concurrent misses of one artifact spread over
// 3 nodes make one upstream request, and every caller gets the bytes.
func TestCrossNodeStampede(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		const callers, n = 60, 3
		ns := newNodes(t, backend, n, cache.Options{})
		ns.u.Set("/hot.tgz", testkit.Route{Body: tarball, Delay: 300 * time.Millisecond})
		entries, errs, took := ns.stampede(callers, ns.artifact("/hot.tgz", tarball))
		for i := range callers {
			if errs[i] != nil {
				t.Fatalf("caller %d (node %d): %v", i, i%n, errs[i])
			}
			if entries[i].Digest != sha(tarball) {
				t.Fatalf("caller %d: entry %+v", i, entries[i])
			}
		}
		for i := range n {
			if !bytes.Equal(ns.read(i, entries[i]), tarball) {
				t.Fatalf("node %d streams other bytes", i)
			}
		}
		if hits := ns.u.Hits("/hot.tgz"); hits != 1 {
			t.Fatalf("%d upstream requests for %d misses over %d nodes, want 1", hits, callers, n)
		}
		med := nodeMedians(took, n)
		t.Logf("%s: 1 upstream request for %d misses over %d nodes; median wait per node %v (a waiter on another node adds %v)",
			backend, callers, n, med, slices.Max(med)-slices.Min(med))
	})
}

// TestCrossNodeNegativeStampede: an upstream 404 is one request too, and
// every node answers NotFound from the remembered 404.
func TestCrossNodeNegativeStampede(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		const callers, n = 60, 3
		ns := newNodes(t, backend, n, cache.Options{})
		ns.u.Set("/missing.tgz", testkit.Route{Status: 404, Delay: 300 * time.Millisecond})
		_, errs, _ := ns.stampede(callers, ns.artifact("/missing.tgz", tarball))
		for i, err := range errs {
			if !fault.Is(err, fault.NotFound) {
				t.Fatalf("caller %d (node %d): %v, want NotFound", i, i%n, err)
			}
		}
		if hits := ns.u.Hits("/missing.tgz"); hits != 1 {
			t.Fatalf("%d upstream requests for %d misses of a 404 over %d nodes, want 1", hits, callers, n)
		}
	})
}

// TestCrossNodeTakeover: when the node holding a fill's lease fails the
// fill (its fill deadline ends it) or dies (it stops renewing: its store
// is cut off), a waiting node takes the fill over and its callers get the
// bytes; the upstream sees the failed request and the one that worked.
func TestCrossNodeTakeover(t *testing.T) {
	cases := []struct {
		name string
		// first is the upstream's answer to the holder.
		first testkit.Route
		// holder are the holder's options; lease TTL is every node's.
		holder cache.Options
		// kill, when set, cuts the holder off once its fetch is under way.
		kill bool
	}{
		{"holder's fill fails", testkit.Route{Body: tarball, Delay: 2 * time.Second},
			cache.Options{FillTimeout: 300 * time.Millisecond}, false},
		{"holder dies", testkit.Route{Body: tarball, Delay: 2 * time.Second},
			cache.Options{LeaseTTL: 600 * time.Millisecond}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stores.Each(t, func(t *testing.T, backend string) {
				ns := newNodes(t, backend, 2, cache.Options{LeaseTTL: 600 * time.Millisecond})
				holder := tc.holder
				holder.LeaseTTL = 600 * time.Millisecond
				ns.caches[0] = cache.New(ns.metas[0], ns.blobs[0], holder)
				ns.u.Once("/t.tgz", tc.first)
				ns.u.Set("/t.tgz", testkit.Route{Body: tarball})
				req := ns.artifact("/t.tgz", tarball)

				holderDone := make(chan error, 1)
				go func() {
					_, err := ns.caches[0].Get(context.Background(), req)
					holderDone <- err
				}()
				for ns.u.Hits("/t.tgz") == 0 { // the holder has the lease and asks
					time.Sleep(time.Millisecond)
				}
				t0 := time.Now()
				if tc.kill {
					ns.metas[0].cut.Store(true)
				}
				got, err := ns.caches[1].Get(context.Background(), req)
				if err != nil {
					t.Fatalf("waiting node: %v", err)
				}
				took := time.Since(t0)
				if !bytes.Equal(ns.read(1, got), tarball) {
					t.Fatal("waiting node streams other bytes")
				}
				if hits := ns.u.Hits("/t.tgz"); hits != 2 {
					t.Fatalf("%d upstream requests, want 2: the holder's and the takeover's", hits)
				}
				if err := <-holderDone; err == nil {
					t.Fatal("the failed holder's caller got no error")
				}
				t.Logf("%s, %s: the waiting node had the bytes %v after the holder's fetch began", tc.name, backend, took)
			})
		})
	}
}

// TestHitTouchesNoLease: a hit is answered from memory: with the node's
// store cut off it still succeeds, and it allocates nothing.
func TestHitTouchesNoLease(t *testing.T) {
	ns := newNodes(t, "bolt", 1, cache.Options{})
	ns.u.Handle("/a.tgz", tarball)
	req := ns.artifact("/a.tgz", tarball)
	ctx := context.Background()
	if _, err := ns.caches[0].Get(ctx, req); err != nil {
		t.Fatal(err)
	}
	ns.metas[0].cut.Store(true)
	if _, err := ns.caches[0].Get(ctx, req); err != nil {
		t.Fatalf("hit with the store cut off: %v", err)
	}
	if n := testing.AllocsPerRun(200, func() { ns.caches[0].Get(ctx, req) }); n != 0 {
		t.Fatalf("a hit allocates %v times, want 0", n)
	}
}
