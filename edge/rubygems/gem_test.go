package rubygems

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

// gemWithData is testdata/alpha-1.0.0.gem with its data.tar.gz replaced
// by one holding h (and body) and without checksums.yaml.gz; outer, when
// set, is added to the gem's own tar.
func gemWithData(t testing.TB, h *tar.Header, body []byte, outer *tar.Header) []byte {
	var outers []*tar.Header
	if outer != nil {
		outers = append(outers, outer)
	}
	t.Helper()
	src, err := os.ReadFile("testdata/alpha-1.0.0.gem")
	if err != nil {
		t.Fatal(err)
	}
	var data bytes.Buffer
	zw := gzip.NewWriter(&data)
	dw := tar.NewWriter(zw)
	if h != nil {
		dw.WriteHeader(h)
		dw.Write(body)
	}
	dw.Close()
	zw.Close()
	return testkit.EditTar(t, src, func(name string, b []byte) ([]byte, bool) {
		if name == "data.tar.gz" {
			b = data.Bytes()
		}
		return b, name != "checksums.yaml.gz"
	}, outers...)
}

func TestReadGemRefusesUnsafeGems(t *testing.T) {
	zeros := make([]byte, 10<<20)
	tests := []struct {
		name  string
		h     *tar.Header
		body  []byte
		outer *tar.Header
		kind  fault.Kind
	}{
		{"good", &tar.Header{Name: "lib/alpha.rb", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, []byte("x"), nil, fault.Internal},
		{"dotdot in data", &tar.Header{Name: "../../evil.rb", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, []byte("x"), nil, fault.Invalid},
		{"absolute in data", &tar.Header{Name: "/etc/evil.rb", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, []byte("x"), nil, fault.Invalid},
		{"symlink in data", &tar.Header{Name: "lib/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil, nil, fault.Invalid},
		{"hard link in data", &tar.Header{Name: "lib/link", Typeflag: tar.TypeLink, Linkname: "lib/alpha.rb"}, nil, nil, fault.Invalid},
		{"symlink in the gem", nil, nil, &tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/"}, fault.Invalid},
		{"gzip bomb", &tar.Header{Name: "lib/zeros", Typeflag: tar.TypeReg, Size: int64(len(zeros)), Mode: 0o644}, zeros, nil, fault.TooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := gemWithData(t, tt.h, tt.body, tt.outer)
			if tt.kind == fault.TooLarge && len(b) > 32<<10 {
				t.Fatalf("the bomb is %d bytes", len(b))
			}
			_, err := readGem(bytes.NewReader(b), archive.Budget(int64(len(b)), 0))
			if tt.kind == fault.Internal && err != nil || tt.kind != fault.Internal && !fault.Is(err, tt.kind) {
				t.Fatalf("got %v, want kind %v", err, tt.kind)
			}
		})
	}
}

func FuzzReadGem(f *testing.F) {
	good, err := os.ReadFile("testdata/alpha-1.0.0.gem")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(gemWithData(f, &tar.Header{Name: "lib/link", Typeflag: tar.TypeSymlink, Linkname: "/"}, nil, nil))
	f.Add([]byte("not a gem"))
	f.Fuzz(func(t *testing.T, b []byte) {
		readGem(bytes.NewReader(b), 1<<20)
	})
}
