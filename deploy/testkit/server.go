// Package testkit is what the protocol packages' tests share, so that
// each package's tests keep only what is particular to its protocol:
//
//   - server.go, api.go: the real entrepot binary on a free loopback port
//     with a temporary data directory (Start), and its management API
//     (organizations, users, members, tokens: OrgMember, Token, ...);
//   - cluster.go: three edges on the test MongoDB and S3 behind an nginx
//     round-robin balancer (StartCluster; the processes: package cluster);
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
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit/cluster"
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

// Server is a running entrepot process (a cluster.Edge) bound to a test:
// its failures fail the test.
type Server struct {
	*cluster.Edge

	t testing.TB
}

// Start runs `entrepot serve` on a free loopback port with a fresh data
// directory (or env's DATA_DIR) and waits until it listens. env holds extra
// KEY=VALUE settings. The server is stopped when the test ends.
func Start(t testing.TB, env ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "DATA_DIR="); ok {
			dir = v
		}
	}
	s := &Server{t: t, Edge: &cluster.Edge{
		Binary:  Binary(t),
		DataDir: dir,
		Env:     append([]string{"ADMIN_PASSWORD=" + AdminPassword, "DATA_DIR=" + dir}, env...),
	}}
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
	if err := s.Edge.Start(); err != nil {
		s.t.Fatal(err)
	}
}

// Log returns what the server wrote to stderr so far.
//
// The server writes its log in batches (at most 100 ms late), so Log
// first waits past one batch: what the server did before the call is in
// the answer, for checks that a line is there and checks that it is not.
func (s *Server) Log() string {
	if s.Running() {
		time.Sleep(logSettle)
	}
	return s.Edge.Log()
}

// logSettle is longer than the server's log batching interval.
const logSettle = 250 * time.Millisecond

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
