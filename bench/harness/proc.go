package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a server the harness started: Entrepot or a reference.
type process struct {
	name string
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
	if l.b.Len() < 1<<20 {
		l.b.Write(p)
	}
	return len(p), nil
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startEntrepot runs `<bin> serve` on a free loopback port with env on top
// of the harness's own and returns it with its base URL once it listens.
func startEntrepot(ctx context.Context, bin string, env []string) (*process, string, error) {
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT=0", "LOG_FORMAT=json", "LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	p := &process{name: "entrepot", cmd: cmd, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.log.Write([]byte(line + "\n"))
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
		return p, "http://" + a, nil
	case <-p.done:
		return nil, "", fmt.Errorf("entrepot exited before listening:\n%s", p.logText())
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, "", fmt.Errorf("entrepot did not listen within 60s:\n%s", p.logText())
	}
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
	if p == nil || p.cmd.Process == nil {
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
