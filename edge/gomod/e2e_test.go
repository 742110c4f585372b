package gomod_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"entrepot/deploy/testkit"
)

// The end-to-end tests drive the real go command against the real
// binary. The public upstream is the module proxy `go env GOPROXY` names
// here, and its checksum database proxy (go help goproxy: <proxy>/sumdb/<db>).

const app = "module example.com/app\n\ngo 1.22\n\nrequire github.com/google/uuid v1.6.0\n"

const appMain = "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/google/uuid\"\n)\n\nfunc main() { fmt.Println(uuid.NewSHA1(uuid.NameSpaceDNS, []byte(\"x\"))) }\n"

// realUpstream is the go command's own proxy and checksum database.
func realUpstream(t *testing.T) (proxy, db string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOPROXY", "GOSUMDB").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	proxy, _, _ = strings.Cut(f[0], ",")
	db = f[1]
	if proxy == "" || proxy == "direct" || proxy == "off" || db == "off" {
		t.Fatalf("go env names no module proxy or checksum database: %q", out)
	}
	return strings.TrimRight(proxy, "/"), db
}

// goEnv is a clean go command environment using the server as its only
// proxy and checksum database.
func goEnv(t *testing.T, url, db string, extra ...string) []string {
	return testkit.Env([]string{"GO"},
		append([]string{"GOMODCACHE=" + t.TempDir(), "GOFLAGS=-modcacherw", "GOPATH=" + t.TempDir(), "GOCACHE=" + t.TempDir(),
			"GOPROXY=" + url + "/go", "GOSUMDB=" + db + " " + url + "/go/sumdb/" + db, "GONOSUMDB=", "GOPRIVATE=", "GONOPROXY=", "GOTOOLCHAIN=local"}, extra...)...)
}

func writeApp(t *testing.T) string {
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "go.mod"), app)
	testkit.WriteFile(t, filepath.Join(dir, "main.go"), appMain)
	return dir
}

// TestGoMirror builds a program depending on a public module through the
// mirror with checksum verification on, then again with the upstream
// unreachable and a clean module cache.
func TestGoMirror(t *testing.T) {
	proxy, db := realUpstream(t)
	data := t.TempDir()
	s := testkit.Start(t, "DATA_DIR="+data, "UPSTREAM_GO="+proxy, "UPSTREAM_GOSUMDB="+db+"="+proxy+"/sumdb/"+db)
	dir := writeApp(t)
	testkit.MustRun(t, dir, goEnv(t, s.URL, db), "go", "mod", "tidy")
	testkit.MustRun(t, dir, goEnv(t, s.URL, db), "go", "build", "-o", os.DevNull, ".")
	if st, _ := s.Get("/go/sumdb/" + db + "/supported"); st != 200 {
		t.Fatalf("supported: %d", st)
	}
	if st, _ := s.Get("/go/sumdb/not-configured/supported"); st != 404 {
		t.Fatalf("an unconfigured checksum database: %d, want 404", st)
	}
	if st, _ := s.Get("/go/github.com/google/uuid/@v/v1.6.0.mod"); st != 200 {
		t.Fatalf(".mod: %d", st)
	}

	s.Stop()
	off := testkit.Start(t, "DATA_DIR="+data, "UPSTREAM_GO=http://127.0.0.1:9/", "UPSTREAM_GOSUMDB="+db+"=http://127.0.0.1:9/", "UPSTREAM_CACHE_EXPIRY=0.0001")
	dir = writeApp(t)
	testkit.MustRun(t, dir, goEnv(t, off.URL, db), "go", "mod", "tidy")
	testkit.MustRun(t, dir, goEnv(t, off.URL, db), "go", "build", "-o", os.DevNull, ".")
}

// fakeProxy is an upstream module proxy serving one module whose zip
// breaks the module zip rules (a file outside module@version/), counting
// the zips and the claimed modules it is asked for.
func fakeProxy(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	var all, claimed atomic.Int64
	zip := testkit.Zip(t, map[string]string{"example.com/bad@v1.0.0/go.mod": "module example.com/bad\n", "../../evil.go": "package evil\n"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			all.Add(1)
		}
		if strings.HasPrefix(r.URL.Path, "/go.acme.example") {
			claimed.Add(1)
		}
		switch r.URL.Path {
		case "/example.com/bad/@v/list":
			w.Write([]byte("v1.0.0\n"))
		case "/example.com/bad/@v/v1.0.0.info":
			w.Write([]byte(`{"Version":"v1.0.0"}`))
		case "/example.com/bad/@v/v1.0.0.mod":
			w.Write([]byte("module example.com/bad\n"))
		case "/example.com/bad/@v/v1.0.0.zip":
			w.Write(zip)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &all, &claimed
}

// TestGoGuards: a zip breaking the module zip rules is refused and never
// cached; a module under a claimed prefix is never asked upstream.
func TestGoGuards(t *testing.T) {
	up, all, claimed := fakeProxy(t)
	s := testkit.Start(t, "UPSTREAM_GO="+up.URL)
	for range 2 {
		if st, body := s.Get("/go/example.com/bad/@v/v1.0.0.zip"); st < 500 || !strings.Contains(string(body), "zip") {
			t.Fatalf("tampered zip: %d %s, want a 5xx that says why", st, body)
		}
	}
	if n := all.Load(); n != 2 {
		t.Fatalf("zip asked upstream %d times, want 2 (a refused zip is not cached)", n)
	}
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	if st, raw := s.API("POST", "/organizations/acme/claims", admin, map[string]string{"protocol": "go", "namespace": "go.acme.example"}, nil); st/100 != 2 {
		t.Fatalf("claim: %d %s", st, raw)
	}
	for _, p := range []string{"go.acme.example/lib/@v/list", "go.acme.example/lib/v2/@latest", "go.!acme.example/x/@v/v1.0.0.info"} {
		// Anonymous: the claim's repository is private, so credentials are asked for.
		if st, _ := s.Get("/go/" + p); st != 401 && st != 404 {
			t.Fatalf("%s: %d, want 401 or 404", p, st)
		}
	}
	if n := claimed.Load(); n != 0 {
		t.Fatalf("a claimed prefix was asked upstream %d times", n)
	}
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "go.mod"), "module example.com/m\n\ngo 1.22\n")
	testkit.WriteFile(t, filepath.Join(dir, "m.go"), "package m\n\nimport _ \"example.com/bad\"\n")
	out, err := testkit.Run(t, dir, goEnv(t, s.URL, "sum.golang.org", "GONOSUMDB=example.com"), "go", "mod", "tidy")
	if err == nil {
		t.Fatalf("go mod tidy took a tampered zip:\n%s", out)
	}
}
