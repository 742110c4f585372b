package npm_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EQuota: with a platform quota of 8 KiB, the real npm publishes a
// small version, and a version whose tarball would go past the quota is
// refused with a 413 whose message npm shows (the quota and the usage);
// nothing of the refused publish is stored and npm view lists only the
// first version.
func TestE2EQuota(t *testing.T) {
	npm := newNPM(t)
	e := newHostedEnv(t, "QUOTA=8KiB")
	rc := npmrc(t, e.s, e.full)
	cache := t.TempDir()

	dir := project(t, map[string]any{"name": "@acme/quota", "version": "1.0.0"})
	npm.must(t, dir, rc, cache, "publish")
	before := blobCount(t, e.s)

	// 12 KiB of random bytes compress to no less than 12 KiB.
	noise := make([]byte, 12<<10)
	rand.Read(noise)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), noise, 0o644); err != nil {
		t.Fatal(err)
	}
	writeVersion(t, dir, "1.1.0")
	out := npm.fails(t, "413", dir, rc, cache, "publish")
	if !strings.Contains(out, "storage quota is exceeded") {
		t.Fatalf("npm does not show why the publish was refused:\n%s", out)
	}
	if n := blobCount(t, e.s); n != before {
		t.Fatalf("blobs %d after a refused publish, %d before", n, before)
	}
	if vs := npm.must(t, dir, rc, t.TempDir(), "view", "@acme/quota", "versions", "--json"); strings.Contains(vs, "1.1.0") {
		t.Fatalf("npm view lists the refused version: %s", vs)
	}
}
