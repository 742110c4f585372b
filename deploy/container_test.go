package deploy_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestContainerImage builds deploy/container/Containerfile with podman
// (the base is scratch: no registry is needed) and checks the image's
// configuration; where this machine can run containers, it starts one
// and reads /healthz, and the image's own health check passes.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	podman := testkit.RequireTool(t, "podman")
	tag := fmt.Sprintf("localhost/entrepot-test:%d", os.Getpid())
	if out, err := testkit.Run(t, "", nil, podman, "info"); err != nil {
		t.Skipf("podman cannot work on this machine: %v\n%s", err, out)
	}
	start := time.Now()
	testkit.MustRun(t, "..", os.Environ(), "sh", "deploy/container/build.sh", tag)
	t.Logf("image built in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { testkit.Run(t, "", nil, podman, "rmi", "-f", tag) })

	var img []struct {
		Config struct {
			User       string
			Entrypoint []string
			Cmd        []string
			Env        []string
			Volumes    map[string]struct{}
		}
		Healthcheck struct{ Test []string } // podman reports it beside Config

	}
	raw := testkit.MustRun(t, "", nil, podman, "image", "inspect", tag)
	if err := json.Unmarshal([]byte(raw), &img); err != nil || len(img) != 1 {
		t.Fatalf("podman image inspect: %v\n%s", err, raw)
	}
	c := img[0].Config
	if c.User == "" || strings.HasPrefix(c.User, "0") || c.User == "root" {
		t.Errorf("the image runs as %q, want a non-root user", c.User)
	}
	if _, ok := c.Volumes["/data"]; !ok || !slices.Contains(c.Env, "DATA_DIR=/data") {
		t.Errorf("volumes %v, env %v: want the data in the /data volume", c.Volumes, c.Env)
	}
	if hc := img[0].Healthcheck.Test; !slices.Contains(hc, "healthcheck") {
		t.Errorf("health check %q, want the binary's healthcheck", hc)
	}

	// Run it, where containers can run (some sandboxes can build but not run).
	out, err := testkit.Run(t, "", nil, podman, "run", "-d", "--rm", "-p", "127.0.0.1::3000", "-e", "ADMIN_PASSWORD="+testkit.AdminPassword, tag)
	if err != nil {
		t.Logf("this machine cannot run containers, so the image was built and inspected only: %v\n%s", err, out)
		return
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	id := lines[len(lines)-1]
	t.Cleanup(func() { testkit.Run(t, "", nil, podman, "rm", "-f", id) })
	port := strings.TrimSpace(testkit.MustRun(t, "", nil, podman, "port", id, "3000/tcp"))
	url := "http://" + port[strings.LastIndex(port, " ")+1:] + "/healthz"
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			logs, _ := testkit.Run(t, "", nil, podman, "logs", id)
			t.Fatalf("%s did not answer 200 within 60s (%v)\n%s", url, err, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := testkit.Run(t, "", nil, podman, "healthcheck", "run", id); err != nil {
		t.Errorf("podman healthcheck run: %v\n%s", err, out)
	}
}
