package fs

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"entrepot/hosted/blob"
	"entrepot/hosted/blob/blobtest"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestSweep(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abandoned by a crash"))
	old := time.Now().Add(-48 * time.Hour)
	tmp := w.(*writer).f.Name()
	os.Chtimes(tmp, old, old)
	fresh, _ := s.Create(ctx)
	defer fresh.Cancel(ctx)

	n, err := s.Sweep(time.Now().Add(-24 * time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("stale temp file still there: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(s.root, "tmp"))
	if len(left) != 1 {
		t.Fatalf("%d temp files left, want the fresh one", len(left))
	}
}

// TestHeapGrowth bounds memory, not time: a 256 MiB blob must pass through
// with well under 64 MiB of heap growth.
func TestHeapGrowth(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wg, rg, err := blobtest.HeapGrowth(context.Background(), s, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("heap growth: write %.1f MiB, read %.1f MiB", float64(wg)/(1<<20), float64(rg)/(1<<20))
	if wg >= 64<<20 || rg >= 64<<20 {
		t.Fatalf("heap grew %d / %d bytes", wg, rg)
	}
}

func BenchmarkHeap1GiB(b *testing.B) {
	s, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		wg, rg, err := blobtest.HeapGrowth(context.Background(), s, 1<<30)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(wg)/(1<<20), "heap-MiB-write")
		b.ReportMetric(float64(rg)/(1<<20), "heap-MiB-read")
	}
}
