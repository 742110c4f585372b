package hosted

import (
	"context"
	"fmt"
	"time"

	"entrepot/hosted/fault"
)

// ExpiryKey is the value to store in a record's expiry index key (a key
// declared in the collection's Index) for a record that lapses at t:
// fixed-width unix milliseconds, so that the index's string order is time
// order and PruneExpired can scan it from the oldest. A zero or earlier
// time is the epoch.
func ExpiryKey(t time.Time) string {
	ms := t.UnixMilli()
	if t.IsZero() || ms < 0 {
		ms = 0
	}
	return fmt.Sprintf("%016d", ms)
}

// pruneBatch is how many expired records PruneExpired reads at a time.
const pruneBatch = 200

// PruneExpired deletes the records of c whose expiry key (written with
// ExpiryKey) lies before before, oldest first, and returns how many it
// deleted. Records without the key are left alone.
//
// Each candidate is read again just before its delete and kept if it has
// been written meanwhile with a later expiry; the Store has no conditional
// delete, so a write landing between that read and the delete is lost.
// Callers pass a before well in the past of any record still in use (a
// grace of a lease's lifetime, a throttle's memory) so that this cannot
// matter. Errors are the store's; what was deleted stays deleted.
func PruneExpired(ctx context.Context, s Store, c Collection, key string, before time.Time) (int, error) {
	const op = "hosted.PruneExpired"
	limit := ExpiryKey(before)
	n := 0
	for {
		// Every page starts from the oldest: deleting moves the cursor's
		// ground, and what is kept (rewritten) sorts after limit anyway.
		recs, _, err := s.Query(ctx, c, Query{Key: key, Limit: pruneBatch})
		if err != nil {
			return n, fault.Op(op, err)
		}
		deleted := 0
		for _, r := range recs {
			if r.Keys[key] >= limit {
				return n, nil
			}
			cur, err := s.Get(ctx, c, r.ID)
			if fault.Is(err, fault.NotFound) {
				continue
			}
			if err != nil {
				return n, fault.Op(op, err)
			}
			if cur.Keys[key] >= limit {
				continue
			}
			if err := s.Delete(ctx, c, r.ID); err != nil {
				return n, fault.Op(op, err)
			}
			n++
			deleted++
		}
		if len(recs) < pruneBatch || deleted == 0 {
			return n, nil
		}
	}
}
