package testkit

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Static is a real web server, python3's http.server, over a folder: the
// stand-in for a static public registry (a sparse index, a Maven tree, a
// PEP 503 index, ...) when a test wants a real server rather than Upstream's
// fake one. Its access log tells what was asked for. Its methods are safe
// for concurrent use.
type Static struct {
	// URL is the base URL, "http://127.0.0.1:<port>", without a slash.
	URL string

	cmd  *exec.Cmd
	done chan struct{}
	stop sync.Once

	mu  sync.Mutex
	log bytes.Buffer
}

// StaticServer serves dir on a free loopback port and returns once it
// listens; the test's end stops it. Files written into dir later are served
// too, so a tree may name the server's URL in its own files.
func StaticServer(t testing.TB, dir string) *Static {
	t.Helper()
	py := RequireTool(t, "python3")
	// Port 0: the server picks a free port and prints it, so that no other
	// process can take it between a probe and the start.
	cmd := exec.Command(py, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &Static{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = (*staticLog)(s)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	port := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`port (\d+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case port <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(s.done)
	}()
	select {
	case p := <-port:
		s.URL = "http://127.0.0.1:" + p
	case <-s.done:
		t.Fatalf("python3 http.server exited:\n%s", s.Log())
	case <-time.After(20 * time.Second):
		t.Fatalf("python3 http.server did not start:\n%s", s.Log())
	}
	return s
}

// Hits counts the times substr occurs in the access log: a path
// ("/index/en/t-/ent-a") or a request line ("GET /packages/x.whl") occurs
// once per request for it.
func (s *Static) Hits(substr string) int {
	return strings.Count(s.Log(), substr)
}

// Log returns the server's access and error log so far.
func (s *Static) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Stop ends the server, as an upstream outage would, and waits for it to
// exit. Calling it again does nothing.
func (s *Static) Stop() {
	s.stop.Do(func() {
		if s.cmd.Process != nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// staticLog is the io.Writer the server's stderr goes to.
type staticLog Static

func (l *staticLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.Write(p)
}
