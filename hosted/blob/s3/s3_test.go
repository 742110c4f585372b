package s3

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"entrepot/hosted/blob"
	"entrepot/hosted/blob/blobtest"
	"entrepot/hosted/fault"
)

// testPartSize is S3's minimum, so that blobtest's Large case is uploaded
// in more parts than run at once.
const testPartSize = minPartSize

// testConfig reads the S3 server the tests run against from the
// environment, which `make test` sets after starting MinIO, and gives each
// call a fresh prefix so that stores made from it start empty.
func testConfig(tb testing.TB) Config {
	tb.Helper()
	cfg := Config{
		Endpoint:       os.Getenv("ENTREPOT_TEST_S3_ENDPOINT"),
		AccessKey:      os.Getenv("ENTREPOT_TEST_S3_ACCESS_KEY"),
		SecretKey:      os.Getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
		Bucket:         os.Getenv("ENTREPOT_TEST_S3_BUCKET"),
		Region:         os.Getenv("ENTREPOT_TEST_S3_REGION"),
		ForcePathStyle: true,
		TempDir:        tb.TempDir(),
	}
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		tb.Skip("ENTREPOT_TEST_S3_ENDPOINT or ENTREPOT_TEST_S3_BUCKET is unset: no S3 server to test against (`make test` starts MinIO and sets them)")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	var b [8]byte
	rand.Read(b[:])
	cfg.Prefix = "test-" + hex.EncodeToString(b[:])
	return cfg
}

// newStore returns an empty Store under a fresh prefix, and removes what
// the test left under it afterwards.
func newStore(tb testing.TB, partSize int64) *Store {
	tb.Helper()
	cfg := testConfig(tb)
	cfg.PartSize = partSize
	ctx := context.Background()
	s, err := New(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ensureBucket(tb, s)
	tb.Cleanup(func() { clean(tb, s) })
	return s
}

var bucketOnce sync.Once

// ensureBucket creates the test bucket when the server has none, once per
// test binary.
func ensureBucket(tb testing.TB, s *Store) {
	tb.Helper()
	var err error
	bucketOnce.Do(func() {
		ctx := context.Background()
		if _, herr := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); herr == nil {
			return
		}
		_, err = s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket})
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			err = nil
		}
	})
	if err != nil {
		tb.Fatalf("create bucket %s: %v", s.bucket, err)
	}
}

// clean deletes every object under s's prefix.
func clean(tb testing.TB, s *Store) {
	ctx := context.Background()
	prefix := s.prefix + "/"
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			tb.Errorf("list objects: %v", err)
			return
		}
		for _, o := range page.Contents {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil {
				tb.Errorf("delete %s: %v", aws.ToString(o.Key), err)
			}
		}
	}
}

func TestConformance(t *testing.T) {
	testConfig(t) // skips the whole suite, not each case, without a server
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t, testPartSize) })
}

// TestLayout pins the object keys: changing them orphans every blob of a
// deployed bucket.
func TestLayout(t *testing.T) {
	s, err := New(context.Background(), Config{Bucket: "b", AccessKey: "k", SecretKey: "s", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	const h = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, c := range []struct{ prefix, want string }{
		{"", "packages/sha256/e3/" + h},
		{"/tenant/blobs/", "tenant/blobs/sha256/e3/" + h},
	} {
		s.prefix = strings.Trim(c.prefix, "/")
		if s.prefix == "" {
			s.prefix = DefaultPrefix
		}
		if got, err := s.keyOf("test", blob.Digest("sha256:"+h)); err != nil || got != c.want {
			t.Errorf("prefix %q: key %q (%v), want %q", c.prefix, got, err, c.want)
		}
	}
}

func TestNewInvalid(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no bucket":      {Endpoint: "http://127.0.0.1:9000"},
		"no scheme":      {Bucket: "b", Endpoint: "127.0.0.1:9000"},
		"tiny parts":     {Bucket: "b", PartSize: 1 << 20},
		"negative parts": {Bucket: "b", PartSize: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(context.Background(), cfg)
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("got %v, want an Invalid error", err)
			}
		})
	}
}

func TestConfigHidesSecret(t *testing.T) {
	cfg := Config{Bucket: "b", AccessKey: "AKID", SecretKey: "very-secret"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "very-secret") {
			t.Errorf("secret in %q", s)
		}
	}
}

// TestFailedUploadLeavesNothing fails the third part of a multipart upload
// and checks that Commit aborts the upload and removes its spool. The
// upload is looked up by its exact key: MinIO lists no uploads for a mere
// prefix.
func TestFailedUploadLeavesNothing(t *testing.T) {
	s := newStore(t, testPartSize)
	ctx := context.Background()
	var parts atomic.Int32
	failThird := middleware.InitializeMiddlewareFunc("failThird", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if middleware.GetOperationName(ctx) == "UploadPart" && parts.Add(1) == 3 {
			return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("injected part failure")
		}
		return next.HandleInitialize(ctx, in)
	})
	s.client = s3.New(s.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(failThird, middleware.Before)
		})
	})

	b := bytes.Repeat([]byte("parts "), 4*testPartSize/6)
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	w.Write(b)
	d := w.Sums()[0]
	if _, err := w.Commit(ctx); err == nil {
		t.Fatal("commit succeeded despite a failed part")
	}
	if n := parts.Load(); n < 3 {
		t.Fatalf("%d parts attempted, want the third to fail", n)
	}
	_, err = s.Stat(ctx, d)
	if !fault.Is(err, fault.NotFound) {
		t.Fatalf("stat after failed commit: %v", err)
	}
	key := s.key(d.Hex())
	uploads, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &key})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left behind", len(uploads.Uploads))
	}
	if spool, _ := os.ReadDir(s.tempDir); len(spool) != 0 {
		t.Fatalf("spool files left behind: %v", spool)
	}
}

