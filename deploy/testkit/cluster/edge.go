// Package cluster runs Entrepot the way operators scale it out: N
// `entrepot serve` processes of one binary on one MongoDB database and one
// S3 bucket, with the same secrets, behind an nginx round-robin balancer
// without sticky sessions (Start). It knows nothing of the testing package,
// so that `entrepot bench scale` runs the very same cluster as the tests;
// deploy/testkit wraps it for tests (testkit.Start, testkit.StartCluster).
package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Edge is one `entrepot serve` process. Start, Stop, Kill and Restart are
// not safe for concurrent use with one another; Log, Running and Pid are.
type Edge struct {
	Binary  string
	URL     string   // "http://127.0.0.1:PORT", set by Start
	DataDir string   // informational: the DATA_DIR the caller put in Env
	Env     []string // KEY=VALUE settings on top of this process's environment and the defaults
	// LogLimit caps what Log keeps, in bytes (0: everything): under load
	// the access log grows by megabytes a second.
	LogLimit int

	mu   sync.Mutex
	log  strings.Builder
	cmd  *exec.Cmd
	done chan struct{}
}

// edgeDefaults come before Edge.Env, which may override them: loopback,
// a free port, and a JSON log whose "listening" line names the address.
var edgeDefaults = []string{"HOST=127.0.0.1", "PORT=0", "LOG_FORMAT=json", "LOG_LEVEL=info"}

// listenTimeout bounds how long Start waits for the "listening" line: a
// first start on MongoDB creates every collection's indexes.
const listenTimeout = 30 * time.Second

// Start runs the process and returns once it listens, with URL set. An
// error carries the process's log.
func (e *Edge) Start() error {
	cmd := exec.Command(e.Binary, "serve")
	cmd.Env = append(append(os.Environ(), edgeDefaults...), e.Env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			e.mu.Lock()
			if e.LogLimit == 0 || e.log.Len() < e.LogLimit {
				e.log.WriteString(line + "\n")
			}
			e.mu.Unlock()
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
		e.URL = "http://" + a
		return nil
	case <-done:
		e.clear()
		return fmt.Errorf("entrepot exited before listening:\n%s", e.Log())
	case <-time.After(listenTimeout):
		e.Kill()
		return fmt.Errorf("entrepot did not listen within %s:\n%s", listenTimeout, e.Log())
	}
}

// Restart stops the process gracefully and starts it again with the same
// settings (a fixed PORT in Env keeps its address).
func (e *Edge) Restart() error {
	e.Stop()
	return e.Start()
}

// Host is "127.0.0.1:PORT", as clients name a registry.
func (e *Edge) Host() string { return strings.TrimPrefix(e.URL, "http://") }

// Log returns what the process wrote to stderr so far, over all its starts.
func (e *Edge) Log() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()
}

// Running reports whether the process was started and not stopped since.
func (e *Edge) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cmd != nil
}

// Pid is the running process's id, or 0.
func (e *Edge) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil || e.cmd.Process == nil {
		return 0
	}
	return e.cmd.Process.Pid
}

// stopTimeout is longer than the server's default SHUTDOWN_TIMEOUT.
const stopTimeout = 40 * time.Second

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after
// 40 s). Stopping a stopped Edge does nothing.
func (e *Edge) Stop() { e.signal(syscall.SIGTERM, stopTimeout) }

// Kill sends SIGKILL, as a crash would, and waits for the process to die.
func (e *Edge) Kill() { e.signal(syscall.SIGKILL, stopTimeout) }

func (e *Edge) signal(sig syscall.Signal, wait time.Duration) {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		cmd.Process.Kill()
	}
	select {
	case <-done:
	case <-time.After(wait):
		cmd.Process.Kill()
		<-done
	}
	e.clear()
}

func (e *Edge) clear() {
	e.mu.Lock()
	e.cmd = nil
	e.mu.Unlock()
}
