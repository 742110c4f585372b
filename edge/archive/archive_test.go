package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"syscall"
	"testing"
	"time"

	"entrepot/hosted/fault"
)

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"package/package.json", true},
		{"./package/index.js", true},
		{"a/b/../c", false},
		{"../evil", false},
		{"a/../../evil", false},
		{"/etc/passwd", false},
		{`a\..\evil`, false},
		{"C:evil", false},
		{"a\x00b", false},
		{"", false},
		{"..", false},
		{"a..b/c", true},
		// Composer's cases, from before the checks moved here.
		{"composer.json", true},
		{"pkg-1.0/src/", true},
		{"a/..", false},
		{"C:/x", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckName(c.name)
			if (err == nil) != c.ok {
				t.Fatalf("CheckName(%q) = %v", c.name, err)
			}
			if err != nil && !fault.Is(err, fault.Invalid) {
				t.Fatalf("kind %v", fault.KindOf(err))
			}
		})
	}
}

// Entry describes one entry of a test archive.
type entry struct {
	name string
	typ  byte
	body string
	link string
}

func tarGz(t testing.TB, es ...entry) []byte {
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	tw := tar.NewWriter(z)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Size: int64(len(e.body)), Linkname: e.link, Mode: 0o644}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	z.Close()
	return buf.Bytes()
}

func TestTarEntries(t *testing.T) {
	for _, c := range []struct {
		name string
		e    entry
		ok   bool
	}{
		{"file", entry{name: "package/a.js", typ: tar.TypeReg, body: "x"}, true},
		{"dir", entry{name: "package/lib/", typ: tar.TypeDir}, true},
		{"dotdot", entry{name: "package/../../a.js", typ: tar.TypeReg, body: "x"}, false},
		{"absolute", entry{name: "/a.js", typ: tar.TypeReg, body: "x"}, false},
		{"symlink", entry{name: "package/l", typ: tar.TypeSymlink, link: "/etc/passwd"}, false},
		{"hardlink", entry{name: "package/l", typ: tar.TypeLink, link: "package/a.js"}, false},
		{"device", entry{name: "package/d", typ: tar.TypeChar}, false},
		{"fifo", entry{name: "package/f", typ: tar.TypeFifo}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := NewTarGz(bytes.NewReader(tarGz(t, entry{name: "package/ok", typ: tar.TypeReg, body: "1"}, c.e)), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Walk(func(*tar.Header) error { return nil })
			if (err == nil) != c.ok {
				t.Fatalf("Walk = %v", err)
			}
			if err != nil && !fault.Is(err, fault.Invalid) {
				t.Fatalf("kind %v", fault.KindOf(err))
			}
		})
	}
}

// bomb is a gzipped tar of about 10 KiB holding one 10 MiB file of zeros.
func bomb(t testing.TB) []byte {
	b := tarGz(t, entry{name: "package/zeros", typ: tar.TypeReg, body: string(make([]byte, 10<<20))})
	if len(b) > 12<<10 {
		t.Fatalf("bomb is %d bytes", len(b))
	}
	return b
}

func TestTarGzBomb(t *testing.T) {
	b := bomb(t)
	tr, err := NewTarGz(bytes.NewReader(b), Budget(int64(len(b)), 0))
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Walk(func(*tar.Header) error { return nil })
	if !fault.Is(err, fault.TooLarge) {
		t.Fatalf("Walk of a %d-byte bomb = %v, want TooLarge", len(b), err)
	}
}

