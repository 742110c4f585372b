package harness

import (
	"encoding/json"
	"testing"
)

// The generated documents are what the scenarios claim: the sizes of
// packument-sizes and memory, and valid npm documents.
func TestGeneratedSizes(t *testing.T) {
	for _, target := range []int{2 << 10, 20 << 10, 60 << 10} {
		_, abbrev := sizedDoc("sized", target).render("http://127.0.0.1:1")
		if n := len(abbrev); n < target*3/4 || n > target*5/4 {
			t.Errorf("abbreviated packument for %d bytes is %d bytes", target, n)
		}
	}
	var full, abbrev int
	for _, kib := range memoryDocs {
		f, a := memoryDoc(0, kib).render("http://127.0.0.1:1")
		var doc struct {
			Versions map[string]struct{ Dist struct{ Tarball string } }
		}
		if err := json.Unmarshal(a, &doc); err != nil || len(doc.Versions) == 0 {
			t.Fatalf("abbreviated document: %v", err)
		}
		full += len(f)
		abbrev += len(a)
	}
	if tot := full + abbrev; tot < 115<<20 || tot > 140<<20 {
		t.Errorf("memory documents: %d MiB full, %d MiB abbreviated", full>>20, abbrev>>20)
	}
	t.Logf("memory documents: %.1f MiB full, %.1f MiB abbreviated", float64(full)/(1<<20), float64(abbrev)/(1<<20))
}
