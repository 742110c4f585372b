package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"entrepot/deploy/testkit/cluster"
)

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const nginxConf = `daemon off;
user root;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    default_type application/octet-stream;
    client_body_temp_path %[1]s/tmp;
    proxy_temp_path %[1]s/tmp;
    fastcgi_temp_path %[1]s/tmp;
    uwsgi_temp_path %[1]s/tmp;
    scgi_temp_path %[1]s/tmp;
    server {
        listen 127.0.0.1:%[2]d;
        root %[1]s/www;
        etag on;
    }
}
`

// static measures nginx serving the very same bytes: the practical ceiling.
func (b *bench) static(ctx context.Context, scenario string, files map[string][]byte) error {
	return b.staticConc(ctx, scenario, files, 0)
}

func (b *bench) staticConc(ctx context.Context, scenario string, files map[string][]byte, conc int) error {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		fmt.Fprintf(b.log, "   nginx: not installed, no static reference\n")
		return nil
	}
	dir, err := os.MkdirTemp(b.work, "nginx-")
	if err != nil {
		return err
	}
	if err := writeFiles(filepath.Join(dir, "www"), files); err != nil {
		return err
	}
	os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, port)), 0o644); err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var name string
	for n := range files {
		name = n
	}
	p, err := startCommand(ctx, "nginx", base+"/"+name, []string{nginx, "-c", conf, "-p", dir}, nil)
	if err != nil {
		return err
	}
	defer p.stop()
	return b.measure(ctx, scenario, "nginx", p, Load{URLs: []string{base + "/" + name}, Concurrency: conc}, int64(len(files[name])))
}

// verdaccio measures Verdaccio 6 serving the same package, when it was
// installed into the test cache (deploy/testenv/clients/bench.sh).
func (b *bench) verdaccio(ctx context.Context, f *npmFixture) error {
	p, base, err := b.startVerdaccio(ctx, "")
	if err != nil {
		return err
	}
	defer p.stop()
	body := cluster.NPMPublishBody(base, f.name, f.version, "", f.tgz)
	req, _ := http.NewRequest("PUT", base+"/"+strings.Replace(f.name, "/", "%2f", 1), strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if err := do(req, nil); err != nil {
		return err
	}
	u := base + "/" + strings.Replace(f.name, "/", "%2f", 1)
	abbrev := map[string]string{"Accept": abbreviated}
	got, err := get(u, abbrev)
	if err != nil {
		return err
	}
	return b.measure(ctx, "packument (abbreviated)", "verdaccio", p, Load{URLs: []string{u}, Header: abbrev}, int64(len(got)))
}

// distribution measures the distribution registry serving the same blob.
func (b *bench) distribution(ctx context.Context, scenario string, data []byte, conc int) error {
	bin, err := exec.LookPath("registry")
	if err != nil {
		bin = filepath.Join(cacheDir(), "bin", "registry")
		if _, err := os.Stat(bin); err != nil {
			return errors.New("not installed, no distribution reference")
		}
	}
	dir, err := os.MkdirTemp(b.work, "distribution-")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := fmt.Sprintf("version: 0.1\nlog: { level: error, accesslog: { disabled: true } }\nstorage: { filesystem: { rootdirectory: %s/data }, delete: { enabled: true } }\nhttp: { addr: 127.0.0.1:%d }\n", dir, port)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(conf), 0o644); err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	p, err := startCommand(ctx, "distribution", base+"/v2/", []string{bin, "serve", filepath.Join(dir, "config.yml")}, nil)
	if err != nil {
		return err
	}
	defer p.stop()
	digest, err := pushBlob(base, "bench/app", "", data)
	if err != nil {
		return err
	}
	return b.measure(ctx, scenario, "distribution", p, Load{URLs: []string{base + "/v2/bench/app/blobs/" + digest}, Concurrency: conc}, int64(len(data)))
}

func cacheDir() string {
	if d := os.Getenv("ENTREPOT_TEST_CACHE"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "entrepot-test")
}

// startVerdaccio runs Verdaccio 6 from the test cache
// (deploy/testenv/clients/bench.sh) on a free port, proxying every
// package to uplink when it is not "", and returns it with its URL.
func (b *bench) startVerdaccio(ctx context.Context, uplink string) (*process, string, error) {
	bin := filepath.Join(cacheDir(), "verdaccio", "node_modules", ".bin", "verdaccio")
	if _, err := os.Stat(bin); err != nil {
		return nil, "", errors.New("not installed, no Verdaccio reference")
	}
	dir, err := os.MkdirTemp(b.work, "verdaccio-")
	if err != nil {
		return nil, "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	uplinks, proxy := "", ""
	if uplink != "" {
		// maxage: the metadata stays fresh for the whole run, as
		// Entrepot's cache does; what is measured is the hot path.
		uplinks = fmt.Sprintf("uplinks:\n  up:\n    url: %s\n    maxage: 60m\n    timeout: 60s\n", uplink)
		proxy = "    proxy: up\n"
	}
	conf := fmt.Sprintf(`storage: %s/storage
auth:
  htpasswd:
    file: %s/htpasswd
    max_users: -1
%spackages:
  '**':
    access: $all
    publish: $anonymous $all
%slog: { type: stdout, format: pretty, level: error }
listen: 127.0.0.1:%d
`, dir, dir, uplinks, proxy, port)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(conf), 0o644); err != nil {
		return nil, "", err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	p, err := startCommand(ctx, "verdaccio", base+"/-/ping", []string{bin, "--config", filepath.Join(dir, "config.yaml")}, nil)
	return p, base, err
}
