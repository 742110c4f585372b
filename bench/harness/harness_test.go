package harness

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 5s test @ http://127.0.0.1:40001/npm/@bench%2fpkg
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.25ms    1.10ms  24.93ms   89.12%
    Req/Sec    25.61k     2.01k   30.12k    70.00%
  Latency Distribution
     50%    1.05ms
     75%    1.40ms
     90%    2.10ms
     99%    7.49ms
  254580 requests in 5.00s, 161.97MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  50916.00
Transfer/sec:     32.39MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk([]byte(wrkOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Requests: 254580, Errors: 7, Elapsed: 5 * time.Second, RPS: 50916, P50: 1050 * time.Microsecond, P99: 7490 * time.Microsecond, Max: 24930 * time.Microsecond}
	if r.Requests != want.Requests || r.Errors != want.Errors || r.Elapsed != want.Elapsed || r.RPS != want.RPS ||
		r.P50 != want.P50 || r.P99 != want.P99 || r.Max != want.Max || math.Abs(r.Throughput-32.39*(1<<20)) > 1 {
		t.Fatalf("got %+v", r)
	}
	if _, err := parseWrk([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestBuiltinGenerator(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(400)
		}
		w.Write([]byte(strings.Repeat("x", 100)))
	}))
	defer srv.Close()
	r := generate(Load{URLs: []string{srv.URL + "/a", srv.URL + "/b"}, Header: map[string]string{"X-Test": "yes"}, Concurrency: 4, Duration: 200 * time.Millisecond})
	if r.Requests == 0 || r.Errors != 0 || r.Throughput <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
		t.Fatalf("got %+v", r)
	}
}

func TestReportRatios(t *testing.T) {
	rep := newReport(Options{Concurrency: 1, Duration: time.Second})
	rep.add(Row{Scenario: "packument (abbreviated)", Target: "entrepot", Result: Result{RPS: 700}})
	rep.add(Row{Scenario: "packument (abbreviated, token)", Target: "entrepot", Result: Result{RPS: 630}})
	rep.add(Row{Scenario: "packument (abbreviated)", Target: "nginx", Result: Result{RPS: 1000}})
	rep.add(Row{Scenario: "OCI blob 100.0 MiB", Target: "entrepot", BytesPerReq: 100 << 20, Result: Result{RPS: 1, Throughput: 800}})
	rep.add(Row{Scenario: "OCI blob 100.0 MiB", Target: "nginx", BytesPerReq: 100 << 20, Result: Result{RPS: 2, Throughput: 1000}})
	md := rep.Markdown()
	for _, want := range []string{"0.70× nginx", "0.90× anonymous", "0.80× nginx"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if h := rep.HTML(); !strings.Contains(h, "<svg") || strings.Contains(h, "<script") {
		t.Error("HTML report should have charts and no script")
	}
}

func TestHelpSucceeds(t *testing.T) {
	var out, errw strings.Builder
	for _, arg := range []string{"-h", "--help"} {
		if err := Main(t.Context(), []string{arg}, &out, &errw, "", ""); err != nil {
			t.Fatalf("bench %s: %v", arg, err)
		}
	}
	if !strings.Contains(errw.String(), "-scenarios") {
		t.Fatalf("usage not printed: %q", errw.String())
	}
	if err := Main(t.Context(), []string{"-nosuchflag"}, &out, &errw, "", ""); err == nil {
		t.Fatal("an unknown flag succeeded")
	}
}

func TestRSSNoteOneKindOfSample(t *testing.T) {
	base := usage{RSS: 30 << 20, PeakRSS: 67 << 20}
	pushed := usage{RSS: 40 << 20, PeakRSS: 67 << 20}
	pulled := usage{RSS: 42 << 20, PeakRSS: 67 << 20}
	got := rssNote(base, pushed, pulled)
	want := "server RSS 30.0 MiB before the push, 40.0 MiB after it, 42.0 MiB after the pulls: growth 12.0 MiB (peak RSS of the process so far 67.0 MiB)"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := rssNote(pulled, pulled, base); !strings.Contains(got, "growth -12.0 MiB") {
		t.Fatalf("shrinking: %s", got)
	}
}

func TestStampedeRowHasFigures(t *testing.T) {
	lat := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 2 * time.Second}
	r := summarize(lat, 4, 0, 4<<10, 2*time.Second)
	if r.RPS != 2 || r.Throughput != 2<<10 || r.P50 != 2*time.Second || r.P99 != 3*time.Second || r.Max != 3*time.Second {
		t.Fatalf("got %+v", r)
	}
	rep := newReport(Options{})
	rep.add(Row{Scenario: "cold stampede (4)", Target: "entrepot", Result: r})
	if md := rep.Markdown(); !strings.Contains(md, "| cold stampede (4) | entrepot | 2 | 2.0 KiB/s | 2s | 3s | 3s | 0 |") {
		t.Fatalf("stampede row lacks its figures:\n%s", md)
	}
}

// TestCacheMemoryEnvHasUnit: a bare CACHE_MEMORY number is MiB, so the
// memory scenario must name its unit or it runs without a budget.
func TestCacheMemoryEnvHasUnit(t *testing.T) {
	for _, c := range []struct {
		budget int64
		want   string
	}{
		{64 << 20, "CACHE_MEMORY=64MiB"},
		{256 << 20, "CACHE_MEMORY=256MiB"},
		{1536 << 10, "CACHE_MEMORY=1536KiB"},
	} {
		if got := cacheMemoryEnv(c.budget); got != c.want {
			t.Errorf("cacheMemoryEnv(%d) = %q, want %q", c.budget, got, c.want)
		}
	}
}