// TestHeapGrowth bounds the memory one 256 MiB write and read take: both
// must stream through the spool file and the response body.
func TestHeapGrowth(t *testing.T) {
	s := newStore(t, 0)
	w, r, err := blobtest.HeapGrowth(context.Background(), s, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("heap growth: write %.1f MiB, read %.1f MiB", float64(w)/(1<<20), float64(r)/(1<<20))
	if w >= 64<<20 || r >= 64<<20 {
		t.Fatalf("heap grew by %d bytes writing and %d reading 256 MiB, want < 64 MiB each", w, r)
	}
}

// BenchmarkHeap1GiB measures the heap growth of a 1 GiB write and read;
// run it with -benchtime=1x.
func BenchmarkHeap1GiB(b *testing.B) {
	s := newStore(b, 0)
	ctx := context.Background()
	for range b.N {
		w, r, err := blobtest.HeapGrowth(ctx, s, 1<<30)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(w)/(1<<20), "heap-MiB-write")
		b.ReportMetric(float64(r)/(1<<20), "heap-MiB-read")
	}
}

// crashDirEnv tells the test binary, run again as a child, to be the
// upload that crashes (TestCrashingUpload).
const crashDirEnv = "ENTREPOT_TEST_S3_CRASH_SPOOL"

// TestCrashingUpload is the child of TestSweepAfterCrash: it spools part
// of a blob into the directory it is given, says so, and waits to be
// killed.
func TestCrashingUpload(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestSweepAfterCrash only")
	}
	s, err := New(context.Background(), Config{Bucket: "b", Endpoint: "http://127.0.0.1:1", AccessKey: "k", SecretKey: "s", TempDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte("crash "), 100_000))
	fmt.Println("spooling")
	time.Sleep(time.Minute)
}

// TestSweepAfterCrash: a process killed mid-upload leaves its spool file;
// the next start's sweep removes it, and an upload running in the same
// directory meanwhile still commits whole.
func TestSweepAfterCrash(t *testing.T) {
	s := newStore(t, testPartSize)
	ctx := context.Background()

	child := exec.Command(os.Args[0], "-test.run=^TestCrashingUpload$", "-test.v")
	child.Env = append(os.Environ(), crashDirEnv+"="+s.tempDir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "spooling" {
	}
	child.Process.Kill()
	child.Wait()
	left, _ := filepath.Glob(filepath.Join(s.tempDir, spoolPattern))
	if len(left) != 1 {
		t.Fatalf("the crashed upload left %d spool files, want 1 (child output ended: %v)", len(left), sc.Err())
	}

	live, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Cancel(ctx)
	data := bytes.Repeat([]byte("live "), 2*testPartSize/5) // two parts
	live.Write(data[:len(data)/2])

	// The restart: a new Store on the same directory, swept at start-up.
	cfg := testConfig(t)
	cfg.TempDir, cfg.PartSize = s.tempDir, testPartSize
	restarted, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, err := restarted.Sweep(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swept %d spool files", n)
	if _, err := os.Stat(left[0]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the crashed upload's spool survived the sweep: %v", err)
	}

	live.Write(data[len(data)/2:])
	info, err := live.Commit(ctx)
	if err != nil {
		t.Fatalf("an upload swept mid-way failed: %v", err)
	}
	r, err := s.Open(ctx, info.Digest, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the swept upload stored %d bytes (%v), want its %d", len(got), err, len(data))
	}
	if spool, _ := os.ReadDir(s.tempDir); len(spool) != 0 {
		t.Fatalf("spool files left behind: %v", spool)
	}
}

// TestSweepUploads: a multipart upload a crashed writer left behind is
// aborted once it is older than the cutoff, and not before.
func TestSweepUploads(t *testing.T) {
	s := newStore(t, testPartSize)
	ctx := context.Background()
	key := s.key(strings.Repeat("ab", 32))
	if _, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.SweepUploads(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep of a young upload: %d, %v", n, err)
	}
	if out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix + "/")}); err == nil && len(out.Uploads) == 0 {
		// MinIO lists multipart uploads of one exact key only, and expires
		// stale ones itself (its api stale_uploads_expiry, 24 h).
		t.Skip("this S3 server does not list multipart uploads by prefix (MinIO): it expires stale ones itself")
	}
	if n, err := s.SweepUploads(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("sweep of an old upload: %d, %v", n, err)
	}
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix + "/")})
	if err != nil || len(out.Uploads) != 0 {
		t.Fatalf("uploads left: %v, %v", out.Uploads, err)
	}
}
