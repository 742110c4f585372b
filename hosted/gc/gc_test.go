package gc_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"entrepot/cache"
	"entrepot/deploy/testkit/stores"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/blob/s3"
	"entrepot/hosted/fault"
	"entrepot/hosted/gc"
	"entrepot/hosted/lease"
)

// backend is one pair of stores the collector runs on.
type backend struct {
	name  string
	open  func(t *testing.T) (hosted.Store, blob.Store)
	local bool // blobs are files under dir (for the damaged-blob case)
}

var backends = []backend{
	{name: "bolt+fs", open: func(t *testing.T) (hosted.Store, blob.Store) {
		b, err := fs.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		return stores.Peers(t, "bolt", 1)[0], b
	}, local: true},
	{name: "mongo+s3", open: func(t *testing.T) (hosted.Store, blob.Store) {
		cfg := s3.Config{
			Endpoint:       os.Getenv("ENTREPOT_TEST_S3_ENDPOINT"),
			AccessKey:      os.Getenv("ENTREPOT_TEST_S3_ACCESS_KEY"),
			SecretKey:      os.Getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
			Bucket:         os.Getenv("ENTREPOT_TEST_S3_BUCKET"),
			Region:         os.Getenv("ENTREPOT_TEST_S3_REGION"),
			ForcePathStyle: true,
			TempDir:        t.TempDir(),
			Prefix:         "gc-test-" + rand.Text()[:12],
		}
		if cfg.Endpoint == "" || cfg.Bucket == "" {
			t.Skip("ENTREPOT_TEST_S3_ENDPOINT is unset (`make test` starts MinIO and sets it)")
		}
		meta := stores.Peers(t, "mongo", 1)[0]
		b, err := s3.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return meta, b
	}},
}

