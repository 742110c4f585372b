package testkit

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes body to path, creating its folders; a failure fails
// the test.
func WriteFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// CountFiles counts the regular files below dir (0 when dir does not
// exist): how a test proves that a refused upload left no blob or spooled
// file behind, as in CountFiles(filepath.Join(s.DataDir, "blobs")).
func CountFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
