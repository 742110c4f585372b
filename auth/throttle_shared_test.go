package auth

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit/stores"
	"entrepot/hosted"
)

// edgeThrottles returns n shared Throttles, one per store handle, on a
// common settable clock.
func edgeThrottles(peers []hosted.Store, cfg ThrottleConfig, now func() time.Time) []*Throttle {
	out := make([]*Throttle, len(peers))
	for i, s := range peers {
		out[i] = NewSharedThrottle(s, []byte("a shared secret"), cfg)
		out[i].now = now
	}
	return out
}

// TestSharedThrottleAcrossEdges: failures spread over two edges count as
// one: five of them lock the address on both, with the same backoff as on
// one edge; the owner's sign-in on one edge is trusted on the other.
func TestSharedThrottleAcrossEdges(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		var mu sync.Mutex
		now := time.Unix(1_000_000, 0)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		ths := edgeThrottles(stores.Peers(t, backend, 2), ThrottleConfig{}, clock)
		ths[0].Succeeded("alice", "10.0.0.2") // the owner's usual address, on edge 0
		for i := range 4 {
			ths[i%2].Failed("alice", "10.0.0.9")
			for e, th := range ths {
				if err := th.Allow("alice", "10.0.0.9"); err != nil {
					t.Fatalf("after %d failures, edge %d refuses: %v", i+1, e, err)
				}
			}
		}
		ths[1].Failed("alice", "10.0.0.9") // the fifth, on edge 1
		for e, th := range ths {
			d, ok := RetryAfter(th.Allow("bob", "10.0.0.9"))
			if !ok || d != time.Second {
				t.Fatalf("after 5 failures over 2 edges, edge %d: retry after %v, %v; want 1s", e, d, ok)
			}
		}
		// The sixth, on edge 0, doubles the lock on both.
		mu.Lock()
		now = now.Add(2 * time.Second)
		mu.Unlock()
		ths[0].Failed("alice", "10.0.0.9")
		for e, th := range ths {
			if d, _ := RetryAfter(th.Check("ip:10.0.0.9")); d != 2*time.Second {
				t.Fatalf("after 6 failures, edge %d: retry after %v, want 2s", e, d)
			}
		}
		// The account is locked too, but its owner's address signed in on
		// edge 0 and is trusted on edge 1.
		ths[1].Failed("alice", "10.0.0.2")
		if err := ths[1].Allow("alice", "10.0.0.2"); err != nil {
			t.Fatalf("the owner's trusted address, on the other edge: %v", err)
		}
	})
}

// TestSharedThrottleConcurrentFailures: concurrent failures of one key on
// several Throttles are all counted (compare-and-swap, retried).
func TestSharedThrottleConcurrentFailures(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		// The Throttles share one store handle: that a Replace at a
		// revision is atomic across processes is the store's contract
		// (storetest's RacingReplaces; on FerretDB the store's own work).
		s := stores.Peers(t, backend, 1)[0]
		ths := edgeThrottles([]hosted.Store{s, s, s}, ThrottleConfig{Failures: 1000}, time.Now)
		const each = 10
		var wg sync.WaitGroup
		for _, th := range ths {
			for range each {
				wg.Go(func() { th.Fail("k") })
			}
		}
		wg.Wait()
		st, found, err := ths[0].load("k")
		if err != nil || !found || st.Failures != each*len(ths) {
			t.Fatalf("stored %+v, %v, %v; want %d failures", st, found, err, each*len(ths))
		}
	})
}

// TestSharedThrottleLocalLockHolds: a lock known in memory is refused
// without the store, so a store that forgets (or fails) lets nothing
// through early; Reset lifts it everywhere.
func TestSharedThrottleLocalLockHolds(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		peers := stores.Peers(t, backend, 2)
		ths := edgeThrottles(peers, ThrottleConfig{Failures: 2, Base: time.Minute}, time.Now)
		ths[0].Fail("k")
		ths[0].Fail("k")
		if err := ths[1].Check("k"); err == nil {
			t.Fatal("edge 1 lets a key locked on edge 0 through")
		}
		peers[0].Delete(context.Background(), throttleC, ths[0].id("k")) // the store loses it
		for e, th := range ths {
			if err := th.Check("k"); err == nil {
				t.Fatalf("edge %d lifted a lock it knew because the store forgot it", e)
			}
		}
		ths[0].Reset("k")
		if err := ths[0].Check("k"); err != nil {
			t.Fatalf("after Reset: %v", err)
		}
	})
}

// TestSharedThrottlePrunes: records expire (a failure count after Forget,
// a trusted address after trustFor) and are deleted by a later failure.
func TestSharedThrottlePrunes(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		s := stores.Peers(t, backend, 1)[0]
		now := time.Unix(2_000_000, 0)
		th := edgeThrottles([]hosted.Store{s}, ThrottleConfig{Forget: time.Hour}, func() time.Time { return now })[0]
		th.Failed("alice", "10.0.0.9")
		th.Succeeded("bob", "10.0.0.3")
		th.Fail("u:" + strings.Repeat("x", 5000)) // a long key: an id all the same
		count := func() int {
			recs, _, err := s.Query(context.Background(), throttleC, hosted.Query{})
			if err != nil {
				t.Fatal(err)
			}
			return len(recs)
		}
		if n := count(); n != 4 {
			t.Fatalf("%d records, want 4: alice's, 10.0.0.9's and the long key's failures, bob's trusted address", n)
		}
		now = now.Add(2 * time.Hour)
		th.Fail("fresh")
		if n := count(); n != 2 {
			t.Fatalf("%d records after Forget, want 2: the trusted address and the fresh failure", n)
		}
		now = now.Add(trustFor)
		th.Fail("fresh2")
		if n := count(); n != 1 {
			t.Fatalf("%d records after trustFor, want 1", n)
		}
	})
}
