package cleanup_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit/stores"
	"entrepot/hosted"
	"entrepot/hosted/cleanup"
	"entrepot/hosted/fault"
	"entrepot/hosted/lease"
)

// prePruner is a protocol whose disposable versions hold a '-', newest
// published first: the shape of npm's, without npm.
type prePruner struct{ c *hosted.Catalog }

func (p prePruner) Prune(ctx context.Context, pk hosted.Package, keep int, dryRun bool, remove func(cleanup.Removal)) error {
	vs, err := p.c.Versions(ctx, pk.Protocol, pk.Name, false)
	if err != nil {
		return err
	}
	var pre []hosted.Version
	for _, v := range vs {
		if strings.Contains(v.Version, "-") {
			pre = append(pre, v)
		}
	}
	sort.Slice(pre, func(i, j int) bool { return pre[i].PublishedAt.After(pre[j].PublishedAt) })
	for _, v := range pre[min(keep, len(pre)):] {
		if !dryRun {
			if _, err := p.c.DeleteVersion(ctx, pk.Protocol, pk.Name, v.Version); err != nil {
				return err
			}
		}
		remove(cleanup.Removal{Protocol: pk.Protocol, Package: pk.Name, Version: v.Version, Bytes: 10})
	}
	return nil
}

// fixture is a catalog with package "x:p" of repository r1 (1.0.0 and
// five pre-releases) and "x:q" of repository r2 (three pre-releases).
func fixture(t *testing.T, meta hosted.Store) *hosted.Catalog {
	t.Helper()
	ctx := context.Background()
	c := hosted.NewCatalog(meta)
	t0 := time.Now().Add(-time.Hour)
	add := func(pkg, repo string, versions ...string) {
		if _, err := c.CreatePackage(ctx, hosted.Package{Protocol: "x", Name: pkg, OrgID: "o1", RepoID: repo}); err != nil {
			t.Fatal(err)
		}
		for i, v := range versions {
			_, err := c.AddVersion(ctx, hosted.Version{Protocol: "x", Package: pkg, Version: v, OrgID: "o1",
				PublishedAt: t0.Add(time.Duration(i) * time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	add("p", "r1", "1.0.0", "1.1.0-1", "1.1.0-2", "1.1.0-3", "1.1.0-4", "1.1.0-5")
	add("q", "r2", "2.0.0-1", "2.0.0-2", "2.0.0-3")
	return c
}

func live(t *testing.T, c *hosted.Catalog, pkg string) []string {
	t.Helper()
	vs, err := c.Versions(context.Background(), "x", pkg, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Version)
	}
	sort.Strings(out)
	return out
}

type audited struct {
	mu  sync.Mutex
	got []string
}

func (a *audited) record(p cleanup.Policy, rm cleanup.Removal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, p.RepoID+" "+rm.Package+"@"+rm.Version)
}

func TestRunner(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		newRunner := func(t *testing.T) (*cleanup.Runner, *hosted.Catalog, *audited, hosted.Store) {
			meta := stores.Peers(t, backend, 1)[0]
			c := fixture(t, meta)
			a := &audited{}
			r := cleanup.New(c, cleanup.Options{Pruners: map[string]cleanup.Pruner{"x": prePruner{c}}, Audit: a.record})
			return r, c, a, meta
		}
		t.Run("dry run deletes nothing", func(t *testing.T) {
			r, c, a, _ := newRunner(t)
			if _, err := r.SetPolicy(ctx, cleanup.Policy{RepoID: "r1", OrgID: "o1", Protocol: "x", Keep: 2}); err != nil {
				t.Fatal(err)
			}
			rep, err := r.Run(ctx, "r1", true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Count != 3 || rep.Bytes != 30 || !rep.DryRun || rep.Packages != 1 {
				t.Fatalf("report %+v, want 3 versions of 1 package, dry", rep)
			}
			if got := live(t, c, "p"); len(got) != 6 {
				t.Fatalf("live after a dry run: %v", got)
			}
			if len(a.got) != 0 {
				t.Fatalf("a dry run audited %v", a.got)
			}
			if p, _ := r.Policy(ctx, "r1"); p.LastRun != nil {
				t.Fatalf("a dry run was kept as the last run: %+v", p.LastRun)
			}
		})
		t.Run("keeps the newest, deletes and audits the rest, in its repository only", func(t *testing.T) {
			r, c, a, _ := newRunner(t)
			if _, err := r.SetPolicy(ctx, cleanup.Policy{RepoID: "r1", OrgID: "o1", Protocol: "x", Keep: 2}); err != nil {
				t.Fatal(err)
			}
			reps, err := r.RunAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(reps) != 1 || reps[0].Count != 3 {
				t.Fatalf("reports %+v", reps)
			}
			if got, want := fmt.Sprint(live(t, c, "p")), "[1.0.0 1.1.0-4 1.1.0-5]"; got != want {
				t.Fatalf("live %s, want %s", got, want)
			}
			if got := live(t, c, "q"); len(got) != 3 {
				t.Fatalf("another repository's package lost versions: %v", got)
			}
			sort.Strings(a.got)
			if got, want := fmt.Sprint(a.got), "[r1 p@1.1.0-1 r1 p@1.1.0-2 r1 p@1.1.0-3]"; got != want {
				t.Fatalf("audited %s, want %s", got, want)
			}
			p, err := r.Policy(ctx, "r1")
			if err != nil || p.LastRun == nil || p.LastRun.Count != 3 {
				t.Fatalf("policy %+v, %v: want the last run kept", p, err)
			}
			// A second pass has nothing left to do.
			rep, err := r.Run(ctx, "r1", false)
			if err != nil || rep.Count != 0 {
				t.Fatalf("second run %+v, %v", rep, err)
			}
			// Changing the policy keeps the last run's report.
			if p, err := r.SetPolicy(ctx, cleanup.Policy{RepoID: "r1", OrgID: "o1", Protocol: "x", Keep: 0}); err != nil || p.LastRun == nil {
				t.Fatalf("SetPolicy %+v, %v", p, err)
			}
		})
		t.Run("invalid policies", func(t *testing.T) {
			r, _, _, _ := newRunner(t)
			for _, p := range []cleanup.Policy{
				{RepoID: "r1", Protocol: "pypi", Keep: 1},
				{RepoID: "r1", Protocol: "x", Keep: -1},
				{RepoID: "r1", Protocol: "x", Keep: cleanup.MaxKeep + 1},
			} {
				if _, err := r.SetPolicy(ctx, p); !fault.Is(err, fault.Invalid) {
					t.Errorf("SetPolicy(%+v) = %v, want Invalid", p, err)
				}
			}
			if _, err := r.Run(ctx, "r9", false); !fault.Is(err, fault.NotFound) {
				t.Errorf("Run without a policy = %v, want NotFound", err)
			}
			if err := r.DeletePolicy(ctx, "r9"); !fault.Is(err, fault.NotFound) {
				t.Errorf("DeletePolicy without a policy = %v, want NotFound", err)
			}
		})
		t.Run("one runner at a time", func(t *testing.T) {
			r, c, _, meta := newRunner(t)
			if _, err := r.SetPolicy(ctx, cleanup.Policy{RepoID: "r1", OrgID: "o1", Protocol: "x", Keep: 0}); err != nil {
				t.Fatal(err)
			}
			// Another edge's runner holds the lease.
			l, err := lease.New(meta, "gc_leases", lease.Options{}).Acquire(ctx, "cleanup")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Run(ctx, "r1", false); !lease.Held(err) {
				t.Fatalf("Run beside a holder = %v, want the lease held", err)
			}
			if _, err := r.RunAll(ctx); !lease.Held(err) {
				t.Fatalf("RunAll beside a holder = %v, want the lease held", err)
			}
			if got := live(t, c, "p"); len(got) != 6 {
				t.Fatalf("versions deleted beside a holder: %v", got)
			}
			if err := l.Release(ctx); err != nil {
				t.Fatal(err)
			}
			if rep, err := r.Run(ctx, "r1", false); err != nil || rep.Count != 5 {
				t.Fatalf("Run after the release = %+v, %v", rep, err)
			}
		})
	})
}
