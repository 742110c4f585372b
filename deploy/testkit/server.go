// Package testkit is what the protocol packages' tests share, so that
// each package's tests keep only what is particular to its protocol:
//
//   - server.go, api.go: the real entrepot binary on a free loopback port
//     with a temporary data directory (Start), and its management API
//     (organizations, users, members, tokens: OrgMember, Token, ...);
//   - inprocess.go: an edge inside the test process over the embedded
//     stores, the protocol's handler mounted by the test (StartEdge);
//   - upstream.go: a programmable fake upstream that misbehaves on demand;
//   - static.go: a real static web server over a folder (StaticServer);
//   - run.go, tools.go: the real clients (RequireTool, Run, Env);
//   - request.go: one-shot HTTP requests and stampedes (Request, Stampede);
//   - golden.go: golden files and the -update flag (Golden);
//   - files.go, archive.go: small file and archive helpers.
package testkit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary returns the path of the entrepot binary under test: $ENTREPOT_BIN
// when the test command built it already, otherwise a build of
// ./cmd/entrepot made once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("ENTREPOT_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "entrepot-bin-")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "entrepot")
		cmd := exec.Command("go", "build", "-o", bin, "entrepot/cmd/entrepot")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		builtBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Server is a running entrepot process.
type Server struct {
	URL     string // http://127.0.0.1:PORT
	DataDir string
	Env     []string

	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan struct{}
}

// Start runs `entrepot serve` on a free loopback port with a fresh data
// directory (or env's DATA_DIR) and waits until it listens. env holds extra
// KEY=VALUE settings. The server is stopped when the test ends.
func Start(t testing.TB, env ...string) *Server {
	t.Helper()
	s := &Server{t: t, DataDir: t.TempDir()}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "DATA_DIR="); ok {
			s.DataDir = v
		}
	}
	s.Env = append([]string{"DATA_DIR=" + s.DataDir}, env...)
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Restart stops the server gracefully and starts it again on the same
// data directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command(Binary(s.t), "serve")
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT=0", "LOG_FORMAT=json", "LOG_LEVEL=info", "ADMIN_PASSWORD="+AdminPassword)
	cmd.Env = append(cmd.Env, s.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
		}
		cmd.Wait()
	}()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case <-s.done:
		s.t.Fatalf("entrepot exited before listening:\n%s", s.Log())
	case <-time.After(30 * time.Second):
		s.Kill()
		s.t.Fatalf("entrepot did not listen within 30s:\n%s", s.Log())
	}
}

// Host is the server's "127.0.0.1:<port>", as clients name a registry
// (a Docker reference, a credentials key, a Host header).
func (s *Server) Host() string { return strings.TrimPrefix(s.URL, "http://") }

// Log returns what the server wrote to stderr so far.
//
// The server writes its log in batches (at most 100 ms late), so Log
// first waits past one batch: what the server did before the call is in
// the answer, for checks that a line is there and checks that it is not.
func (s *Server) Log() string {
	if s.cmd != nil {
		time.Sleep(logSettle)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// logSettle is longer than the server's log batching interval.
const logSettle = 250 * time.Millisecond

// Stop sends SIGTERM and waits for the process to exit.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Kill sends SIGKILL, as a crash would, and waits for the process to die.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Get fetches path and returns the status and body.
func (s *Server) Get(path string) (int, []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
