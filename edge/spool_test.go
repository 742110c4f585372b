package edge_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
)

// TestSpoolSweptAtStart: the server sweeps at start-up the spool files a
// crash left (older than the upload timeout), and keeps OCI's upload
// sessions, which a restart must not end.
func TestSpoolSweptAtStart(t *testing.T) {
	dir := t.TempDir()
	// Older than the upload timeout, younger than an OCI session lives
	// (a day).
	old := time.Now().Add(-edge.DefaultUploadTimeout - time.Hour)
	left := filepath.Join(dir, "spool", "npm", "upload-42")
	session := filepath.Join(dir, "spool", "oci", "0123456789abcdef0123456789abcdef")
	for _, p := range []string{left, session} {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, old, old)
	}
	testkit.Start(t, "DATA_DIR="+dir)
	if _, err := os.Stat(left); err == nil {
		t.Error("a spool file left by a crash survived the start")
	}
	if _, err := os.Stat(session); err != nil {
		t.Errorf("an OCI upload session's file was swept: %v", err)
	}
}

// TestSweepSpool: a publish's spool file left by a crash is swept once it
// is older than the cutoff; a fresh one (a publish in progress) and an
// OCI upload session (resumable across restarts) stay.
func TestSweepSpool(t *testing.T) {
	dir := t.TempDir()
	r := &edge.Registry{SpoolDir: dir}
	old := time.Now().Add(-2 * time.Hour)
	files := []struct {
		path string
		old  bool
		kept bool
	}{
		{"npm/upload-123", true, false},
		{"cargo/upload-456", true, false},
		{"npm/upload-789", false, true},
		{"oci/0123456789abcdef0123456789abcdef", true, true},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if f.old {
			os.Chtimes(p, old, old)
		}
	}
	n, err := r.SweepSpool(time.Now().Add(-time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("SweepSpool: %d, %v; want 2 removed", n, err)
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.path))
		if kept := err == nil; kept != f.kept {
			t.Errorf("%s: kept %v, want %v", f.path, kept, f.kept)
		}
	}
	if n, err := (&edge.Registry{SpoolDir: filepath.Join(dir, "none")}).SweepSpool(time.Now()); n != 0 || err != nil {
		t.Errorf("a missing spool folder: %d, %v", n, err)
	}
}
