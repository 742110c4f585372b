package pypi

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io/fs"
	"testing"

	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

const demoMetadata = "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n"

// wheelWith is a good wheel of demo-pkg 1.0.0 plus the entry h (a
// symbolic link when link is set).
func wheelWith(t testing.TB, name string, body []byte, link bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("demo_pkg-1.0.0.dist-info/METADATA")
	w.Write([]byte(demoMetadata))
	if name != "" {
		fh := &zip.FileHeader{Name: name, Method: zip.Deflate}
		fh.SetMode(0o644)
		if link {
			fh.SetMode(fs.ModeSymlink | 0o777)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	zw.Close()
	return buf.Bytes()
}

// sdistWith is a .tar.gz sdist holding PKG-INFO and h.
func sdistWith(t testing.TB, h *tar.Header, body []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "demo-pkg-1.0.0/PKG-INFO", Typeflag: tar.TypeReg, Size: int64(len(demoMetadata)), Mode: 0o644})
	tw.Write([]byte(demoMetadata))
	if h != nil {
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

var demoUpload = checkedUpload{dist: Dist{Filename: "demo_pkg-1.0.0-py3-none-any.whl", Project: "demo_pkg", Version: "1.0.0"}, project: "demo-pkg", version: "1.0.0"}

func TestWheelRefusesUnsafeEntries(t *testing.T) {
	h := New(&edge.Registry{}, nil, Options{})
	zeros := make([]byte, 10<<20)
	for _, tc := range []struct {
		name  string
		entry string
		body  []byte
		link  bool
		kind  fault.Kind
	}{
		{"good", "demo_pkg/__init__.py", []byte("x"), false, fault.Internal},
		{"dotdot", "../../evil.py", []byte("x"), false, fault.Invalid},
		{"absolute", "/etc/evil.py", []byte("x"), false, fault.Invalid},
		{"symlink", "demo_pkg/link", []byte("/etc/passwd"), true, fault.Invalid},
		{"zip bomb", "demo_pkg/zeros", zeros, false, fault.TooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := wheelWith(t, tc.entry, tc.body, tc.link)
			if tc.kind == fault.TooLarge && len(b) > 16<<10 {
				t.Fatalf("the bomb is %d bytes", len(b))
			}
			_, err := h.wheelMetadata(bytes.NewReader(b), int64(len(b)), archive.Budget(int64(len(b)), 0), demoUpload)
			if tc.kind == fault.Internal && err != nil || tc.kind != fault.Internal && !fault.Is(err, tc.kind) {
				t.Fatalf("got %v, want kind %v", err, tc.kind)
			}
		})
	}
}

func TestSdistRefusesUnsafeEntries(t *testing.T) {
	zeros := make([]byte, 10<<20)
	for _, tc := range []struct {
		name string
		h    *tar.Header
		body []byte
		kind fault.Kind
	}{
		{"good", &tar.Header{Name: "demo-pkg-1.0.0/setup.py", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, []byte("x"), fault.Internal},
		{"dotdot", &tar.Header{Name: "demo-pkg-1.0.0/../../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, []byte("x"), fault.Invalid},
		{"symlink", &tar.Header{Name: "demo-pkg-1.0.0/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, nil, fault.Invalid},
		{"hard link", &tar.Header{Name: "demo-pkg-1.0.0/link", Typeflag: tar.TypeLink, Linkname: "demo-pkg-1.0.0/PKG-INFO"}, nil, fault.Invalid},
		{"gzip bomb", &tar.Header{Name: "demo-pkg-1.0.0/zeros", Typeflag: tar.TypeReg, Size: int64(len(zeros)), Mode: 0o644}, zeros, fault.TooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := sdistWith(t, tc.h, tc.body)
			err := checkSdist(bytes.NewReader(b), int64(len(b)), archive.Budget(int64(len(b)), 0), "demo-pkg-1.0.0.tar.gz")
			if tc.kind == fault.Internal && err != nil || tc.kind != fault.Internal && !fault.Is(err, tc.kind) {
				t.Fatalf("got %v, want kind %v", err, tc.kind)
			}
		})
	}
	// A zip sdist goes through the same checks.
	b := wheelWith(t, "../evil", []byte("x"), false)
	if err := checkSdist(bytes.NewReader(b), int64(len(b)), 1<<20, "demo-pkg-1.0.0.zip"); !fault.Is(err, fault.Invalid) {
		t.Fatalf("zip sdist with ../: %v", err)
	}
}

func FuzzWheelMetadata(f *testing.F) {
	h := New(&edge.Registry{}, nil, Options{})
	f.Add(wheelWith(f, "", nil, false))
	f.Add(wheelWith(f, "../x", []byte("x"), false))
	f.Add([]byte("not a zip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h.wheelMetadata(bytes.NewReader(b), int64(len(b)), 1<<20, demoUpload)
	})
}

func FuzzCheckSdist(f *testing.F) {
	f.Add(sdistWith(f, nil, nil), false)
	f.Add(sdistWith(f, &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/"}, nil), false)
	f.Add(wheelWith(f, "", nil, false), true)
	f.Fuzz(func(t *testing.T, b []byte, isZip bool) {
		name := "demo-pkg-1.0.0.tar.gz"
		if isZip {
			name = "demo-pkg-1.0.0.zip"
		}
		checkSdist(bytes.NewReader(b), int64(len(b)), 1<<20, name)
	})
}
