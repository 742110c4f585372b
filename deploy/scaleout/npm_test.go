package scaleout_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"entrepot/deploy/testkit"
)

// TestNPMThroughBalancer publishes with the real npm through the balancer
// and installs into a fresh project through it: the packument, tarball and
// publish each land on whichever edge nginx picks.
func TestNPMThroughBalancer(t *testing.T) {
	f := newFixture(t)
	npm := newNPM(t, f.npmURL, f.token)
	big := make([]byte, 2<<20)
	rand.Read(big)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		out := npm.must(t, project(t, "@acme/lib", v, map[string][]byte{"data.bin": big}), "publish")
		if !strings.Contains(out, "+ @acme/lib@"+v) {
			t.Fatalf("npm publish %s:\n%s", v, out)
		}
	}
	for round := range 3 { // fresh caches each time: every install asks every edge something
		dir := project(t, fmt.Sprintf("consumer%d", round), "1.0.0", nil)
		npm.must(t, dir, "install", "@acme/lib@1.0.0", "--cache", t.TempDir())
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@acme", "lib", "package.json"))
		if err != nil || !strings.Contains(string(b), `"1.0.0"`) {
			t.Fatalf("round %d: installed package.json: %v %s", round, err, b)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "node_modules", "@acme", "lib", "data.bin")); string(got) != string(big) {
			t.Fatalf("round %d: data.bin differs after install (%d bytes)", round, len(got))
		}
	}
	served(t, f)
}

// TestConcurrentPublishes sends 8 publishes of one package at once, each
// with its own version and dist-tag, to the three edges in turn, in
// several rounds: no version and no dist-tag may be lost (a per-process
// lock around read-modify-write loses tags across edges).
func TestConcurrentPublishes(t *testing.T) {
	f := newFixture(t)
	const name, per, rounds = "@acme/race", 8, 4
	var lost atomic.Int64
	for r := range rounds {
		var wg sync.WaitGroup
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := f.c.Edges[(r*per+i)%f.edges]
				v := fmt.Sprintf("%d.0.%d", r+1, i)
				if st, b := publish(t, e.URL, f.token, name, v, fmt.Sprintf("t%d-%d", r, i), 4<<10); st != 200 && st != 201 {
					t.Errorf("round %d: publish %s on edge %d: %d %s", r, v, (r*per+i)%f.edges, st, b)
				}
			}()
		}
		wg.Wait()
		// Every edge must show everything published so far, after the
		// change feed's bound at most.
		onEdges(f, -1, func(ei int, e *testkit.Server) {
			var p packument
			_, ok := until(func() bool {
				p, _ = getPackument(t, e.URL, f.token, name)
				return complete(p, r+1, per) == ""
			})
			if !ok {
				t.Errorf("round %d, edge %d: %s", r, ei, complete(p, r+1, per))
				lost.Add(1)
			}
		})
	}
	t.Logf("%d rounds of %d concurrent publishes across %d edges: %d incomplete edge views", rounds, per, f.edges, lost.Load())
}

// complete says what is missing from p after rounds rounds of per
// publishes, or "" when nothing is.
func complete(p packument, rounds, per int) string {
	var missing []string
	for r := range rounds {
		for i := range per {
			v := fmt.Sprintf("%d.0.%d", r+1, i)
			if _, ok := p.Versions[v]; !ok {
				missing = append(missing, "version "+v)
			}
			if tag := fmt.Sprintf("t%d-%d", r, i); p.DistTags[tag] != v {
				missing = append(missing, fmt.Sprintf("dist-tag %s=%q", tag, p.DistTags[tag]))
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d versions and tags missing: %s", len(missing), 2*rounds*per, strings.Join(missing, ", "))
}
