package main

import (
	"bufio"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestEphemeral: serve --ephemeral names its temporary data directory,
// serves from it (healthcheck answers), and removes it on SIGTERM.
func TestEphemeral(t *testing.T) {
	cmd := exec.Command(testkit.Binary(t), "serve", "--ephemeral")
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT=0", "LOG_FORMAT=json", "ADMIN_PASSWORD="+testkit.AdminPassword, "DATA_DIR=/nonexistent/must-not-be-used")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	dirRe := regexp.MustCompile(`ephemeral data directory (\S+)`)
	portRe := regexp.MustCompile(`"addr":"127\.0\.0\.1:(\d+)"`)
	var dir, port string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for port == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("entrepot exited before listening")
			}
			if m := dirRe.FindStringSubmatch(l); m != nil {
				dir = m[1]
			}
			if m := portRe.FindStringSubmatch(l); m != nil {
				port = m[1]
			}
		case <-deadline:
			t.Fatal("entrepot did not listen within 30s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	if dir == "" || !strings.Contains(dir, "entrepot-ephemeral-") {
		t.Fatalf("no ephemeral data directory printed before listening (got %q)", dir)
	}
	if _, err := os.Stat(dir + "/entrepot.db"); err != nil {
		t.Fatalf("the store is not in the ephemeral directory: %v", err)
	}
	if out, errOut, code := entrepot(t, nil, []string{"PORT=" + port}, "healthcheck"); code != 0 || !strings.Contains(out, `"status"`) {
		t.Fatalf("healthcheck: exit %d %s%s", code, out, errOut)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve --ephemeral exited with %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the ephemeral data directory is still there after exit: %v", err)
	}
	if _, _, code := entrepot(t, nil, []string{"PORT=" + port}, "healthcheck"); code == 0 {
		t.Fatal("healthcheck succeeded with no server")
	}
}
