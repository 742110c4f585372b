package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

type healthDoc struct {
	Status     string
	Components map[string]struct{ Status, Backend, Error string }
	Upstreams  map[string]struct{ Status string }
}

func getHealth(t *testing.T, s *testkit.Server, path string) (int, healthDoc) {
	t.Helper()
	code, body := s.Get(path)
	var h healthDoc
	if err := json.Unmarshal(body, &h); err != nil {
		t.Fatalf("%s: %v: %s", path, err, body)
	}
	return code, h
}

func TestServeEmbedded(t *testing.T) {
	up := testkit.NewUpstream(t)
	s := testkit.Start(t, "UPSTREAM_NPM="+up.URL)
	for _, p := range []string{"/healthz", "/health"} {
		code, h := getHealth(t, s, p)
		if code != 200 || h.Status != "ok" || h.Components["metadata"].Backend != "bbolt" || h.Components["blobs"].Backend != "filesystem" {
			t.Fatalf("%s: %d %+v", p, code, h)
		}
		if _, ok := h.Upstreams["npm"]; !ok {
			t.Fatalf("%s does not report the npm upstream: %+v", p, h)
		}
	}
	// (under an operational path: every other root path is an npm name)
	resp, err := http.Get(s.URL + "/healthz/no/such/route")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Request-Id") == "" || !bytes.Contains(body, []byte(`"code":"not_found"`)) {
		t.Fatalf("unknown route: %d %q %s", resp.StatusCode, resp.Header.Get("X-Request-Id"), body)
	}
	code, metrics := s.Get("/metrics")
	for _, want := range []string{
		`entrepot_http_requests_total{protocol="edge",route="health",status="200"}`,
		`entrepot_http_request_duration_seconds_bucket`,
		`entrepot_http_response_bytes_total`,
	} {
		if code != 200 || !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if fi, err := os.Stat(filepath.Join(s.DataDir, "secrets.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.json: %v %v", fi, err)
	}
	if strings.Contains(s.Log(), readSecrets(t, s.DataDir)) {
		t.Fatal("a generated secret appears in the log")
	}
}

func readSecrets(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sf secretsFile
	json.Unmarshal(b, &sf)
	return sf.JWTSecret
}

// entrepot runs the binary with args and env on top of the test's own.
func entrepot(t *testing.T, stdin io.Reader, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DATA_DIR=" + dir}
	data := make([]byte, 3<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])

	out, errOut, code := entrepot(t, bytes.NewReader(data), env, "blob", "put")
	if code != 0 || !strings.HasPrefix(out, digest) {
		t.Fatalf("blob put: %d %q %q", code, out, errOut)
	}
	s := testkit.Start(t, env...)
	secret := readSecrets(t, dir)
	s.Restart()
	if code, h := getHealth(t, s, "/healthz"); code != 200 {
		t.Fatalf("after restart: %d %+v", code, h)
	}
	s.Stop()
	if readSecrets(t, dir) != secret {
		t.Fatal("secrets were regenerated on restart")
	}
	got, errOut, code := entrepot(t, nil, env, "blob", "get", digest)
	if code != 0 || got != string(data) {
		t.Fatalf("blob get after restarts: exit %d, %d bytes, %s", code, len(got), errOut)
	}
}

// TestKillDuringBlobWrite kills a writer with SIGKILL halfway through a
// blob and shows that nothing of it is visible and that the next start
// sweeps its temp file.
func TestKillDuringBlobWrite(t *testing.T) {
	dir := t.TempDir()
	env := []string{"DATA_DIR=" + dir}
	cmd := exec.Command(testkit.Binary(t), "blob", "put")
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	half := make([]byte, 8<<20)
	rand.Read(half)
	if _, err := stdin.Write(half); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "blobs", "tmp")
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries, _ := os.ReadDir(tmp)
		if len(entries) > 0 {
			if fi, _ := entries[0].Info(); fi != nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never started its temp file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()

	sum := sha256.Sum256(half)
	if _, _, code := entrepot(t, nil, env, "blob", "stat", "sha256:"+hex.EncodeToString(sum[:])); code == 0 {
		t.Fatal("a partial blob is visible")
	}
	if entries, _ := os.ReadDir(tmp); len(entries) == 0 {
		t.Fatal("no temp file left behind to sweep: the test proves nothing")
	}
	s := testkit.Start(t, env...)
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Fatalf("%d temp files left after start-up", len(entries))
	}
	if !strings.Contains(s.Log(), "swept temp files") {
		t.Fatalf("the sweep was not logged:\n%s", s.Log())
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256")); len(entries) != 0 {
		t.Fatalf("committed blobs after a killed write: %d", len(entries))
	}
}

