package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireTool returns the path of a client program an end-to-end test
// drives (npm, pip, cargo, ...). The test command installs every client and
// sets ENTREPOT_TEST_REQUIRE_CLIENTS, so there a missing one fails the test;
// a bare `go test` on a machine without it skips, saying so.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	cache := os.Getenv("ENTREPOT_TEST_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "entrepot-test")
	}
	if p := filepath.Join(cache, "bin", name); isExecutable(p) {
		return p
	}
	if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
		t.Fatalf("%s is not installed: deploy/testenv/clients/ should have installed it", name)
	}
	t.Skipf("%s is not installed; `make test` installs it", name)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
