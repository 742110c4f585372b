// Package blobtest is the conformance suite of blob.Store: every backend's
// test file calls Run, and the suite is the contract's specification.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// NewStore returns a fresh, empty store.
type NewStore func(t *testing.T) blob.Store

// Run runs every case against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s blob.Store)
	}{
		{"StatMissing", testStatMissing},
		{"OpenMissing", testOpenMissing},
		{"InvalidDigest", testInvalidDigest},
		{"WriteRead", testWriteRead},
		{"Empty", testEmpty},
		{"UncommittedInvisible", testUncommittedInvisible},
		{"CancelLeavesNothing", testCancelLeavesNothing},
		{"DigestMismatch", testDigestMismatch},
		{"VerifySHA512", testVerifySHA512},
		{"OffsetReads", testOffsetReads},
		{"BadRange", testBadRange},
		{"CommitExisting", testCommitExisting},
		{"RacingCreates", testRacingCreates},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"Large", testLarge},
		{"Ping", testPing},
		{"List", testList},
		{"CommitRefreshes", testCommitRefreshes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, context.Background(), newStore(t))
		})
	}
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

func sha(b []byte) blob.Digest { s := sha256.Sum256(b); return blob.NewDigest(blob.SHA256, s[:]) }

// Put writes b and commits it, failing the test on error.
func Put(t *testing.T, ctx context.Context, s blob.Store, b []byte, want ...blob.Digest) blob.Info {
	t.Helper()
	w, err := s.Create(ctx, want...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	info, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func read(t *testing.T, ctx context.Context, s blob.Store, d blob.Digest, off, n int64) []byte {
	t.Helper()
	r, err := s.Open(ctx, d, off, n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testStatMissing(t *testing.T, ctx context.Context, s blob.Store) {
	_, err := s.Stat(ctx, sha([]byte("missing")))
	wantKind(t, err, fault.NotFound)
}

func testOpenMissing(t *testing.T, ctx context.Context, s blob.Store) {
	_, err := s.Open(ctx, sha([]byte("missing")), 0, -1)
	wantKind(t, err, fault.NotFound)
}

func testInvalidDigest(t *testing.T, ctx context.Context, s blob.Store) {
	for _, d := range []blob.Digest{"", "sha256:xyz", "sha256:../../etc/passwd", blob.Digest("md5:" + sha([]byte("x")).Hex())} {
		_, err := s.Stat(ctx, d)
		wantKind(t, err, fault.Invalid)
		_, err = s.Open(ctx, d, 0, -1)
		wantKind(t, err, fault.Invalid)
	}
	_, err := s.Create(ctx, "sha256:nothex")
	wantKind(t, err, fault.Invalid)
}

func testWriteRead(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("hello, entrepot")
	info := Put(t, ctx, s, b, sha(b))
	if info.Digest != sha(b) || info.Size != int64(len(b)) {
		t.Fatalf("info %+v", info)
	}
	st, err := s.Stat(ctx, sha(b))
	if err != nil {
		t.Fatal(err)
	}
	if st.Digest != sha(b) || st.Size != int64(len(b)) {
		t.Fatalf("stat %+v", st)
	}
	if got := read(t, ctx, s, sha(b), 0, -1); !bytes.Equal(got, b) {
		t.Fatalf("read %q", got)
	}
}

func testEmpty(t *testing.T, ctx context.Context, s blob.Store) {
	info := Put(t, ctx, s, nil)
	if info.Size != 0 || info.Digest != sha(nil) {
		t.Fatalf("info %+v", info)
	}
	if got := read(t, ctx, s, sha(nil), 0, -1); len(got) != 0 {
		t.Fatalf("read %q", got)
	}
}

func testUncommittedInvisible(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("not yet")
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	w.Write(b)
	if w.Size() != int64(len(b)) || w.Sums()[0] != sha(b) {
		t.Fatalf("size %d sums %v", w.Size(), w.Sums())
	}
	_, err = s.Stat(ctx, sha(b))
	wantKind(t, err, fault.NotFound)
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, sha(b)); err != nil {
		t.Fatalf("after commit: %v", err)
	}
}

func testCancelLeavesNothing(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("cancelled")
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	if err := w.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = s.Stat(ctx, sha(b))
	wantKind(t, err, fault.NotFound)
	if _, err := w.Commit(ctx); err == nil {
		t.Fatal("commit after cancel succeeded")
	}
	_, err = s.Stat(ctx, sha(b))
	wantKind(t, err, fault.NotFound)
}

func testDigestMismatch(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("the real bytes")
	w, err := s.Create(ctx, sha([]byte("other bytes")))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	w.Write(b)
	_, err = w.Commit(ctx)
	wantKind(t, err, fault.Conflict)
	_, err = s.Stat(ctx, sha(b))
	wantKind(t, err, fault.NotFound)
}

func testVerifySHA512(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("sha512 verified")
	s5 := sha512.Sum512(b)
	Put(t, ctx, s, b, blob.NewDigest(blob.SHA512, s5[:]))

	bad := []byte("sha512 wrong")
	w, err := s.Create(ctx, blob.NewDigest(blob.SHA512, s5[:]))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	w.Write(bad)
	_, err = w.Commit(ctx)
	wantKind(t, err, fault.Conflict)
	_, err = s.Stat(ctx, sha(bad))
	wantKind(t, err, fault.NotFound)
}

func testOffsetReads(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("0123456789abcdef")
	Put(t, ctx, s, b)
	for _, c := range []struct {
		off, n int64
		want   string
	}{
		{0, -1, "0123456789abcdef"},
		{10, -1, "abcdef"},
		{3, 4, "3456"},
		{15, 1, "f"},
		{16, -1, ""},
		{12, 100, "cdef"},
	} {
		if got := string(read(t, ctx, s, sha(b), c.off, c.n)); got != c.want {
			t.Errorf("read(%d, %d) = %q, want %q", c.off, c.n, got, c.want)
		}
	}
}

func testBadRange(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("short")
	Put(t, ctx, s, b)
	_, err := s.Open(ctx, sha(b), 6, -1)
	wantKind(t, err, fault.Invalid)
	_, err = s.Open(ctx, sha(b), -1, -1)
	wantKind(t, err, fault.Invalid)
}

func testCommitExisting(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("twice")
	Put(t, ctx, s, b)
	info := Put(t, ctx, s, b)
	if info.Digest != sha(b) || info.Size != int64(len(b)) {
		t.Fatalf("info %+v", info)
	}
	if got := read(t, ctx, s, sha(b), 0, -1); !bytes.Equal(got, b) {
		t.Fatalf("read %q", got)
	}
}

// testList: a Lister sees every committed blob with its size, and no
// write in progress.
func testList(t *testing.T, ctx context.Context, s blob.Store) {
	l, ok := s.(blob.Lister)
	if !ok {
		t.Skip("not a blob.Lister")
	}
	a, b := Put(t, ctx, s, []byte("one")), Put(t, ctx, s, []byte("two, longer"))
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	w.Write([]byte("in progress"))
	got := map[blob.Digest]int64{}
	if err := l.List(ctx, func(i blob.Info) bool { got[i.Digest] = i.Size; return true }); err != nil {
		t.Fatal(err)
	}
	want := map[blob.Digest]int64{a.Digest: a.Size, b.Digest: b.Size}
	if len(got) != len(want) || got[a.Digest] != a.Size || got[b.Digest] != b.Size {
		t.Fatalf("List saw %v, want %v", got, want)
	}
}

// testCommitRefreshes: a Commit that finds its blob there already makes
// the blob's ModTime new, so a collector's grace period counts from it.
func testCommitRefreshes(t *testing.T, ctx context.Context, s blob.Store) {
	if _, ok := s.(blob.Lister); !ok {
		t.Skip("not a blob.Lister")
	}
	b := []byte("refreshed")
	Put(t, ctx, s, b)
	first, err := s.Stat(ctx, sha(b))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // S3 keeps whole seconds
	Put(t, ctx, s, b)
	again, err := s.Stat(ctx, sha(b))
	if err != nil {
		t.Fatal(err)
	}
	if !again.ModTime.After(first.ModTime) {
		t.Fatalf("ModTime %v after a second Commit, was %v", again.ModTime, first.ModTime)
	}
}

func testRacingCreates(t *testing.T, ctx context.Context, s blob.Store) {
	b := bytes.Repeat([]byte("race"), 64*1024)
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.Create(ctx, sha(b))
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Cancel(ctx)
			for off := 0; off < len(b); off += 4096 {
				w.Write(b[off : off+4096])
				runtime.Gosched()
			}
			if _, err := w.Commit(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := read(t, ctx, s, sha(b), 0, -1); !bytes.Equal(got, b) {
		t.Fatalf("after racing creates: %d bytes, not the blob", len(got))
	}
}

func testDeleteIdempotent(t *testing.T, ctx context.Context, s blob.Store) {
	b := []byte("delete me")
	Put(t, ctx, s, b)
	if err := s.Delete(ctx, sha(b)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, sha(b)); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err := s.Stat(ctx, sha(b))
	wantKind(t, err, fault.NotFound)
}

// testLarge crosses the sizes where backends switch strategy (S3 multipart).
func testLarge(t *testing.T, ctx context.Context, s blob.Store) {
	const size = 40<<20 + 12345
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	rng := rand.NewChaCha8([32]byte{1})
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, len(buf))
		rng.Read(buf[:n])
		h.Write(buf[:n])
		w.Write(buf[:n])
		left -= n
	}
	d := blob.NewDigest(blob.SHA256, h.Sum(nil))
	info, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Digest != d || info.Size != size {
		t.Fatalf("info %+v, want %s %d", info, d, size)
	}
	r, err := s.Open(ctx, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h.Reset()
	n, err := io.Copy(h, r)
	if err != nil || n != size || blob.NewDigest(blob.SHA256, h.Sum(nil)) != d {
		t.Fatalf("read back %d bytes (%v), digest %x", n, err, h.Sum(nil))
	}
	tail := read(t, ctx, s, d, size-10, -1)
	if len(tail) != 10 {
		t.Fatalf("tail: %d bytes", len(tail))
	}
}

func testPing(t *testing.T, ctx context.Context, s blob.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// HeapGrowth writes and reads back size bytes through s and returns the
// largest growth of the Go heap seen meanwhile, for the 1 GiB benchmark.
func HeapGrowth(ctx context.Context, s blob.Store, size int64) (writeGrowth, readGrowth uint64, err error) {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peak := base.HeapAlloc
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
	}
	w, err := s.Create(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer w.Cancel(ctx)
	buf := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{2})
	for written := int64(0); written < size; written += int64(len(buf)) {
		rng.Read(buf)
		if _, err := w.Write(buf); err != nil {
			return 0, 0, err
		}
		if written%(64<<20) == 0 {
			sample()
		}
	}
	info, err := w.Commit(ctx)
	if err != nil {
		return 0, 0, err
	}
	sample()
	writeGrowth = peak - min(peak, base.HeapAlloc)

	runtime.GC()
	runtime.ReadMemStats(&base)
	peak = base.HeapAlloc
	r, err := s.Open(ctx, info.Digest, 0, -1)
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	var total int64
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if total%(64<<20) < int64(n) {
			sample()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	sample()
	if total != size {
		return 0, 0, fmt.Errorf("read back %d bytes of %d", total, size)
	}
	readGrowth = peak - min(peak, base.HeapAlloc)
	return writeGrowth, readGrowth, s.Delete(ctx, info.Digest)
}
