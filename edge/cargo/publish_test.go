package cargo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"

	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

// crateWith is a .crate holding a good Cargo.toml and the entry h (with
// body).
func crateWith(t testing.TB, h *tar.Header, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "demo-1.0.0/Cargo.toml", Mode: 0o644, Size: int64(len(goodToml)), Typeflag: tar.TypeReg})
	tw.Write([]byte(goodToml))
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestReadManifestRefusesUnsafeCrates(t *testing.T) {
	zeros := make([]byte, 10<<20)
	tests := []struct {
		name string
		h    *tar.Header
		body []byte
		kind fault.Kind
	}{
		{"symlink", &tar.Header{Name: "demo-1.0.0/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil, fault.Invalid},
		{"hard link", &tar.Header{Name: "demo-1.0.0/link", Typeflag: tar.TypeLink, Linkname: "demo-1.0.0/Cargo.toml"}, nil, fault.Invalid},
		{"dotdot inside the folder", &tar.Header{Name: "demo-1.0.0/../../x", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, []byte("x"), fault.Invalid},
		{"device", &tar.Header{Name: "demo-1.0.0/dev", Typeflag: tar.TypeChar}, nil, fault.Invalid},
		{"gzip bomb", &tar.Header{Name: "demo-1.0.0/zeros", Typeflag: tar.TypeReg, Size: int64(len(zeros)), Mode: 0o644}, zeros, fault.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := crateWith(t, tt.h, tt.body)
			if tt.kind == fault.TooLarge && len(b) > 16<<10 {
				t.Fatalf("the bomb is %d bytes", len(b))
			}
			_, err := readManifest(bytes.NewReader(b), archive.Budget(int64(len(b)), 0), "demo", "1.0.0")
			if !fault.Is(err, tt.kind) {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
		})
	}
}

func FuzzReadManifest(f *testing.F) {
	f.Add(crateFile(f, map[string]string{"demo-1.0.0/Cargo.toml": goodToml}))
	f.Add(crateWith(f, &tar.Header{Name: "demo-1.0.0/link", Typeflag: tar.TypeSymlink, Linkname: "/"}, nil))
	f.Add([]byte("not a crate"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readManifest(bytes.NewReader(b), 1<<20, "demo", "1.0.0")
		if err == nil {
			m.check(meta(goodDeps...))
		}
	})
}
