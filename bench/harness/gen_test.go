package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
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

// The upstream fixture answers a generated document's abbreviated form to
// the abbreviated Accept, as a real registry does, and the full one else.
func TestUpstreamServesGenerated(t *testing.T) {
	u := newSlowUpstream()
	defer u.Close()
	full, abbrev := sizedDoc("sized-test", 2<<10).put(u)
	if got, err := get(u.URL+"/sized-test", map[string]string{"Accept": abbreviated}); err != nil || string(got) != string(abbrev) {
		t.Fatalf("abbreviated: %v %.100s", err, got)
	}
	if got, err := get(u.URL+"/sized-test", nil); err != nil || string(got) != string(full) {
		t.Fatalf("full: %v %.100s", err, got)
	}
}

// Every package of the install tree is reachable from the root, and every
// dependency is served.
func TestInstallTree(t *testing.T) {
	seen := map[string]bool{}
	var walk func(name string, deps map[string]string)
	walk = func(name string, deps map[string]string) {
		seen[name] = true
		for d := range deps {
			var i int
			fmt.Sscanf(d, "tree-%d", &i)
			walk(d, treeDeps(i))
		}
	}
	for i := 0; i < treeRoots; i++ {
		walk(treeName(i), treeDeps(i))
	}
	if len(seen) != treeSize {
		t.Fatalf("%d of %d packages reachable", len(seen), treeSize)
	}
	u := newSlowUpstream()
	defer u.Close()
	putTree(u)
	if _, err := get(u.URL+"/tree-399/-/tree-399-1.1.0.tgz", nil); err != nil {
		t.Fatal(err)
	}
}

func TestServeBytes(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "body")
	os.WriteFile(f, []byte(`{"ok":true}`), 0o644)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	go Main(t.Context(), []string{"bench", "serve-bytes", addr, f}, io.Discard, io.Discard, "", "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := get("http://"+addr+"/anything", nil)
		if err == nil {
			if string(got) != `{"ok":true}` {
				t.Fatalf("got %q", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
