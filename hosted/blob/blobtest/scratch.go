package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// RunScratch runs the cases of the optional blob.Scratch capability
// against stores made by newStore, which must implement it.
func RunScratch(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s blob.Scratch)
	}{
		{"PutOpen", testScratchPutOpen},
		{"Missing", testScratchMissing},
		{"Replace", testScratchReplace},
		{"FailedReaderLeavesNothing", testScratchFailedReader},
		{"DeleteIdempotent", testScratchDelete},
		{"List", testScratchList},
		{"InvalidName", testScratchInvalidName},
		{"Large", testScratchLarge},
		{"Promote", testScratchPromote},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ok := newStore(t).(blob.Scratch)
			if !ok {
				t.Fatal("the store does not implement blob.Scratch")
			}
			c.fn(t, context.Background(), s)
		})
	}
}

// testScratchPromote: a promoted object is the blob and is gone as an
// object; promoting onto an existing blob keeps it; a missing object is
// NotFound.
func testScratchPromote(t *testing.T, ctx context.Context, s blob.Scratch) {
	b := []byte("a whole layer in one chunk")
	d := sha(b)
	for i := 0; i < 2; i++ {
		putScratch(t, ctx, s, "up/p/0", b)
		info, err := s.PromoteScratch(ctx, "up/p/0", d)
		if err != nil || info.Digest != d || info.Size != int64(len(b)) {
			t.Fatalf("promote %d: %+v %v", i, info, err)
		}
		if got := read(t, ctx, s.(blob.Store), d, 0, -1); !bytes.Equal(got, b) {
			t.Fatalf("the blob holds %q", got)
		}
		_, err = s.OpenScratch(ctx, "up/p/0")
		wantKind(t, err, fault.NotFound)
	}
	_, err := s.PromoteScratch(ctx, "up/none", d)
	wantKind(t, err, fault.NotFound)
}

func putScratch(t *testing.T, ctx context.Context, s blob.Scratch, name string, b []byte) {
	t.Helper()
	n, err := s.PutScratch(ctx, name, bytes.NewReader(b))
	if err != nil || n != int64(len(b)) {
		t.Fatalf("PutScratch %s: %d, %v", name, n, err)
	}
}

func readScratch(t *testing.T, ctx context.Context, s blob.Scratch, name string) []byte {
	t.Helper()
	rc, err := s.OpenScratch(ctx, name)
	if err != nil {
		t.Fatalf("OpenScratch %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testScratchPutOpen(t *testing.T, ctx context.Context, s blob.Scratch) {
	putScratch(t, ctx, s, "up/a1/0", []byte("first chunk"))
	if got := readScratch(t, ctx, s, "up/a1/0"); string(got) != "first chunk" {
		t.Fatalf("read %q", got)
	}
}

func testScratchMissing(t *testing.T, ctx context.Context, s blob.Scratch) {
	_, err := s.OpenScratch(ctx, "up/none")
	wantKind(t, err, fault.NotFound)
}

func testScratchReplace(t *testing.T, ctx context.Context, s blob.Scratch) {
	putScratch(t, ctx, s, "up/r", []byte("old"))
	putScratch(t, ctx, s, "up/r", []byte("new bytes"))
	if got := readScratch(t, ctx, s, "up/r"); string(got) != "new bytes" {
		t.Fatalf("read %q", got)
	}
}

// failing yields some bytes, then an error with a kind, as a request body
// over its limit does.
type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n >= 3 {
		return 0, fault.New("blobtest", fault.TooLarge, "over the limit")
	}
	f.n++
	return copy(p, "partial "), nil
}

func testScratchFailedReader(t *testing.T, ctx context.Context, s blob.Scratch) {
	_, err := s.PutScratch(ctx, "up/f", &failing{})
	wantKind(t, err, fault.TooLarge)
	_, err = s.OpenScratch(ctx, "up/f")
	wantKind(t, err, fault.NotFound)
	_, err = s.PutScratch(ctx, "up/g", io.MultiReader(bytes.NewReader([]byte("x")), errReader{}))
	if err == nil {
		t.Fatal("a failing reader stored an object")
	}
	_, err = s.OpenScratch(ctx, "up/g")
	wantKind(t, err, fault.NotFound)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func testScratchDelete(t *testing.T, ctx context.Context, s blob.Scratch) {
	putScratch(t, ctx, s, "up/d/0", []byte("x"))
	for i := 0; i < 2; i++ {
		if err := s.DeleteScratch(ctx, "up/d/0"); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	_, err := s.OpenScratch(ctx, "up/d/0")
	wantKind(t, err, fault.NotFound)
}

func testScratchList(t *testing.T, ctx context.Context, s blob.Scratch) {
	before := time.Now().Add(-time.Minute)
	for _, n := range []string{"up/s1/0", "up/s1/100", "up/s2/0", "other/x"} {
		putScratch(t, ctx, s, n, []byte(n))
	}
	list := func(prefix string) []string {
		var names []string
		err := s.ListScratch(ctx, prefix, func(name string, stored time.Time) bool {
			if stored.Before(before) || stored.After(time.Now().Add(time.Minute)) {
				t.Errorf("%s stored at %v", name, stored)
			}
			names = append(names, name)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		return names
	}
	if got := list("up/"); !slices.Equal(got, []string{"up/s1/0", "up/s1/100", "up/s2/0"}) {
		t.Fatalf("list up/: %v", got)
	}
	if got := list("up/s1/"); !slices.Equal(got, []string{"up/s1/0", "up/s1/100"}) {
		t.Fatalf("list up/s1/: %v", got)
	}
	n := 0
	s.ListScratch(ctx, "", func(string, time.Time) bool { n++; return false })
	if n != 1 {
		t.Fatalf("fn returning false saw %d names", n)
	}
}

func testScratchInvalidName(t *testing.T, ctx context.Context, s blob.Scratch) {
	for _, n := range []string{"", "../x", "a//b", "/a", "a/", "A", "a/./b", "a b"} {
		_, err := s.PutScratch(ctx, n, bytes.NewReader([]byte("x")))
		wantKind(t, err, fault.Invalid)
		_, err = s.OpenScratch(ctx, n)
		wantKind(t, err, fault.Invalid)
	}
}

// testScratchLarge stores an object larger than S3's multipart threshold
// in the tests (its minimum part size).
func testScratchLarge(t *testing.T, ctx context.Context, s blob.Scratch) {
	b := bytes.Repeat([]byte("0123456789abcdef"), (12<<20)/16)
	putScratch(t, ctx, s, "up/large", b)
	if got := readScratch(t, ctx, s, "up/large"); !bytes.Equal(got, b) {
		t.Fatalf("read %d bytes back, want %d", len(got), len(b))
	}
}
