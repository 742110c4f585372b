// Package deploy_test checks what deploy/ ships to operators: the release
// build, the installer, the systemd unit, the container image and the
// compose file.
package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// release runs deploy/release.sh (what `make release` runs) for
// linux/amd64 into dist.
func release(t *testing.T, dist string) {
	t.Helper()
	requireCheckout(t)
	start := time.Now()
	testkit.MustRun(t, "..", append(os.Environ(), "PLATFORMS=linux/amd64", "DIST="+dist), "bash", "deploy/release.sh")
	t.Logf("release linux/amd64: %s", time.Since(start).Round(time.Millisecond))
}

// requireCheckout skips a test of the release outside a git checkout:
// the release is stamped from git.
func requireCheckout(t *testing.T) {
	t.Helper()
	testkit.RequireTool(t, "git")
	if out, err := testkit.Run(t, "..", nil, "git", "rev-parse", "HEAD"); err != nil {
		t.Skipf("not a git checkout (%s)", strings.TrimSpace(out))
	}
}

// shared is the release the tests of this package share, built once.
var shared struct {
	once sync.Once
	dir  string
}

func sharedRelease(t *testing.T) string {
	t.Helper()
	requireCheckout(t) // before once.Do, which a skip inside would leave done
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "entrepot-release-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		release(t, dir)
	})
	if _, err := os.Stat(filepath.Join(shared.dir, "SHA256SUMS")); err != nil {
		t.Fatal("the shared release build failed")
	}
	return shared.dir
}

// TestReleaseReproducible builds the linux/amd64 release twice (the
// other platforms go through the same lines with another GOOS/GOARCH;
// building them here would cost minutes of a cold cache) and wants the
// same bytes: archive and SHA256SUMS. The archive holds a static binary
// stamped with the commit and its date, and its entries have a fixed
// order, owner and mtime.
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release twice")
	}
	a, b := sharedRelease(t), t.TempDir()
	release(t, b)
	sumsA, err := os.ReadFile(filepath.Join(a, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sumsB, _ := os.ReadFile(filepath.Join(b, "SHA256SUMS"))
	if !bytes.Equal(sumsA, sumsB) {
		t.Fatalf("two builds of one commit differ:\n%s\n%s", sumsA, sumsB)
	}
	fields := strings.Fields(string(sumsA))
	if len(fields) != 4 || !strings.HasSuffix(fields[1], "-linux-amd64.tar.gz") || fields[3] != "install.sh" {
		t.Fatalf("SHA256SUMS = %q, want the archive and install.sh", sumsA)
	}
	archive := filepath.Join(a, fields[1])
	check := testkit.MustRun(t, a, nil, "sha256sum", "-c", "SHA256SUMS")
	if !strings.Contains(check, "OK") {
		t.Fatalf("sha256sum -c: %s", check)
	}
	rawB, _ := os.ReadFile(filepath.Join(b, fields[1]))
	rawA, _ := os.ReadFile(archive)
	if !bytes.Equal(rawA, rawB) {
		t.Fatal("archives differ although SHA256SUMS agree")
	}

	commit := strings.TrimSpace(testkit.MustRun(t, "..", nil, "git", "rev-parse", "HEAD"))
	epoch := strings.TrimSpace(testkit.MustRun(t, "..", nil, "git", "log", "-1", "--format=%ct"))
	bin := filepath.Join(t.TempDir(), "entrepot")
	var names []string
	eachEntry(t, rawA, func(h *tar.Header, body []byte) {
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d/%d %q/%q, want 0/0 numeric", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if got := h.ModTime.Unix(); strconv.FormatInt(got, 10) != epoch {
			t.Errorf("%s: mtime %d, want the commit's %s", h.Name, got, epoch)
		}
		if strings.HasSuffix(h.Name, "/entrepot") {
			if err := os.WriteFile(bin, body, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	})
	if !isSorted(names) {
		t.Errorf("archive entries not in name order: %q", names)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("no linux binary in the archive (%q): %v", names, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (has an ELF interpreter)")
		}
	}
	f.Close()
	out := testkit.MustRun(t, "", nil, bin, "version")
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		t.Fatalf("commit time %q: %v", epoch, err)
	}
	date := time.Unix(sec, 0).UTC().Format(time.RFC3339)
	for _, want := range []string{"commit: " + commit, "date: " + date, "linux/amd64"} {
		if !strings.Contains(out, want) {
			t.Errorf("entrepot version = %q, want %q in it", out, want)
		}
	}
}

// eachEntry calls fn with every entry of the tar.gz archive and its body.
func eachEntry(t *testing.T, archive []byte, fn func(h *tar.Header, body []byte)) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(h, body)
	}
}

func isSorted(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}
