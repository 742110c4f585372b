package testkit

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"testing"
)

// EditTar rewrites an uncompressed tar (a .gem, say): edit gets each
// entry's name and content and returns the content to keep, or false to
// drop the entry; sizes follow. The entries add, without content, are
// appended (a link, say).
func EditTar(t testing.TB, src []byte, edit func(name string, body []byte) ([]byte, bool), add ...*tar.Header) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(src))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		b, keep := edit(h.Name, b)
		if !keep {
			continue
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	for _, h := range add {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
