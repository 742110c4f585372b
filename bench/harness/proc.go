package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"entrepot/deploy/testkit/cluster"
)

// process is a server the harness started: Entrepot (edge) or a
// reference (cmd).
type process struct {
	name string
	edge *cluster.Edge
	cmd  *exec.Cmd
	done chan struct{}
	log  lockedLog
}

// lockedLog collects a process's output for error messages.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() < logLimit {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logLimit is how much of a server's output the harness keeps for error
// messages.
const logLimit = 1 << 20

// startEntrepot runs `<bin> serve` on a free loopback port with env on top
// of the harness's own and returns it with its base URL once it listens.
func startEntrepot(bin string, env []string) (*process, string, error) {
	e := &cluster.Edge{Binary: bin, Env: env, LogLimit: logLimit}
	if err := e.Start(); err != nil {
		return nil, "", err
	}
	return &process{name: "entrepot", edge: e}, e.URL, nil
}

// startCommand runs a reference server and waits until url answers.
func startCommand(ctx context.Context, name, url string, argv []string, env []string) (*process, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = &p.log
	cmd.Stderr = &p.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited:\n%s", name, p.logText())
		default:
		}
		if resp, err := httpClient.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return p, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s did not answer %s within 60s:\n%s", name, url, p.logText())
}

func (p *process) logText() string { return p.log.String() }

func (p *process) stop() {
	if p != nil && p.edge != nil {
		p.edge.Stop()
		return
	}
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// usage is a process's CPU time and peak resident memory, from /proc.
type usage struct {
	CPU     time.Duration
	PeakRSS int64 // bytes (VmHWM)
	RSS     int64 // bytes (VmRSS)
}

func (p *process) usage() usage {
	switch {
	case p == nil:
		return usage{}
	case p.edge != nil:
		return procUsage(p.edge.Pid())
	case p.cmd.Process == nil:
		return usage{}
	}
	return procUsage(p.cmd.Process.Pid)
}

// procUsage reads utime+stime of pid and its peak and current RSS. On a
// system without /proc it returns zeros, which reports as "-".
func procUsage(pid int) usage {
	var u usage
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// fields after the command name, which is in parentheses
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i > 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 13 {
				ut, _ := strconv.ParseInt(f[11], 10, 64)
				st, _ := strconv.ParseInt(f[12], 10, 64)
				u.CPU = time.Duration(ut+st) * time.Second / 100 // USER_HZ
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmHWM":
				u.PeakRSS = n << 10
			case "VmRSS":
				u.RSS = n << 10
			}
		}
	}
	return u
}
