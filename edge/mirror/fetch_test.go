package mirror_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"entrepot/cache"
	"entrepot/deploy/testkit"
	"entrepot/edge/mirror"
	"entrepot/hosted/blob"
	blobfs "entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// fixture is a cache over real stores in front of a fake upstream reached
// through a real upstream client.
type fixture struct {
	dir   string // the blob store's
	u     *testkit.Upstream
	up    *upstream.Client
	blobs *blobfs.Store
	c     *cache.Cache
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{u: testkit.NewUpstream(t)}
	var err error
	if f.up, err = upstream.New("test", f.u.URL, upstream.Options{Retries: -1}); err != nil {
		t.Fatal(err)
	}
	f.dir = filepath.Join(dir, "blobs")
	if f.blobs, err = blobfs.New(f.dir); err != nil {
		t.Fatal(err)
	}
	meta, err := bolt.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close(context.Background()) })
	f.c = cache.New(meta, f.blobs, cache.Options{})
	return f
}

func (f *fixture) read(t *testing.T, e cache.Entry) string {
	t.Helper()
	rc, err := f.blobs.Open(context.Background(), e.Digest, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func digest(b []byte) blob.Digest {
	s := sha256.Sum256(b)
	return blob.NewDigest(blob.SHA256, s[:])
}

// expire makes every document of the cache due: a TTL shorter than any
// test step.
const expire = 1

func TestDocument(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.u.Handle("/doc", []byte(`{"v":1}`), func(r *testkit.Route) { r.ETag, r.ContentType = `"e1"`, "application/json" })
	checked := 0
	req := cache.Request{Key: "test/doc", TTL: expire, Fetch: mirror.Document(f.up, f.u.URL+"/doc", mirror.DocumentOptions{
		Accept: "application/json", MaxSize: 64,
		Check: func(b []byte, resp *upstream.Response) (map[string]string, error) {
			checked++
			if !strings.HasPrefix(string(b), "{") {
				return nil, errors.New("not an object")
			}
			return map[string]string{"ct": resp.ContentType}, nil
		},
	})}

	t.Run("fill", func(t *testing.T) {
		e, err := f.c.Get(ctx, req)
		if err != nil || f.read(t, e) != `{"v":1}` || e.ETag != `"e1"` || e.Meta["ct"] != "application/json" || e.ContentType != "application/json" {
			t.Fatalf("%+v %v", e, err)
		}
		if got := f.u.Header("/doc").Get("Accept"); got != "application/json" {
			t.Errorf("Accept %q", got)
		}
	})
	t.Run("revalidated with the ETag: 304 keeps the bytes, unchecked", func(t *testing.T) {
		before := checked
		e, err := f.c.Get(ctx, req)
		if err != nil || f.read(t, e) != `{"v":1}` || e.Meta["ct"] != "application/json" || checked != before {
			t.Fatalf("%+v %v (checked %d times)", e, err, checked-before)
		}
		if got := f.u.Header("/doc").Get("If-None-Match"); got != `"e1"` {
			t.Errorf("If-None-Match %q", got)
		}
	})
	t.Run("a document that fails its check is not cached", func(t *testing.T) {
		f.u.Handle("/doc", []byte(`garbage`), func(r *testkit.Route) { r.ETag = `"e2"` })
		e, err := f.c.Get(ctx, req)
		// The stale copy stands in for it.
		if err != nil || !e.Stale || f.read(t, e) != `{"v":1}` {
			t.Fatalf("%+v %v", e, err)
		}
		fresh := req
		fresh.Key = "test/other"
		if _, err := f.c.Get(ctx, fresh); !fault.Is(err, fault.Upstream) {
			t.Fatalf("no copy to fall back on: %v, want an Upstream error", err)
		}
	})
	t.Run("a document over MaxSize is refused", func(t *testing.T) {
		f.u.Handle("/big", []byte(`{"v":"`+strings.Repeat("x", 100)+`"}`))
		big := cache.Request{Key: "test/big", TTL: expire, Fetch: mirror.Document(f.up, f.u.URL+"/big", mirror.DocumentOptions{MaxSize: 64})}
		if _, err := f.c.Get(ctx, big); !fault.Is(err, fault.TooLarge) {
			t.Fatalf("%v, want TooLarge", err)
		}
	})
}

// checker counts what streamed past it and refuses or accepts it.
type checker struct {
	n      int
	refuse bool
}

func (c *checker) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

func (c *checker) Check(context.Context) (map[string]string, error) {
	if c.refuse {
		return nil, fault.New("test", fault.Upstream, "refused")
	}
	return map[string]string{"n": strconv.Itoa(c.n)}, nil
}

func TestArtifact(t *testing.T) {
	ctx := context.Background()
	body := []byte("artifact!")
	for _, c := range []struct {
		name   string
		route  testkit.Route
		want   []blob.Digest
		refuse bool
		served bool
		kind   fault.Kind // the error's, when not served
	}{
		{name: "verified", route: testkit.Route{Body: body}, want: []blob.Digest{digest(body)}, served: true},
		{name: "checked by the protocol", route: testkit.Route{Body: body}, served: true},
		{name: "refused by the protocol", route: testkit.Route{Body: body}, refuse: true, kind: fault.Upstream},
		{name: "other bytes than promised", route: testkit.Route{Body: body, Corrupt: true}, want: []blob.Digest{digest(body)}, kind: fault.Upstream},
		{name: "cut short", route: testkit.Route{Body: body, Truncate: 3}, kind: fault.Upstream},
		{name: "missing", route: testkit.Route{Status: 404}, kind: fault.NotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.u.Set("/a", c.route)
			ck := &checker{refuse: c.refuse}
			req := cache.Request{Key: "test/a", Want: c.want, Fetch: mirror.Artifact(f.up, f.u.URL+"/a", mirror.ArtifactOptions{
				ContentType: "application/x-test", Checker: func() mirror.Checker { return ck },
			})}
			e, err := f.c.Get(ctx, req)
			if !c.served {
				if !fault.Is(err, c.kind) {
					t.Fatalf("%v, want %v", err, c.kind)
				}
				if _, ok := f.c.Peek(ctx, "test/a"); ok && c.kind != fault.NotFound {
					t.Fatal("refused bytes were recorded")
				}
				if n := testkit.CountFiles(f.dir); n != 0 {
					t.Fatalf("%d files left in the blob store", n)
				}
				return
			}
			if err != nil || f.read(t, e) != string(body) || e.ContentType != "application/x-test" || e.Meta["n"] != "9" {
				t.Fatalf("%+v %v", e, err)
			}
		})
	}
}