func TestGunzipBomb(t *testing.T) {
	var buf bytes.Buffer
	z := gzip.NewWriter(&buf)
	z.Write(make([]byte, 10<<20))
	z.Close()
	r, err := Gunzip(bytes.NewReader(buf.Bytes()), Budget(int64(buf.Len()), 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); !fault.Is(err, fault.TooLarge) {
		t.Fatalf("copy = %v, want TooLarge", err)
	}
}

func zipOf(t testing.TB, es ...entry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch e.typ {
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			e.body = e.link
		case tar.TypeChar:
			h.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o644)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	zw.Close()
	return buf.Bytes()
}

func TestZipEntries(t *testing.T) {
	for _, c := range []struct {
		name string
		e    entry
		kind fault.Kind
	}{
		{"file", entry{name: "a/b.py", body: "x"}, 0},
		{"dotdot", entry{name: "../b.py", body: "x"}, fault.Invalid},
		{"absolute", entry{name: "/b.py", body: "x"}, fault.Invalid},
		{"symlink", entry{name: "a/l", typ: tar.TypeSymlink, link: "/etc/passwd"}, fault.Invalid},
		{"device", entry{name: "a/d", typ: tar.TypeChar}, fault.Invalid},
		{"bomb", entry{name: "a/zeros", body: string(make([]byte, 10<<20))}, fault.TooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := zipOf(t, entry{name: "a/ok", body: "1"}, c.e)
			_, err := OpenZip(bytes.NewReader(b), int64(len(b)), Budget(int64(len(b)), 0))
			if c.kind == 0 && err != nil || c.kind != 0 && !fault.Is(err, c.kind) {
				t.Fatalf("OpenZip = %v, want kind %v", err, c.kind)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	if got := Budget(10<<10, 0); got != Floor {
		t.Errorf("Budget(10 KiB) = %d", got)
	}
	if got := Budget(1<<30, 0); got != 100<<30 {
		t.Errorf("Budget(1 GiB) = %d", got)
	}
	if got := Budget(1<<30, 1<<32); got != 1<<32 {
		t.Errorf("Budget(1 GiB, ceiling 4 GiB) = %d", got)
	}
	if got := Budget(1<<62, 0); got <= 0 {
		t.Errorf("Budget overflows: %d", got)
	}
}

func FuzzTarGz(f *testing.F) {
	f.Add(tarGz(f, entry{name: "package/package.json", typ: tar.TypeReg, body: `{}`}))
	f.Add(tarGz(f, entry{name: "../x", typ: tar.TypeReg, body: `x`}))
	f.Add(tarGz(f, entry{name: "l", typ: tar.TypeSymlink, link: "/"}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := NewTarGz(bytes.NewReader(b), 1<<20)
		if err != nil {
			return
		}
		tr.Walk(func(h *tar.Header) error {
			if CheckTar(h) != nil {
				t.Fatalf("Walk handed out a refused entry %q", h.Name)
			}
			_, err := io.Copy(io.Discard, tr)
			return err
		})
	})
}

func FuzzOpenZip(f *testing.F) {
	f.Add(zipOf(f, entry{name: "a/METADATA", body: "Name: a"}))
	f.Add(zipOf(f, entry{name: "../x", body: "x"}))
	f.Add(zipOf(f, entry{name: "l", typ: tar.TypeSymlink, link: "/"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		zr, err := OpenZip(bytes.NewReader(b), int64(len(b)), 1<<20)
		if err != nil {
			return
		}
		for _, zf := range zr.File {
			if CheckZip(zf) != nil {
				t.Fatalf("OpenZip accepted a refused entry %q", zf.Name)
			}
			ReadFile(zf, 1<<20)
		}
	})
}

// TestBombsCheap: a 10 KiB archive that expands past its budget is
// refused within a second of CPU, in each format: the refusal comes from
// the cap on expanded bytes, not from reading the expansion to its end.
// The CPU time (the process's, this test running alone) is logged.
func TestBombsCheap(t *testing.T) {
	zeros := string(make([]byte, 10<<20))
	tgz := bomb(t)
	zb := zipOf(t, entry{name: "a/zeros", body: zeros})
	for _, c := range []struct {
		name   string
		size   int
		refuse func() error
	}{
		{"tar.gz", len(tgz), func() error {
			tr, err := NewTarGz(bytes.NewReader(tgz), Budget(int64(len(tgz)), 0))
			if err != nil {
				return err
			}
			return tr.Walk(func(*tar.Header) error { return nil })
		}},
		{"gzip", len(tgz), func() error {
			r, err := Gunzip(bytes.NewReader(tgz), Budget(int64(len(tgz)), 0))
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, r)
			return err
		}},
		{"zip", len(zb), func() error {
			_, err := OpenZip(bytes.NewReader(zb), int64(len(zb)), Budget(int64(len(zb)), 0))
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.size > 12<<10 {
				t.Fatalf("the bomb is %d bytes", c.size)
			}
			before := cpuTime(t)
			err := c.refuse()
			used := cpuTime(t) - before
			t.Logf("a %d-byte %s bomb refused after %v of CPU", c.size, c.name, used)
			if !fault.Is(err, fault.TooLarge) {
				t.Fatalf("%v, want TooLarge", err)
			}
			if used > time.Second {
				t.Fatalf("refused after %v of CPU, more than a second", used)
			}
		})
	}
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
