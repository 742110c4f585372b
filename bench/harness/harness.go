// Package harness is Entrepot's load harness: it starts the registry,
// prepares and warms each scenario's content, drives load from a separate
// process (wrk when installed), measures the server's CPU and memory, runs
// the same scenario against reference servers when asked (nginx serving
// the very same bytes, Verdaccio, distribution), and writes a Markdown
// table and a self-contained HTML report. Ratios against the references
// are what to read: absolute numbers on a shared machine are noise.
//
// It runs as `entrepot bench` or `go run ./bench`.
package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options select what a run does.
type Options struct {
	Binary      string        // the entrepot binary to start
	Self        string        // this program, for the built-in load generator
	Scenarios   []string      // names; empty = all
	Duration    time.Duration // per load run
	Concurrency int
	References  bool   // also measure nginx, Verdaccio, distribution when installed
	Out         string // folder for RESULTS.md and report.html ("" = none)
	Smoke       bool   // tiny sizes and durations: proves the harness runs
	Stampede    int    // concurrent requests of the cold stampede
	Env         []string
	Command     string // how the run was started, for the report
}

// Main parses args (the flags after `bench`) and runs.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, binary, self string) error {
	// The harness runs itself as `<self> bench load` and `<self> bench
	// serve-bytes`, which is right for both `entrepot` and `go run ./bench`
	// (whose first argument is then "bench").
	if len(args) > 0 && args[0] == "bench" {
		args = args[1:]
	}
	if len(args) > 0 {
		switch args[0] {
		case "load":
			return LoadMain(args[1:], stdout)
		case "serve-bytes":
			return ServeBytes(args[1:])
		case "soak":
			return SoakMain(ctx, args[1:], stdout, stderr, binary)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := Options{Binary: binary, Self: self, Command: strings.TrimSpace("entrepot bench " + strings.Join(args, " "))}
	scen := fs.String("scenarios", "", "comma-separated scenarios (default all): "+strings.Join(scenarioNames(), ", "))
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "duration of each load run")
	fs.IntVar(&o.Concurrency, "c", 64, "keep-alive connections")
	fs.BoolVar(&o.References, "references", false, "also measure the reference servers that are installed (nginx, Verdaccio, distribution)")
	fs.StringVar(&o.Out, "out", "", "folder to write RESULTS.md and report.html into")
	fs.BoolVar(&o.Smoke, "smoke", false, "a short run with small sizes, to check the harness works")
	fs.IntVar(&o.Stampede, "stampede", 500, "concurrent requests in the cold stampede")
	fs.Func("e", "a `KEY=VALUE` setting for the Entrepot under test, e.g. -e MONGODB_URL=... (repeatable)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("-e %q is not KEY=VALUE", v)
		}
		o.Env = append(o.Env, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h printed the usage: asked for, so not a failure
		}
		return err
	}
	if *scen != "" {
		o.Scenarios = strings.Split(*scen, ",")
	}
	if o.Smoke {
		o.Duration, o.Concurrency, o.Stampede = time.Second, min(o.Concurrency, 8), min(o.Stampede, 50)
	}
	rep, err := Run(ctx, o, stderr)
	if rep != nil {
		fmt.Fprint(stdout, rep.Markdown())
		if o.Out != "" {
			if werr := rep.Write(o.Out); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return err
}

// Run performs the selected scenarios and returns the report.
func Run(ctx context.Context, o Options, log io.Writer) (*Report, error) {
	for _, s := range o.Scenarios {
		if !slices.Contains(scenarioNames(), s) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(scenarioNames(), ", "))
		}
	}
	work, err := os.MkdirTemp("", "entrepot-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	b := &bench{o: o, log: log, work: work, rep: newReport(o)}
	defer b.stopAll()
	if err := b.start(ctx); err != nil {
		return nil, err
	}
	var errs []error
	for _, sc := range scenarios {
		if len(o.Scenarios) > 0 && !slices.Contains(o.Scenarios, sc.name) {
			continue
		}
		if o.Smoke && sc.skipSmoke {
			continue
		}
		fmt.Fprintf(log, "== %s\n", sc.name)
		if err := sc.run(b, ctx); err != nil {
			fmt.Fprintf(log, "   %s failed: %v\n", sc.name, err)
			errs = append(errs, fmt.Errorf("%s: %w", sc.name, err))
		}
	}
	return b.rep, errors.Join(errs...)
}

// bench is one run's state.
type bench struct {
	o     Options
	log   io.Writer
	work  string
	rep   *Report
	srv   *process
	base  string
	admin string // admin access token
	token string // srg_ token of the admin, read-only scopes
	up    *slowUpstream
	procs []*process
}

func (b *bench) stopAll() {
	b.srv.stop()
	for _, p := range b.procs {
		p.stop()
	}
	if b.up != nil {
		b.up.Close()
	}
}

const adminPassword = "bench-admin-password-4b7e1d"

func (b *bench) start(ctx context.Context) error {
	b.up = newSlowUpstream()
	env := append([]string{
		"DATA_DIR=" + filepath.Join(b.work, "data"),
		"ADMIN_PASSWORD=" + adminPassword,
		"UPSTREAM_NPM=" + b.up.URL + "/",
	}, b.o.Env...)
	srv, base, err := startEntrepot(b.o.Binary, env)
	if err != nil {
		return err
	}
	b.srv, b.base = srv, base
	fmt.Fprintf(b.log, "entrepot at %s\n", base)
	var login struct{ AccessToken string }
	if err := b.api("POST", "/auth/login", "", map[string]string{"email": "admin", "password": adminPassword}, &login); err != nil {
		return err
	}
	b.admin = login.AccessToken
	if err := b.api("POST", "/organizations", b.admin, map[string]string{"name": "bench"}, nil); err != nil {
		return err
	}
	var tok struct{ Token string }
	if err := b.api("POST", "/tokens", b.admin, map[string]any{"name": "bench", "actions": []string{"read"}}, &tok); err != nil {
		return err
	}
	b.token = tok.Token
	return nil
}

// measure runs load l against the server at proc and records it.
func (b *bench) measure(ctx context.Context, scenario, target string, proc *process, l Load, bytesPerReq int64) error {
	if l.Concurrency == 0 {
		l.Concurrency = b.o.Concurrency
	}
	if l.Duration == 0 {
		l.Duration = b.o.Duration
	}
	// Warm the target first (caches, JIT-less but allocator and TCP
	// state), the same way for every server, and measure the second run.
	warm := l
	warm.Duration = min(2*time.Second, l.Duration/2)
	if _, err := runLoad(ctx, b.o.Self, warm); err != nil {
		return err
	}
	before := proc.usage()
	res, err := runLoad(ctx, b.o.Self, l)
	if err != nil {
		return err
	}
	after := proc.usage()
	row := Row{Scenario: scenario, Target: target, Result: res, CPU: after.CPU - before.CPU, PeakRSS: after.PeakRSS, BytesPerReq: bytesPerReq}
	b.rep.add(row)
	fmt.Fprintf(b.log, "   %-12s %10.0f req/s %9s/s p50 %-9s p99 %-9s errors %d (%s)\n", target, res.RPS, human(res.Throughput), res.P50, res.P99, res.Errors, res.Tool)
	return nil
}

// selfPath returns the running program, for the built-in load generator.
func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return os.Args[0]
	}
	return p
}

// DefaultSelf is the program that runs the `load` verb: this one.
func DefaultSelf() string { return selfPath() }

// BuildBinary builds ./cmd/entrepot into dir, for `go run ./bench`.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "entrepot")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "entrepot/cmd/entrepot").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
}
