package harness

import (
	"strings"
	"testing"
	"time"
)

// TestSoakVerdict checks the flatness checks on made-up samples: noise
// and a warm-up pass, steady growth and counts that do not come back
// once idle fail, and a short run is judged on the idle check alone.
func TestSoakVerdict(t *testing.T) {
	series := func(n int, f func(i int) (goroutines, fds int)) []soakSample {
		out := make([]soakSample, n)
		for i := range out {
			g, fd := f(i)
			out[i] = soakSample{At: time.Duration(i+1) * 10 * time.Second, Goroutines: g, FDs: fd}
		}
		return out
	}
	base := soakSample{Goroutines: 30, FDs: 14}
	for _, c := range []struct {
		name    string
		samples []soakSample
		idle    soakSample
		leak    string // "" when flat
	}{
		{"flat with noise and a warm-up", series(60, func(i int) (int, int) {
			if i < 5 {
				return 30 + 5*i, 14 + 3*i
			}
			return 55 + i%7, 30 + i%3
		}), soakSample{Goroutines: 45, FDs: 17}, ""},
		{"goroutines grow", series(60, func(i int) (int, int) { return 50 + 3*i, 30 }), soakSample{Goroutines: 40, FDs: 17}, "goroutines grew"},
		{"open files grow", series(60, func(i int) (int, int) { return 50, 30 + i }), soakSample{Goroutines: 40, FDs: 17}, "open files grew"},
		{"goroutines stay once idle", series(60, func(i int) (int, int) { return 50, 30 }), soakSample{Goroutines: 300, FDs: 17}, "goroutines did not come back"},
		{"a short run is judged idle only", series(5, func(i int) (int, int) { return 50 + 30*i, 30 + 10*i }), soakSample{Goroutines: 40, FDs: 17}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &soakReport{base: base, idle: c.idle, samples: c.samples}
			got := strings.Join(r.leaks(), "; ")
			if c.leak == "" && got != "" || c.leak != "" && !strings.Contains(got, c.leak) {
				t.Fatalf("leaks %q, want %q", got, c.leak)
			}
		})
	}
}
