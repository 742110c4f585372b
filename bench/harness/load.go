package harness

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Load describes one load run: keep-alive connections hammering urls
// (round robin) for a duration.
type Load struct {
	URLs        []string
	Header      map[string]string
	Concurrency int
	Duration    time.Duration
}

// Result is what one load run measured.
type Result struct {
	Requests   int64         `json:"requests"`
	Errors     int64         `json:"errors"` // non-2xx answers and socket errors
	Elapsed    time.Duration `json:"elapsed"`
	RPS        float64       `json:"rps"`
	Throughput float64       `json:"throughput"` // body bytes per second
	P50        time.Duration `json:"p50"`
	P99        time.Duration `json:"p99"`
	Max        time.Duration `json:"max"`
	Tool       string        `json:"tool"`
}

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}

// runLoad drives l from a separate process: wrk when it is installed (on a
// two-core machine only wrk and bombardier saturate nginx), else this
// program's own `load` verb, which measures itself as much as the server.
func runLoad(ctx context.Context, self string, l Load) (Result, error) {
	if wrk, err := exec.LookPath("wrk"); err == nil {
		return runWrk(ctx, wrk, l)
	}
	args := []string{"bench", "load", "-c", strconv.Itoa(l.Concurrency), "-d", l.Duration.String()}
	for k, v := range l.Header {
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, l.URLs...)
	out, err := exec.CommandContext(ctx, self, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return Result{}, fmt.Errorf("load generator: %w", err)
	}
	var r Result
	return r, json.Unmarshal(out, &r)
}

const wrkScript = `
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format(nil, paths[i])
end
`

func runWrk(ctx context.Context, wrk string, l Load) (Result, error) {
	threads := min(2, l.Concurrency)
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(l.Concurrency),
		"-d", fmt.Sprintf("%ds", max(1, int(l.Duration.Seconds()))), "--latency", "--timeout", "30s"}
	for k, v := range l.Header {
		args = append(args, "-H", k+": "+v)
	}
	if len(l.URLs) > 1 {
		var quoted []string
		for _, u := range l.URLs {
			i := strings.Index(u[len("http://"):], "/") + len("http://")
			quoted = append(quoted, strconv.Quote(u[i:]))
		}
		f, err := os.CreateTemp("", "wrk-*.lua")
		if err != nil {
			return Result{}, err
		}
		defer os.Remove(f.Name())
		fmt.Fprintf(f, wrkScript, strings.Join(quoted, ", "))
		f.Close()
		args = append(args, "-s", f.Name())
	}
	args = append(args, l.URLs[0])
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	r, err := parseWrk(out)
	r.Tool = "wrk"
	return r, err
}

var (
	wrkLatency  = regexp.MustCompile(`(?m)^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+(\S+)`)
	wrkTotal    = regexp.MustCompile(`(?m)^\s+(\d+) requests in (\S+), (\S+) read`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+(\S+)`)
	wrkTransfer = regexp.MustCompile(`Transfer/sec:\s+(\S+)`)
)

// parseWrk reads wrk's --latency report.
func parseWrk(out []byte) (Result, error) {
	var r Result
	m := wrkTotal.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("unreadable wrk output: %s", out)
	}
	r.Requests, _ = strconv.ParseInt(string(m[1]), 10, 64)
	r.Elapsed = wrkDuration(string(m[2]))
	if m := wrkRPS.FindSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := wrkTransfer.FindSubmatch(out); m != nil {
		r.Throughput = wrkBytes(string(m[1]))
	}
	if m := wrkLatency.FindSubmatch(out); m != nil {
		r.Max = wrkDuration(string(m[3]))
	}
	for _, m := range wrkPct.FindAllSubmatch(out, -1) {
		if string(m[1]) == "50" {
			r.P50 = wrkDuration(string(m[2]))
		} else {
			r.P99 = wrkDuration(string(m[2]))
		}
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		r.Errors += n
	}
	if m := wrkSocket.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.ParseInt(string(g), 10, 64)
			r.Errors += n
		}
	}
	return r, nil
}

func wrkDuration(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"m", time.Minute}, {"s", time.Second}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return time.Duration(f * float64(u.unit))
		}
	}
	return 0
}

func wrkBytes(s string) float64 {
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f * u.mult
		}
	}
	return 0
}

// LoadMain is the `load` verb: the built-in load generator, run as its own
// process so that its CPU is not the server's. It prints a Result as JSON.
func LoadMain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	c := fs.Int("c", 32, "connections")
	d := fs.Duration("d", 10*time.Second, "duration")
	var headers headerFlag
	fs.Var(&headers, "H", "header `Name: value` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("load: no URL")
	}
	r := generate(Load{URLs: fs.Args(), Header: headers, Concurrency: *c, Duration: *d})
	return json.NewEncoder(stdout).Encode(r)
}

type headerFlag map[string]string

func (h *headerFlag) String() string { return "" }
func (h *headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q is not Name: value", v)
	}
	if *h == nil {
		*h = map[string]string{}
	}
	(*h)[strings.TrimSpace(k)] = strings.TrimSpace(val)
	return nil
}

// generate is the built-in load loop.
func generate(l Load) Result {
	var (
		requests, errs, bytesRead atomic.Int64
		mu                        sync.Mutex
		lat                       []time.Duration
		next                      atomic.Int64
	)
	deadline := time.Now().Add(l.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < l.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			buf := make([]byte, 64<<10)
			for time.Now().Before(deadline) {
				u := l.URLs[int(next.Add(1))%len(l.URLs)]
				req, _ := http.NewRequest("GET", u, nil)
				for k, v := range l.Header {
					req.Header.Set(k, v)
				}
				t0 := time.Now()
				resp, err := httpClient.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				n, _ := io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				requests.Add(1)
				bytesRead.Add(n)
				if resp.StatusCode >= 400 {
					errs.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return summarize(lat, requests.Load(), errs.Load(), bytesRead.Load(), time.Since(start))
}

// summarize turns per-request latencies into a Result: the built-in
// generator and the one-shot scenarios (the cold stampede) report the
// same figures the same way.
func summarize(lat []time.Duration, requests, errs, bytesRead int64, elapsed time.Duration) Result {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(math.Min(float64(len(lat)-1), p*float64(len(lat))))]
	}
	r := Result{Requests: requests, Errors: errs, Elapsed: elapsed, Tool: "built-in"}
	if elapsed > 0 {
		r.RPS = float64(r.Requests) / elapsed.Seconds()
		r.Throughput = float64(bytesRead) / elapsed.Seconds()
	}
	r.P50, r.P99 = pct(0.50), pct(0.99)
	if len(lat) > 0 {
		r.Max = lat[len(lat)-1]
	}
	return r
}
