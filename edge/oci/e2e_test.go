package oci_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestE2EConformance runs the OCI distribution-spec conformance suite
// against the binary with every area enabled, on the embedded stores and
// on MongoDB and S3 (FerretDB and MinIO in the test environment).
func TestE2EConformance(t *testing.T) {
	bin := testkit.RequireTool(t, "oci-conformance")
	for _, backend := range []struct {
		name string
		env  func(testing.TB) []string
	}{
		{"embedded", func(testing.TB) []string { return nil }},
		{"mongodb+s3", testkit.SharedStores},
	} {
		t.Run(backend.name, func(t *testing.T) { conformance(t, bin, backend.env(t)...) })
	}
}

func conformance(t *testing.T, bin string, serverEnv ...string) {
	s := testkit.Start(t, serverEnv...)
	s.CreateOrg(t, s.AdminToken(t), "conformance")
	dir := t.TempDir()
	env := []string{
		"OCI_REGISTRY=" + s.Host(), "OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
		"OCI_USERNAME=admin", "OCI_PASSWORD=" + testkit.AdminPassword,
		"OCI_RESULTS_DIR=" + dir, "OCI_VERSION=1.1",
		// every API area, the optional ones included
		"OCI_API_PULL=true", "OCI_API_PUSH=true", "OCI_API_REFERRER=true",
		"OCI_API_BLOBS_DELETE=true", "OCI_API_BLOBS_UPLOAD_CANCEL=true", "OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
		"OCI_API_BLOBS_DIGEST_HEADER=true", "OCI_API_MANIFESTS_DIGEST_HEADER=true",
		"OCI_API_MANIFESTS_DELETE=true", "OCI_API_MANIFESTS_TAG_PARAM=true",
		"OCI_API_TAGS_LIST=true", "OCI_API_TAGS_DELETE=true",
		// every kind of content, sha512 and subjects included (sparse
		// manifests stay off: the registry refuses missing references)
		"OCI_DATA_IMAGE=true", "OCI_DATA_INDEX=true", "OCI_DATA_INDEX_LIST=true", "OCI_DATA_ARTIFACT=true",
		"OCI_DATA_SUBJECT=true", "OCI_DATA_SUBJECT_MISSING=true", "OCI_DATA_ARTIFACT_LIST=true", "OCI_DATA_SUBJECT_LIST=true",
		"OCI_DATA_DATA_FIELD=true", "OCI_DATA_NONDISTRIBUTABLE=true", "OCI_DATA_CUSTOM_FIELDS=true",
		"OCI_DATA_NO_LAYERS=true", "OCI_DATA_EMPTY_BLOB=true", "OCI_DATA_SHA512=true",
	}
	out, err := testkit.Run(t, dir, testkit.Env(nil, env...), bin)
	count := func(label string) int {
		m := regexp.MustCompile(`(?m)^\s*` + label + `\.+:\s+(\d+)`).FindStringSubmatch(out)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	pass, fail, errs, skip := count("Pass"), count("FAIL"), count("Error"), count("Skip")
	t.Logf("OCI conformance: %d passed, %d failed, %d errors, %d skipped", pass, fail, errs, skip)
	if err != nil || fail != 0 || errs != 0 || pass <= 0 {
		t.Fatalf("conformance failed (%v):\n%s\nserver log:\n%s", err, out, tail(s.Log(), 40))
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// podman runs podman as root in this sandbox: vfs storage under a temp
// folder, cgroupfs, chroot isolation for builds, and its own auth file.
type podman struct {
	t       *testing.T
	bin     string
	env     []string
	storage []string
}

func newPodman(t *testing.T) *podman {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "auth.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(dir, "registries.conf"), []byte("unqualified-search-registries = []\n"), 0o644)
	return &podman{
		t: t, bin: testkit.RequireTool(t, "podman"),
		env:     []string{"REGISTRY_AUTH_FILE=" + filepath.Join(dir, "auth.json"), "CONTAINERS_REGISTRIES_CONF=" + filepath.Join(dir, "registries.conf")},
		storage: []string{"--storage-driver=vfs", "--cgroup-manager=cgroupfs", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot")},
	}
}

// with returns p for use in (sub)test t.
func (p *podman) with(t *testing.T) *podman { q := *p; q.t = t; return &q }

func (p *podman) run(args ...string) (string, error) {
	p.t.Helper()
	return testkit.Run(p.t, "", testkit.Env(nil, p.env...), p.bin, append(append([]string{}, p.storage...), args...)...)
}

func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// build makes a one-file image from scratch for arch and tags it ref.
func (p *podman) build(ref, arch, content string) {
	p.t.Helper()
	dir := p.t.TempDir()
	os.WriteFile(filepath.Join(dir, "file.txt"), []byte(content), 0o644)
	os.WriteFile(filepath.Join(dir, "Containerfile"), []byte("FROM scratch\nCOPY file.txt /file.txt\n"), 0o644)
	p.must("build", "--isolation=chroot", "--platform=linux/"+arch, "-t", ref, dir)
}

func skopeo(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return testkit.Run(t, "", nil, testkit.RequireTool(t, "skopeo"), args...)
}

// TestE2EClients drives podman and skopeo: a push and pull with
// credentials, a multi-arch index, an anonymous pull of a public
// repository and a push denied to a read-only token.
func TestE2EClients(t *testing.T) {
	p0 := newPodman(t)
	s := testkit.Start(t)
	reg := s.Host()
	dev := s.OrgMember(t, "acme", "dev", "dev-password-123", "admin")
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "pub")
	readOnly := s.Token(t, dev, []string{"oci"}, []string{"read"}, nil)
	if st, raw := s.API("POST", "/organizations/pub/repositories", admin, map[string]string{"name": "default", "protocol": "oci", "visibility": "public"}, nil); st != 201 && st != 200 {
		t.Fatalf("public repository: %d %s", st, raw)
	}

	t.Run("podman push and pull with credentials", func(t *testing.T) {
		p := p0.with(t)
		p.must("login", "--tls-verify=false", "-u", "dev", "-p", "dev-password-123", reg)
		ref := reg + "/acme/app:1.0"
		p.build(ref, "amd64", "hello from amd64")
		p.must("push", "--tls-verify=false", ref)
		p.must("rmi", ref)
		p.must("pull", "--tls-verify=false", ref)
		out := p.must("image", "inspect", "--format", "{{.Architecture}}", ref)
		if strings.TrimSpace(out) != "amd64" {
			t.Fatalf("pulled image: %q", out)
		}
	})
	t.Run("multi-arch index", func(t *testing.T) {
		p := p0.with(t)
		list := reg + "/acme/multi:1"
		p.build("localhost/multi-amd64", "amd64", "amd64")
		p.build("localhost/multi-arm64", "arm64", "arm64")
		p.must("manifest", "create", list)
		p.must("manifest", "add", list, "containers-storage:localhost/multi-amd64")
		p.must("manifest", "add", list, "containers-storage:localhost/multi-arm64")
		p.must("manifest", "push", "--tls-verify=false", "--all", list, "docker://"+list)
		raw, err := skopeo(t, "inspect", "--raw", "--tls-verify=false", "--creds", "dev:dev-password-123", "docker://"+list)
		if err != nil {
			t.Fatalf("inspect: %v %s", err, raw)
		}
		var idx struct {
			MediaType string
			Manifests []struct{ Platform struct{ Architecture string } }
		}
		json.Unmarshal([]byte(raw), &idx)
		if len(idx.Manifests) != 2 {
			t.Fatalf("index: %s", raw)
		}
		out, err := skopeo(t, "copy", "--src-tls-verify=false", "--src-creds", "dev:dev-password-123", "--override-arch", "arm64",
			"docker://"+list, "oci:"+filepath.Join(t.TempDir(), "arm")+":1")
		if err != nil {
			t.Fatalf("copy the arm64 image: %v %s", err, out)
		}
	})
	t.Run("anonymous pull of a public repository", func(t *testing.T) {
		p := p0.with(t)
		ref := reg + "/pub/tool:1"
		p.build(ref, "amd64", "public")
		p.must("push", "--tls-verify=false", "--creds", "admin:"+testkit.AdminPassword, ref)
		out, err := skopeo(t, "copy", "--src-tls-verify=false", "--src-no-creds", "docker://"+ref, "oci:"+filepath.Join(t.TempDir(), "pub")+":1")
		if err != nil {
			t.Fatalf("anonymous pull: %v %s", err, out)
		}
		if out, err := skopeo(t, "inspect", "--tls-verify=false", "--no-creds", "docker://"+reg+"/acme/app:1.0"); err == nil {
			t.Fatalf("anonymous pull of a private repository worked: %s", out)
		}
	})
	t.Run("push denied to a read-only token", func(t *testing.T) {
		src := "oci:" + filepath.Join(t.TempDir(), "src") + ":1"
		if out, err := skopeo(t, "copy", "--src-tls-verify=false", "--src-creds", "dev:"+readOnly, "docker://"+reg+"/acme/app:1.0", src); err != nil {
			t.Fatalf("read with the read-only token: %v %s", err, out)
		}
		out, err := skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "dev:"+readOnly, src, "docker://"+reg+"/acme/denied:1")
		if err == nil || !strings.Contains(strings.ToLower(out), "denied") && !strings.Contains(strings.ToLower(out), "unauthorized") {
			t.Fatalf("push with a read-only token: %v %s", err, out)
		}
		if st, _ := s.Get("/v2/acme/denied/manifests/1"); st == 200 {
			t.Fatal("denied push is visible")
		}
	})
}

// counter is a reverse proxy in front of the upstream that counts
// requests by method and path.
type counter struct {
	mu   sync.Mutex
	hits map[string]int
}

func (c *counter) get(k string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.hits[k] }

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestE2EPullThrough mirrors a real distribution v3 registry: one
// upstream request for a stampede of cold blob pulls, and pulls that keep
// working once the upstream is gone.
func TestE2EPullThrough(t *testing.T) {
	regBin := testkit.RequireTool(t, "registry")
	p := newPodman(t)
	dir := t.TempDir()
	addr := freePort(t)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644)
	upCmd := exec.Command(regBin, "serve", filepath.Join(dir, "config.yml"))
	var upLog bytes.Buffer
	upCmd.Stdout, upCmd.Stderr = &upLog, &upLog
	if err := upCmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			upCmd.Process.Kill()
			upCmd.Wait()
		}
	}
	t.Cleanup(stop)
	for i := 0; ; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("registry did not start:\n%s", upLog.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	target, _ := url.Parse("http://" + addr)
	cnt := &counter{hits: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cnt.mu.Lock()
		cnt.hits[r.Method+" "+r.URL.Path]++
		cnt.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	// The upstream holds library/hello:1 (pushed there directly).
	p.build("localhost/hello", "amd64", "mirrored content")
	p.must("push", "--tls-verify=false", "localhost/hello", "docker://"+addr+"/library/hello:1")

	// Tags are fresh for about a second, so that the outage below finds
	// them stale: they must be served anyway.
	s := testkit.Start(t, "UPSTREAM_OCI=dist="+front.URL+"/?official=library", "UPSTREAM_CACHE_EXPIRY=0.0003")
	req, _ := http.NewRequest("GET", s.URL+"/v2/dist/hello/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Layers []struct{ Digest string } }
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	json.Unmarshal(raw, &m)
	if resp.StatusCode != 200 || len(m.Layers) != 1 {
		t.Fatalf("manifest through the mirror: %d %s\n%s", resp.StatusCode, raw, tail(s.Log(), 20))
	}
	layer := m.Layers[0].Digest
	var wg sync.WaitGroup
	var bad atomic.Int32
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(s.URL + "/v2/dist/hello/blobs/" + layer)
			if err != nil {
				bad.Add(1)
				return
			}
			h := sha256.New()
			io.Copy(h, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || "sha256:"+hex.EncodeToString(h.Sum(nil)) != layer {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	n := cnt.get("GET /v2/library/hello/blobs/" + layer)
	t.Logf("100 concurrent pulls of a cold blob: %d upstream request(s), %d bad answers", n, bad.Load())
	if n != 1 || bad.Load() != 0 {
		t.Fatalf("stampede: %d upstream blob requests, %d bad answers", n, bad.Load())
	}
	pull := func() (string, error) {
		return skopeo(t, "copy", "--src-tls-verify=false", "docker://"+s.Host()+"/dist/hello:1", "oci:"+filepath.Join(t.TempDir(), "img")+":1")
	}
	if out, err := pull(); err != nil {
		t.Fatalf("skopeo pull through the mirror: %v %s", err, out)
	}
	stop()
	time.Sleep(1200 * time.Millisecond) // past the tag's freshness
	if out, err := pull(); err != nil {
		t.Fatalf("pull with the upstream stopped: %v %s\n%s", err, out, tail(s.Log(), 20))
	}
}

// TestE2EUploadSurvivesRestart: an upload session outlives the process.
func TestE2EUploadSurvivesRestart(t *testing.T) {
	s := testkit.Start(t)
	s.CreateOrg(t, s.AdminToken(t), "acme")
	data := bytes.Repeat([]byte("entrepot"), 4096)
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	do := func(method, path string, body []byte, hdr ...string) *http.Response {
		resp, _ := testkit.Request(t, method, s.URL+path, body, append([]string{"Authorization", testkit.Basic("admin", testkit.AdminPassword)}, hdr...)...)
		return resp
	}
	loc := do("POST", "/v2/acme/app/blobs/uploads/", nil).Header.Get("Location")
	half := len(data) / 2
	if resp := do("PATCH", loc, data[:half], "Content-Range", fmt.Sprintf("0-%d", half-1)); resp.StatusCode != 202 {
		t.Fatalf("first chunk: %d", resp.StatusCode)
	}
	s.Restart()
	if resp := do("GET", loc, nil); resp.StatusCode != 204 || resp.Header.Get("Range") != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("session after restart: %d %q", resp.StatusCode, resp.Header.Get("Range"))
	}
	if resp := do("PUT", loc+"?digest="+d, data[half:], "Content-Range", fmt.Sprintf("%d-%d", half, len(data)-1)); resp.StatusCode != 201 {
		t.Fatalf("finish after restart: %d", resp.StatusCode)
	}
	if resp := do("HEAD", "/v2/acme/app/blobs/"+d, nil); resp.StatusCode != 200 {
		t.Fatalf("blob: %d", resp.StatusCode)
	}
}