func TestBadConfigOneLine(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"bad port", []string{"PORT=http"}, "entrepot: PORT: "},
		{"port in use", nil, "entrepot: PORT: cannot listen"},
		{"malformed UPSTREAM_OCI", []string{"UPSTREAM_OCI=hub:http://x"}, "entrepot: UPSTREAM_OCI: "},
		{"unreachable MongoDB", []string{"MONGODB_URL=mongodb://user:hunter2secret@127.0.0.1:1/", "JWT_SECRET=" + strongSecret, "AUTH_ENCRYPTION_KEY=" + strongSecret}, "entrepot: MONGODB_URL: "},
		{"weak secret", []string{"JWT_SECRET=change-me-in-production"}, "entrepot: JWT_SECRET: "},
	}
	busy := testkit.Start(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := append([]string{"DATA_DIR=" + t.TempDir(), "HOST=127.0.0.1", "PORT=0"}, c.env...)
			if c.name == "port in use" {
				env = append(env, "PORT="+busy.URL[strings.LastIndex(busy.URL, ":")+1:])
			}
			_, stderr, code := entrepot(t, nil, env, "serve")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if code == 0 || !strings.HasPrefix(last, c.want) {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Fatalf("stack trace on bad configuration:\n%s", stderr)
			}
			if strings.Contains(stderr, "hunter2secret") {
				t.Fatalf("a password leaked into the error:\n%s", stderr)
			}
			t.Log(last)
		})
	}
}

// mongoS3Env is the environment of a server on the test command's
// FerretDB and MinIO, in a database and key prefix of its own (named
// after what, and random).
func mongoS3Env(what string) []string {
	id := randomHex(6)
	return []string{
		"MONGODB_URL=" + os.Getenv("ENTREPOT_TEST_MONGODB_URL"), "MONGODB_DB=" + what + "_" + id,
		"S3_ENDPOINT=" + os.Getenv("ENTREPOT_TEST_S3_ENDPOINT"), "S3_BUCKET=" + os.Getenv("ENTREPOT_TEST_S3_BUCKET"),
		"S3_ACCESS_KEY=" + os.Getenv("ENTREPOT_TEST_S3_ACCESS_KEY"), "S3_SECRET_KEY=" + os.Getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
		"S3_REGION=" + os.Getenv("ENTREPOT_TEST_S3_REGION"), "S3_FORCE_PATH_STYLE=true", "STORAGE_PATH=" + what + "-" + id,
		"JWT_SECRET=" + strongSecret, "AUTH_ENCRYPTION_KEY=" + strongSecret,
	}
}

func TestServeMongoS3(t *testing.T) {
	mongoURL, s3URL := os.Getenv("ENTREPOT_TEST_MONGODB_URL"), os.Getenv("ENTREPOT_TEST_S3_ENDPOINT")
	if mongoURL == "" || s3URL == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are set by `make test`")
	}
	s := testkit.Start(t, mongoS3Env("e2e")...)
	code, h := getHealth(t, s, "/healthz")
	if code != 200 || h.Components["metadata"].Backend != "mongodb" || h.Components["blobs"].Backend != "s3" {
		t.Fatalf("%d %+v", code, h)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "secrets.json")); !os.IsNotExist(err) {
		t.Fatal("secrets were generated in MongoDB mode")
	}
}
