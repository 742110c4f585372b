package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNginxConfig renders the balancer's configuration and has the real
// nginx check it (nginx -t), with and without the access log.
func TestNginxConfig(t *testing.T) {
	bin := NginxBinary()
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
			t.Fatal("nginx is not installed: deploy/testenv/install.sh should have installed it")
		}
		t.Skip("nginx is not installed; `make test` installs it")
	}
	for _, access := range []bool{false, true} {
		dir := t.TempDir()
		c := NginxConfig{Dir: dir, Port: 18080, Edges: []string{"127.0.0.1:18081", "127.0.0.1:18082"}, AccessLog: access}
		conf := c.Render()
		for _, want := range []string{
			"daemon off;", "server 127.0.0.1:18081 max_fails=1", "server 127.0.0.1:18082 max_fails=1", "keepalive 64;",
			"client_max_body_size 0;", "proxy_request_buffering off;", "proxy_buffering off;", "proxy_http_version 1.1;",
			`proxy_set_header Connection "";`, "listen 127.0.0.1:18080;",
		} {
			if !strings.Contains(conf, want) {
				t.Errorf("the configuration lacks %q:\n%s", want, conf)
			}
		}
		if strings.Contains(conf, "sticky") || strings.Contains(conf, "ip_hash") || strings.Contains(conf, "hash ") {
			t.Errorf("the balancer must not pin clients to edges:\n%s", conf)
		}
		os.MkdirAll(filepath.Join(dir, "tmp"), 0o700)
		path := filepath.Join(dir, "nginx.conf")
		os.WriteFile(path, []byte(conf), 0o600)
		if out, err := exec.Command(bin, "-t", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
			t.Fatalf("nginx -t (access log %v): %v\n%s\n%s", access, err, out, conf)
		}
	}
}