func put(t *testing.T, s blob.Store, body string) blob.Info {
	t.Helper()
	ctx := context.Background()
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	w.Write([]byte(body))
	info, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// later is a clock hours ahead, which makes every blob older than a
// grace period of an hour.
func later() time.Time { return time.Now().Add(3 * time.Hour) }

// fixture publishes a hosted version (two files, one of them deleted with
// its version), caches one mirrored document, and leaves one blob that
// nothing references.
type fixture struct {
	kept, deleted, cached, orphan blob.Info
}

func setup(t *testing.T, meta hosted.Store, blobs blob.Store) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.kept, f.deleted, f.cached, f.orphan = put(t, blobs, "kept"), put(t, blobs, "deleted"), put(t, blobs, "cached"), put(t, blobs, "orphan")
	cat := hosted.NewCatalog(meta)
	for _, v := range []struct {
		version string
		file    blob.Info
	}{{"1.0.0", f.kept}, {"2.0.0", f.deleted}} {
		_, err := cat.AddVersion(ctx, hosted.Version{Protocol: "npm", Package: "p", Version: v.version, OrgID: "o",
			Files: []hosted.File{{Name: "p-" + v.version + ".tgz", Digest: string(v.file.Digest), Size: v.file.Size}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cat.DeleteVersion(ctx, "npm", "p", "2.0.0"); err != nil {
		t.Fatal(err)
	}
	c := cache.New(meta, blobs, cache.Options{Local: true})
	_, err := c.Get(ctx, cache.Request{Key: "npm/doc/q", Fetch: func(ctx context.Context, prev *cache.Entry, w blob.Writer) (cache.Result, error) {
		_, err := w.Write([]byte("cached"))
		return cache.Result{}, err
	}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func markers(meta hosted.Store) []hosted.BlobMarker {
	return []hosted.BlobMarker{
		hosted.NewCatalog(meta),
		hosted.MarkFunc(func(ctx context.Context, mark func(hosted.BlobRef)) error { return cache.MarkBlobs(ctx, meta, mark) }),
	}
}

func exists(t *testing.T, s blob.Store, i blob.Info) bool {
	t.Helper()
	_, err := s.Stat(context.Background(), i.Digest)
	if err != nil && !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func TestCollector(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			meta, blobs := b.open(t)
			f := setup(t, meta, blobs)
			young := gc.New(meta, blobs, markers(meta), gc.Options{Grace: time.Hour})
			old := gc.New(meta, blobs, markers(meta), gc.Options{Grace: time.Hour, Now: later})

			if _, err := old.LastRun(ctx); !fault.Is(err, fault.NotFound) {
				t.Fatalf("LastRun before any run: %v, want NotFound", err)
			}
			// Within the grace period nothing goes, referenced or not.
			rep, err := young.Run(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Freed != 0 || rep.Young != 2 || rep.Blobs != 4 || rep.Referenced != 2 {
				t.Fatalf("young run: %+v", rep)
			}
			// A dry run counts what would go and deletes nothing.
			rep, err = old.Run(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Freed != 2 || rep.FreedBytes != f.deleted.Size+f.orphan.Size || !exists(t, blobs, f.orphan) {
				t.Fatalf("dry run: %+v", rep)
			}
			rep, err = old.Run(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Freed != 2 || rep.FreedBytes != f.deleted.Size+f.orphan.Size {
				t.Fatalf("run: %+v", rep)
			}
			for _, c := range []struct {
				name string
				blob blob.Info
				want bool
			}{{"hosted", f.kept, true}, {"cached", f.cached, true}, {"deleted version", f.deleted, false}, {"orphan", f.orphan, false}} {
				if got := exists(t, blobs, c.blob); got != c.want {
					t.Errorf("%s blob exists = %v, want %v", c.name, got, c.want)
				}
			}
			last, err := old.LastRun(ctx)
			if err != nil || last.Freed != 2 || last.DryRun {
				t.Fatalf("LastRun = %+v, %v", last, err)
			}
			// Again: nothing more to free.
			if rep, err = old.Run(ctx, false); err != nil || rep.Freed != 0 {
				t.Fatalf("second run: %+v, %v", rep, err)
			}
		})
	}
}

// TestCommitRevives: a blob that was garbage and is committed again (a
// re-publish of the same bytes) is young again, so a collection between
// that Commit and the record naming it keeps it.
func TestCommitRevives(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			meta, blobs := b.open(t)
			orphan := put(t, blobs, "revived")
			// The blob is an hour and a half old by this clock...
			now := time.Now().Add(90 * time.Minute)
			c := gc.New(meta, blobs, nil, gc.Options{Grace: time.Hour, Now: func() time.Time { return now }})
			if rep, err := c.Run(ctx, true); err != nil || rep.Freed != 1 {
				t.Fatalf("dry run: %+v, %v", rep, err)
			}
			// ...until an hour later it is committed again.
			time.Sleep(1100 * time.Millisecond) // S3 keeps whole seconds
			now = time.Now().Add(time.Hour - 30*time.Second)
			put(t, blobs, "revived")
			if rep, err := c.Run(ctx, false); err != nil || rep.Freed != 0 || !exists(t, blobs, orphan) {
				t.Fatalf("run after a new Commit: %+v, %v", rep, err)
			}
		})
	}
}

// TestOneCollectorAtATime: a run finds the lease another collector holds
// and does nothing.
func TestOneCollectorAtATime(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			meta, blobs := b.open(t)
			orphan := put(t, blobs, "orphan")
			held, err := lease.New(meta, "gc_leases", lease.Options{Now: later}).Acquire(ctx, "gc")
			if err != nil {
				t.Fatal(err)
			}
			c := gc.New(meta, blobs, nil, gc.Options{Grace: time.Hour, Now: later})
			if _, err := c.Run(ctx, false); !lease.Held(err) || !exists(t, blobs, orphan) {
				t.Fatalf("run beside a held lease: %v", err)
			}
			held.Release(ctx)
			if rep, err := c.Run(ctx, false); err != nil || rep.Freed != 1 {
				t.Fatalf("run after release: %+v, %v", rep, err)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			meta, blobs := b.open(t)
			f := setup(t, meta, blobs)
			cat := hosted.NewCatalog(meta)
			checkers := []hosted.RecordChecker{checker(func(ctx context.Context, repair bool, report func(hosted.Problem)) error {
				return cat.CheckRecords(ctx, repair, func(_ context.Context, id string) (bool, error) { return id == "o", nil }, report)
			})}
			opts := gc.CheckOptions{Markers: markers(meta), Checkers: checkers}
			if rep, err := gc.Check(ctx, meta, blobs, opts); err != nil || len(rep.Problems) != 0 || rep.Blobs != 2 {
				t.Fatalf("sound store: %+v, %v", rep, err)
			}

			// Damage it: the hosted blob and the cached one go missing, a
			// claim loses its organization, a publish left a file
			// reference without its version.
			blobs.Delete(ctx, f.kept.Digest)
			blobs.Delete(ctx, f.cached.Digest)
			if _, err := cat.Claim(ctx, hosted.Claim{Protocol: "npm", Namespace: "@gone", OrgID: "gone"}); err != nil {
				t.Fatal(err)
			}
			files := hosted.Collection{Name: "files", Index: []string{"version"}}
			if _, err := hosted.CreateJSON(ctx, meta, files, "npm:half.tgz", map[string]string{"version": "npm:half@1"},
				hosted.FileRef{Protocol: "npm", Path: "half.tgz", Package: "half", Version: "1"}); err != nil {
				t.Fatal(err)
			}
			rep, err := gc.Check(ctx, meta, blobs, opts)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, p := range rep.Problems {
				kinds[p.Kind]++
			}
			if kinds["missing-blob"] != 2 || kinds["claim-without-org"] != 1 || kinds["dangling-file-ref"] != 1 || rep.Unrepaired() != 4 {
				t.Fatalf("problems %+v", rep.Problems)
			}

			opts.Repair = true
			rep, err = gc.Check(ctx, meta, blobs, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Everything but the lost hosted blob is repaired.
			if rep.Unrepaired() != 1 || len(rep.Problems) != 4 {
				t.Fatalf("repair: %+v", rep.Problems)
			}
			opts.Repair = false
			rep, err = gc.Check(ctx, meta, blobs, opts)
			if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != "missing-blob" {
				t.Fatalf("after repair: %+v, %v", rep.Problems, err)
			}
			// The cache refills what repair dropped.
			c := cache.New(meta, blobs, cache.Options{Local: true})
			fills := 0
			_, err = c.Get(ctx, cache.Request{Key: "npm/doc/q", Fetch: func(ctx context.Context, prev *cache.Entry, w blob.Writer) (cache.Result, error) {
				fills++
				_, err := w.Write([]byte("cached"))
				return cache.Result{}, err
			}})
			if err != nil || fills != 1 || !exists(t, blobs, f.cached) {
				t.Fatalf("refill: %d fills, %v", fills, err)
			}
		})
	}
}

// TestCheckDamagedBlob: bytes that no longer hash to their name are
// found, and a mirrored copy is dropped with its blob.
func TestCheckDamagedBlob(t *testing.T) {
	b := backends[0]
	ctx := context.Background()
	meta, blobs := b.open(t)
	f := setup(t, meta, blobs)
	// The fs layout (hosted/blob/fs): sha256/<hex[0:2]>/<hex>.
	root := blobRoot(t, blobs, f.cached)
	os.Chmod(root, 0o640)
	if err := os.WriteFile(root, []byte("CACHED"), 0o640); err != nil {
		t.Fatal(err)
	}
	opts := gc.CheckOptions{Markers: markers(meta), Repair: true}
	rep, err := gc.Check(ctx, meta, blobs, opts)
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].Kind != "digest-mismatch" || !rep.Problems[0].Repaired {
		t.Fatalf("damaged: %+v, %v", rep.Problems, err)
	}
	if exists(t, blobs, f.cached) {
		t.Fatal("the damaged mirrored blob is still there")
	}
}

func blobRoot(t *testing.T, s blob.Store, i blob.Info) string {
	t.Helper()
	fo, ok := s.(blob.FileOpener)
	if !ok {
		t.Skip("not a file store")
	}
	file, _, err := fo.OpenFile(context.Background(), i.Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	h := i.Digest.Hex()
	if filepath.Base(file.Name()) != h {
		t.Fatalf("layout: %s", file.Name())
	}
	return file.Name()
}

type checker func(ctx context.Context, repair bool, report func(hosted.Problem)) error

func (f checker) CheckRecords(ctx context.Context, repair bool, report func(hosted.Problem)) error {
	return f(ctx, repair, report)
}
