package testkit

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update is the -update flag of every test binary that links testkit:
// `go test ./edge/pypi/ -update` rewrites that package's golden files. A
// test package must not register a flag of that name itself.
var update = flag.Bool("update", false, "rewrite the golden files (testkit.Golden) instead of comparing with them")

// Golden compares got with the golden file at path (relative to the
// package, "testdata/..."), byte for byte, and reports a difference with
// t.Errorf, so that one run shows every golden file that differs. With
// -update it first writes got there, creating folders as needed. A caller
// that compares a normal form (indented JSON, ...) passes got in that form.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v (run with -update to create it)", err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update to accept the change):\n got: %s\nwant: %s", path, got, want)
	}
}
