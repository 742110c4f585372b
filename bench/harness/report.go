package harness

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Row is one measured run.
type Row struct {
	Scenario, Target string
	Result           Result
	CPU              time.Duration // server CPU time during the run
	PeakRSS          int64         // server peak resident memory after the run
	BytesPerReq      int64
	Note             string
}

// Report collects a run's rows.
type Report struct {
	mu      sync.Mutex
	opts    Options
	started time.Time
	rows    []Row
	npm     *npmFixture
}

func newReport(o Options) *Report { return &Report{opts: o, started: time.Now()} }

func (r *Report) add(row Row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

// note attaches a remark to the entrepot row of scenario.
func (r *Report) note(scenario, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.rows {
		if r.rows[i].Scenario == scenario && r.rows[i].Target == "entrepot" {
			r.rows[i].Note = text
		}
	}
}

// Rows returns what was measured.
func (r *Report) Rows() []Row {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Row(nil), r.rows...)
}

// bulk scenarios are compared by throughput, the others by requests/s.
func bulk(row Row) bool { return row.BytesPerReq >= 1<<20 }

func (r *Report) reference(scenario, target string) (Row, bool) {
	for _, row := range r.rows {
		if row.Scenario == scenario && row.Target == target {
			return row, true
		}
	}
	return Row{}, false
}

// ratios compares an entrepot row with the references of its scenario.
func (r *Report) ratios(row Row) string {
	if row.Target != "entrepot" {
		return ""
	}
	var out []string
	for _, ref := range []string{"nginx", "fasthttp", "verdaccio", "distribution"} {
		if rr, ok := r.reference(row.Scenario, ref); ok {
			a, b := row.Result.RPS, rr.Result.RPS
			if bulk(row) {
				a, b = row.Result.Throughput, rr.Result.Throughput
			}
			if b > 0 {
				out = append(out, fmt.Sprintf("%.2f× %s", a/b, ref))
			}
		}
	}
	if strings.Contains(row.Scenario, ", token)") {
		anon := strings.Replace(row.Scenario, ", token)", ")", 1)
		if rr, ok := r.reference(anon, "entrepot"); ok && rr.Result.RPS > 0 {
			out = append(out, fmt.Sprintf("%.2f× anonymous", row.Result.RPS/rr.Result.RPS))
		}
	}
	return strings.Join(out, ", ")
}

func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores, %s, %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Microsecond).String()
}

func human(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

// Markdown renders the results table.
func (r *Report) Markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s strings.Builder
	fmt.Fprintf(&s, "# Bench results\n\n- command: `%s` (or `go run ./bench ...` with the same flags)\n- date: %s\n- machine: %s\n- load: %d connections, %s per run after a warm-up run, from a separate process\n\n",
		r.opts.Command, r.started.UTC().Format("2006-01-02 15:04 MST"), machine(), r.opts.Concurrency, r.opts.Duration)
	s.WriteString("| scenario | server | req/s | throughput | p50 | p99 | max | errors | server CPU s | peak RSS | ratio |\n")
	s.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	for _, row := range r.rows {
		res := row.Result
		rss := "-"
		if row.PeakRSS > 0 {
			rss = human(float64(row.PeakRSS))
		}
		cpu := "-"
		if row.CPU > 0 {
			cpu = fmt.Sprintf("%.1f", row.CPU.Seconds())
		}
		tp := "-"
		if res.Throughput > 0 {
			tp = human(res.Throughput) + "/s"
		}
		fmt.Fprintf(&s, "| %s | %s | %.0f | %s | %s | %s | %s | %d | %s | %s | %s |\n",
			row.Scenario, row.Target, res.RPS, tp, fmtDur(res.P50), fmtDur(res.P99), fmtDur(res.Max), res.Errors, cpu, rss, r.ratios(row))
	}
	for _, row := range r.rows {
		if row.Note != "" {
			fmt.Fprintf(&s, "\n%s: %s\n", row.Scenario, row.Note)
		}
	}
	return s.String()
}

// HTML renders a self-contained page: the table and one bar chart per
// scenario, in inline SVG.
func (r *Report) HTML() string {
	md := r.Markdown()
	r.mu.Lock()
	defer r.mu.Unlock()
	var s strings.Builder
	s.WriteString(`<!doctype html><html lang="en"><meta charset="utf-8"><title>Entrepot bench</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,td:nth-child(2){text-align:left}svg text{font:12px system-ui,sans-serif}</style>
<h1>Entrepot bench</h1><pre>`)
	s.WriteString(html.EscapeString(md))
	s.WriteString("</pre>\n")
	var order []string
	by := map[string][]Row{}
	for _, row := range r.rows {
		if _, ok := by[row.Scenario]; !ok {
			order = append(order, row.Scenario)
		}
		by[row.Scenario] = append(by[row.Scenario], row)
	}
	for _, sc := range order {
		rows := by[sc]
		metric, unit := func(x Row) float64 { return x.Result.RPS }, "req/s"
		if bulk(rows[0]) {
			metric, unit = func(x Row) float64 { return x.Result.Throughput / (1 << 20) }, "MiB/s"
		}
		top := 0.0
		for _, x := range rows {
			top = max(top, metric(x))
		}
		if top == 0 {
			continue
		}
		fmt.Fprintf(&s, "<h2>%s</h2><svg width=\"640\" height=\"%d\" role=\"img\">", html.EscapeString(sc), 28*len(rows)+10)
		for i, x := range rows {
			w := 420 * metric(x) / top
			y := 5 + 28*i
			fmt.Fprintf(&s, "<text x=\"0\" y=\"%d\">%s</text><rect x=\"110\" y=\"%d\" width=\"%.0f\" height=\"20\" fill=\"%s\"/><text x=\"%.0f\" y=\"%d\">%.0f %s</text>",
				y+15, html.EscapeString(x.Target), y, w, color(x.Target), 115+w, y+15, metric(x), unit)
		}
		s.WriteString("</svg>\n")
	}
	s.WriteString("</html>\n")
	return s.String()
}

func color(target string) string {
	switch target {
	case "entrepot":
		return "#2b6cb0"
	case "nginx":
		return "#718096"
	}
	return "#a0aec0"
}

// Write saves RESULTS.md and report.html into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(r.Markdown()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.html"), []byte(r.HTML()), 0o644)
}
