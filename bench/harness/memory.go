package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// memoryDocs are the full sizes, in KiB, of the memory scenario's 15
// generated packuments: those of the large packages (typescript,
// aws-sdk, @types/node, next, react, ...), about 110 MiB full and 17 MiB
// abbreviated, the largest abbreviating to about 4 MiB.
var memoryDocs = []int{28 << 10, 18 << 10, 14 << 10, 10 << 10, 8 << 10, 7 << 10, 6 << 10, 5 << 10, 4 << 10, 3 << 10, 2560, 2 << 10, 1536, 1 << 10, 512}

// memoryBudgets are the CACHE_MEMORY settings the scenario runs at.
var memoryBudgets = []int64{64 << 20, 256 << 20}

// memorySlack is what the goal allows above CACHE_MEMORY: the process's
// own heap, buffers and runtime.
const memorySlack = 64 << 20

// memory starts a fresh Entrepot per CACHE_MEMORY budget, mirroring the
// harness's upstream, fetches each generated packument full and
// abbreviated, and reports the server's RSS against the budget.
func (b *bench) memory(ctx context.Context) error {
	var docs []string
	for i, kib := range memoryDocs {
		g := memoryDoc(i, kib)
		g.put(b.up)
		docs = append(docs, g.name)
	}
	for _, budget := range memoryBudgets {
		if err := b.memoryAt(ctx, budget, docs); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) memoryAt(ctx context.Context, budget int64, docs []string) error {
	env := append([]string{
		"DATA_DIR=" + filepath.Join(b.work, fmt.Sprintf("memory-%d", budget>>20)),
		"ADMIN_PASSWORD=" + adminPassword,
		"UPSTREAM_NPM=" + b.up.URL + "/",
		cacheMemoryEnv(budget),
	}, b.o.Env...)
	srv, base, err := startEntrepot(b.o.Binary, env)
	if err != nil {
		return err
	}
	defer srv.stop()
	start := srv.usage()
	var lat []time.Duration
	var read, largest int64
	t0 := time.Now()
	for _, name := range docs {
		for _, hdr := range []map[string]string{nil, {"Accept": abbreviated}} {
			t := time.Now()
			body, err := get(base+"/npm/"+name, hdr)
			if err != nil {
				return err
			}
			lat = append(lat, time.Since(t))
			read += int64(len(body))
			if hdr != nil {
				largest = max(largest, int64(len(body)))
			}
		}
	}
	res := summarize(lat, int64(len(lat)), 0, read, time.Since(t0))
	warm := srv.usage()
	// Read once more: served from what the budget kept (or from prepared
	// files), the hot path the budget is for.
	for _, name := range docs {
		if _, err := get(base+"/npm/"+name, map[string]string{"Accept": abbreviated}); err != nil {
			return err
		}
	}
	after := srv.usage()
	goal := budget + memorySlack
	verdict := "met"
	if after.RSS > goal {
		verdict = "not met"
	}
	scenario := fmt.Sprintf("memory (CACHE_MEMORY=%s)", human(float64(budget)))
	b.rep.add(Row{Scenario: scenario, Target: "entrepot", Result: res, CPU: after.CPU - start.CPU, PeakRSS: after.PeakRSS,
		Note: fmt.Sprintf("server RSS %s at start, %s after fetching %d packuments full and abbreviated once (%s of documents; largest abbreviated %s), %s after reading the abbreviated ones again, peak %s; goal RSS ≤ CACHE_MEMORY + %s = %s: %s",
			human(float64(start.RSS)), human(float64(warm.RSS)), len(docs), human(float64(read)), human(float64(largest)), human(float64(after.RSS)), human(float64(after.PeakRSS)), human(memorySlack), human(float64(goal)), verdict)})
	fmt.Fprintf(b.log, "   CACHE_MEMORY %s: RSS %s → %s → %s (peak %s), %s of documents\n", human(float64(budget)), human(float64(start.RSS)), human(float64(warm.RSS)), human(float64(after.RSS)), human(float64(after.PeakRSS)), human(float64(read)))
	return nil
}

// memoryDoc is the i-th document of the memory scenario, of about kib KiB
// full: one version is about 2.3 KB full and 330 B abbreviated.
func memoryDoc(i, kib int) genDoc {
	return genDoc{name: fmt.Sprintf("memory-%d", i), versions: max(1, kib<<10/2260), deps: 3, pad: 1900}
}

// cacheMemoryEnv is the CACHE_MEMORY setting for budget bytes, with its
// unit: a bare number is read as MiB, so 67108864 would be 64 TiB and the
// scenario would measure a server without a budget.
func cacheMemoryEnv(budget int64) string {
	if budget%(1<<20) == 0 {
		return fmt.Sprintf("CACHE_MEMORY=%dMiB", budget>>20)
	}
	return fmt.Sprintf("CACHE_MEMORY=%dKiB", budget>>10)
}
