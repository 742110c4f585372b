package testkit

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"
)

// Zip builds a zip archive of files (path → content), as a test's
// Composer dist, wheel or jar. Paths are written as given, "../x" and
// "/etc/x" included, so that a test can build a hostile archive.
func Zip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
