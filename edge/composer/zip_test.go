package composer

import (
	"archive/zip"
	"bytes"
	"testing"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// TestInspectBomb: a zip of about 10 KiB that expands to 10 MiB is over
// its expansion budget, whatever MaxExpandedSize allows.
func TestInspectBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("composer.json")
	w.Write([]byte(`{"name":"acme/lib"}`))
	w, _ = zw.Create("zeros")
	w.Write(make([]byte, 10<<20))
	zw.Close()
	if buf.Len() > 16<<10 {
		t.Fatalf("the bomb is %d bytes", buf.Len())
	}
	r := &edge.Registry{SpoolDir: t.TempDir(), MaxUpload: 1 << 20}
	h := New(r, nil, Options{})
	sp, err := r.Spool(Protocol, &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := h.inspect(sp); !fault.Is(err, fault.TooLarge) {
		t.Fatalf("inspect = %v, want TooLarge", err)
	}
}

func FuzzCheckArchive(f *testing.F) {
	opts := Options{MaxManifestSize: 1 << 10, MaxExpandedSize: 1 << 20, MaxEntries: 100}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("composer.json")
	w.Write([]byte(`{"name":"acme/lib"}`))
	w, _ = zw.Create("../evil")
	w.Write([]byte("x"))
	zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("not a zip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		checkArchive(zr, opts)
	})
}
