package policy_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit/stores"
	"entrepot/edge/policy"
)

// TestPeers plays two edges on one database, on bbolt and on MongoDB
// (FerretDB): a rule one creates is in force on the other after a reload,
// and racing first fills of one version keep one first-seen time.
func TestPeers(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		st := stores.Peers(t, backend, 2)
		a := policy.New(st[0], policy.Options{})
		b := policy.New(st[1], policy.Options{})
		for _, e := range []*policy.Engine{a, b} {
			if err := e.Load(ctx); err != nil {
				t.Fatal(err)
			}
		}
		r, err := a.Create(ctx, policy.Rule{Scope: "platform", Protocol: "npm", Package: "*", MinAge: policy.Duration(7 * 24 * time.Hour)}, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Load(ctx); err != nil || len(b.Rules()) != 1 || b.Rules()[0].ID != r.ID {
			t.Fatalf("other edge after reload: %v %+v", err, b.Rules())
		}

		var wg sync.WaitGroup
		got := make([]map[string]time.Time, 2)
		errs := make([]error, 2)
		for i, e := range []*policy.Engine{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = e.FirstSeen.Record(ctx, "npm", "left-pad", []string{"1.0.0", "1.0.1", "1.0.2"}, nil)
			}()
		}
		wg.Wait()
		for i := range got {
			if errs[i] != nil || len(got[i]) != 3 {
				t.Fatalf("edge %d: %v %v", i, got[i], errs[i])
			}
		}
		fresh := policy.NewFirstSeen(st[1], nil)
		stored, err := fresh.Times(ctx, "npm", "left-pad")
		if err != nil {
			t.Fatal(err)
		}
		for v, ts := range stored {
			if !ts.Equal(got[0][v]) || !ts.Equal(got[1][v]) {
				t.Fatalf("%s: stored %v, edges saw %v and %v", v, ts, got[0][v], got[1][v])
			}
		}
	})
}
