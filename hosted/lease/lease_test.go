package lease_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit/stores"
	"entrepot/hosted/fault"
	"entrepot/hosted/lease"
)

// clock is a settable Options.Now shared by a test's Tables.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func tables(t *testing.T, backend string, n int, opts lease.Options) []*lease.Table {
	out := make([]*lease.Table, n)
	for i, s := range stores.Peers(t, backend, n) {
		out[i] = lease.New(s, "leases", opts)
	}
	return out
}

func wantHeld(t *testing.T, err error) {
	t.Helper()
	if !lease.Held(err) || !fault.Is(err, fault.Conflict) {
		t.Fatalf("got %v (%v), want a held Conflict", err, fault.KindOf(err))
	}
}

func TestRacingAcquiresOneWins(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		const n = 8
		ts := tables(t, backend, n, lease.Options{})
		var wg sync.WaitGroup
		leases := make([]*lease.Lease, n)
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				leases[i], errs[i] = ts[i].Acquire(context.Background(), "k")
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range n {
			if errs[i] == nil {
				won++
				continue
			}
			wantHeld(t, errs[i])
		}
		if won != 1 {
			t.Fatalf("%d of %d racing acquirers won, want 1: %v", won, n, errs)
		}
	})
}

func TestReleaseFrees(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		ts := tables(t, backend, 2, lease.Options{})
		a, err := ts[0].Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if held, err := ts[1].Holding(ctx, "k"); err != nil || !held {
			t.Fatalf("Holding = %v, %v; want held", held, err)
		}
		_, err = ts[1].Acquire(ctx, "k")
		wantHeld(t, err)
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatalf("second release: %v", err)
		}
		if held, err := ts[1].Holding(ctx, "k"); err != nil || held {
			t.Fatalf("Holding after release = %v, %v; want free", held, err)
		}
		b, err := ts[1].Acquire(ctx, "k")
		if err != nil {
			t.Fatalf("acquire after release: %v", err)
		}
		if err := a.Renew(ctx); !fault.Is(err, fault.Conflict) {
			t.Fatalf("renewing a released lease: %v, want Conflict", err)
		}
		b.Release(ctx)
	})
}

// TestLapsedTakeover: a holder that stops renewing loses the lease one TTL
// later, to exactly one of the others; its late renewal and release then
// leave the new holder's lease alone.
func TestLapsedTakeover(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		// The two racing takers share one store handle: that exactly one
		// Replace at a revision wins across processes is the store's
		// contract (storetest's RacingReplaces), on FerretDB the store's
		// own cross-process work; here it is the lease's use of it.
		peers := stores.Peers(t, backend, 2)
		opts := lease.Options{TTL: 10 * time.Second, Now: clk.Now}
		ts := []*lease.Table{lease.New(peers[0], "leases", opts), lease.New(peers[1], "leases", opts), lease.New(peers[1], "leases", opts)}
		a, err := ts[0].Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(9 * time.Second)
		_, err = ts[1].Acquire(ctx, "k")
		wantHeld(t, err)
		clk.Advance(2 * time.Second)
		if held, _ := ts[1].Holding(ctx, "k"); held {
			t.Fatal("a lapsed lease reads as held")
		}
		var wg sync.WaitGroup
		got := make([]*lease.Lease, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { got[i], errs[i] = ts[i+1].Acquire(ctx, "k") })
		}
		wg.Wait()
		var b *lease.Lease
		for i := range 2 {
			if errs[i] == nil {
				if b != nil {
					t.Fatal("two takeovers of one lapsed lease")
				}
				b = got[i]
			} else {
				wantHeld(t, errs[i])
			}
		}
		if b == nil {
			t.Fatalf("no takeover: %v", errs)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if held, _ := ts[2].Holding(ctx, "k"); !held {
			t.Fatal("the old holder's release removed the new holder's lease")
		}
		if err := a.Renew(ctx); !fault.Is(err, fault.Conflict) {
			t.Fatalf("the old holder renewed: %v, want Conflict", err)
		}
		if err := b.Renew(ctx); err != nil {
			t.Fatalf("the new holder's renewal: %v", err)
		}
	})
}

// TestKeepRenews: a heartbeat keeps a lease held well past its TTL; after
// stop and Release it is free at once.
func TestKeepRenews(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		// Renewals come every TTL/3: the TTL leaves a loaded machine (a
		// FerretDB write can take hundreds of milliseconds in a busy test
		// run) room for two late ones, without the test itself timing them.
		ttl := 1500 * time.Millisecond
		ts := tables(t, backend, 2, lease.Options{TTL: ttl})
		a, err := ts[0].Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		stop := a.Keep(ctx)
		for range 3 {
			time.Sleep(ttl)
			_, err := ts[1].Acquire(ctx, "k")
			wantHeld(t, err)
		}
		stop()
		stop()
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		b, err := ts[1].Acquire(ctx, "k")
		if err != nil {
			t.Fatalf("acquire after stop and release: %v", err)
		}
		b.Release(ctx)
	})
}

// TestReleaseNearExpiry: a lease too close to lapsing is not deleted (a
// clock a little ahead elsewhere may already have taken it over): it
// lapses by itself.
func TestReleaseNearExpiry(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		ts := tables(t, backend, 2, lease.Options{TTL: 9 * time.Second, Now: clk.Now})
		a, err := ts[0].Acquire(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(7 * time.Second)
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if held, _ := ts[1].Holding(ctx, "k"); !held {
			t.Fatal("released a lease with less than a third of its TTL left")
		}
		clk.Advance(3 * time.Second)
		if _, err := ts[1].Acquire(ctx, "k"); err != nil {
			t.Fatalf("acquire after it lapsed: %v", err)
		}
	})
}
