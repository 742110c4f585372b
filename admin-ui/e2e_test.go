package adminui_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestE2EDashboard drives the dashboard in Debian's headless Chromium
// (playwright-core, installed by deploy/testenv/clients/ui.sh) against the
// real binary, with the real npm CLI publishing in between: see
// web/e2e/dashboard.e2e.mjs for the steps. Screenshots of the main pages
// at 1280 and 390 px are written under the test's temp dir, or to
// ENTREPOT_UI_SHOTS when it is set.
func TestE2EDashboard(t *testing.T) {
	node := testkit.RequireTool(t, "node")
	npm := testkit.RequireTool(t, "npm")
	chromium := testkit.RequireTool(t, "chromium")
	pw := filepath.Join(testCache(), "ui-e2e", "node_modules", "playwright-core")
	if _, err := os.Stat(filepath.Join(pw, "index.mjs")); err != nil {
		if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
			t.Fatalf("playwright-core is not installed in %s: deploy/testenv/clients/ui.sh should have installed it", pw)
		}
		t.Skipf("playwright-core is not installed in %s; `make test` (deploy/testenv/clients/ui.sh) installs it", pw)
	}

	s := testkit.Start(t)
	work := t.TempDir()
	shots := os.Getenv("ENTREPOT_UI_SHOTS")
	if shots == "" {
		shots = filepath.Join(work, "screenshots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("web", "e2e", "dashboard.e2e.mjs"))
	cmd.Env = append(os.Environ(),
		"BASE_URL="+s.URL,
		"ADMIN_PASSWORD="+testkit.AdminPassword,
		"PLAYWRIGHT_CORE="+pw,
		"CHROMIUM="+chromium,
		"NPM="+npm,
		"WORK_DIR="+work,
		"SHOTS_DIR="+shots,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("dashboard e2e output:\n%s", out.String())
	if err != nil {
		t.Fatalf("dashboard e2e: %v (screenshots in %s)\nserver log:\n%s", err, shots, tail(s.Log(), 4000))
	}
	t.Logf("screenshots in %s", shots)
}

func testCache() string {
	if c := os.Getenv("ENTREPOT_TEST_CACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "entrepot-test")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
