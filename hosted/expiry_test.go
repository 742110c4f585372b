package hosted_test

import (
	"context"
	"testing"
	"time"

	"entrepot/deploy/testkit/stores"
	"entrepot/hosted"
)

func TestExpiryKeyOrder(t *testing.T) {
	times := []time.Time{{}, time.Unix(-5, 0), time.Unix(0, 0), time.Unix(9, 0), time.Unix(10, 0), time.Unix(1_000_000_000, 0), time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 1; i < len(times); i++ {
		a, b := hosted.ExpiryKey(times[i-1]), hosted.ExpiryKey(times[i])
		if a > b || len(a) != len(b) {
			t.Errorf("ExpiryKey(%v) = %q sorts after ExpiryKey(%v) = %q", times[i-1], a, times[i], b)
		}
	}
}

// TestPruneExpired: records whose expiry lies before the limit go, the
// others and those without the key stay.
func TestPruneExpired(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		s := stores.Peers(t, backend, 1)[0]
		c := hosted.Collection{Name: "expiring", Index: []string{"expires"}}
		now := time.Unix(1_700_000_000, 0)
		recs := map[string]time.Duration{"old": -time.Hour, "older": -48 * time.Hour, "fresh": time.Hour, "edge": 0}
		for id, d := range recs {
			if _, err := s.Create(ctx, c, hosted.Record{ID: id, Keys: map[string]string{"expires": hosted.ExpiryKey(now.Add(d))}}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 210 { // more than a batch
			id := "bulk" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			if _, err := s.Create(ctx, c, hosted.Record{ID: id, Keys: map[string]string{"expires": hosted.ExpiryKey(now.Add(-time.Minute))}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Create(ctx, c, hosted.Record{ID: "forever"}); err != nil {
			t.Fatal(err)
		}
		n, err := hosted.PruneExpired(ctx, s, c, "expires", now)
		if err != nil || n != 212 {
			t.Fatalf("PruneExpired = %d, %v; want 212", n, err)
		}
		left, _, err := s.Query(ctx, c, hosted.Query{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range left {
			ids = append(ids, r.ID)
		}
		if len(ids) != 3 || ids[0] != "edge" || ids[1] != "forever" || ids[2] != "fresh" {
			t.Fatalf("left %v, want edge, forever, fresh", ids)
		}
	})
}
