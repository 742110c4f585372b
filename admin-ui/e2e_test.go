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
	npm := testkit.RequireTool(t, "npm")
	b := requireBrowser(t)
	s := testkit.Start(t)
	work := t.TempDir()
	shots := os.Getenv("ENTREPOT_UI_SHOTS")
	if shots == "" {
		shots = filepath.Join(work, "screenshots")
	}
	out, err := b.run(4*time.Minute, "dashboard.e2e.mjs", s, work,
		"NPM="+npm,
		"SHOTS_DIR="+shots,
	)
	t.Logf("dashboard e2e output:\n%s", out)
	if err != nil {
		t.Fatalf("dashboard e2e: %v (screenshots in %s)\nserver log:\n%s", err, shots, tail(s.Log(), 4000))
	}
	t.Logf("screenshots in %s", shots)
}

// browser is what the Chromium tests need: node, Debian's chromium and
// playwright-core (installed by deploy/testenv/clients/ui.sh).
type browser struct{ node, chromium, playwright string }

func requireBrowser(t *testing.T) browser {
	t.Helper()
	b := browser{node: testkit.RequireTool(t, "node"), chromium: testkit.RequireTool(t, "chromium")}
	b.playwright = filepath.Join(testCache(), "ui-e2e", "node_modules", "playwright-core")
	if _, err := os.Stat(filepath.Join(b.playwright, "index.mjs")); err != nil {
		if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
			t.Fatalf("playwright-core is not installed in %s: deploy/testenv/clients/ui.sh should have installed it", b.playwright)
		}
		t.Skipf("playwright-core is not installed in %s; `make test` (deploy/testenv/clients/ui.sh) installs it", b.playwright)
	}
	return b
}

// run runs the script web/e2e/<script> against s with the common
// environment (BASE_URL, ADMIN_PASSWORD, PLAYWRIGHT_CORE, CHROMIUM,
// WORK_DIR) and env, and returns its output.
func (b browser) run(timeout time.Duration, script string, s *testkit.Server, work string, env ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.node, filepath.Join("web", "e2e", script))
	cmd.Env = append(append(os.Environ(),
		"BASE_URL="+s.URL,
		"ADMIN_PASSWORD="+testkit.AdminPassword,
		"PLAYWRIGHT_CORE="+b.playwright,
		"CHROMIUM="+b.chromium,
		"WORK_DIR="+work,
	), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
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
