package policy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// seenC holds one record per mirrored version: when this registry first
// saw it, and the time the upstream stated then. Id protocol, name and
// version joined by US (0x1f, in no protocol's names); key "pkg" is
// protocol NUL name, so that one query reads a package's records.
var seenC = hosted.Collection{Name: "policy_first_seen", Index: []string{"pkg"}}

type seenRecord struct {
	Protocol  string    `json:"protocol"`
	Package   string    `json:"package"`
	Version   string    `json:"version"`
	FirstSeen time.Time `json:"firstSeen"`
	Published time.Time `json:"published,omitzero"`
}

// FirstSeen records when this registry first saw each mirrored version:
// a time the upstream cannot forge, written once, on the first fill that
// lists the version, and never changed. It is safe for concurrent use.
type FirstSeen struct {
	meta hosted.Store
	now  func() time.Time
	// known holds a package's records once read: they never change, so
	// only a version missing from it makes a store round trip.
	known *expirable.LRU[string, map[string]time.Time]
}

// NewFirstSeen returns the first-seen records of meta.
func NewFirstSeen(meta hosted.Store, now func() time.Time) *FirstSeen {
	if now == nil {
		now = time.Now
	}
	return &FirstSeen{meta: meta, now: now, known: expirable.NewLRU[string, map[string]time.Time](16384, nil, time.Hour)}
}

func seenKey(protocol, name string) string { return protocol + "\x00" + name }

// maxSeenVersions bounds the records one package reads and writes: a
// package with more versions than that keeps the rest unrecorded (and so
// held back by any gate: fail closed).
const maxSeenVersions = 20000

// Record returns the first-seen time of each of versions of the mirrored
// package (protocol, name), recording now for those seen for the first
// time along with the upstream's stated time (published, may be nil or
// lack some). One query reads what is recorded; only new versions are
// written, so a hot package costs nothing once its versions are known.
// Concurrent Records of one version keep the first (Create's Conflict).
// The map returned is shared with other callers: read it, never change it.
func (f *FirstSeen) Record(ctx context.Context, protocol, name string, versions []string, published map[string]time.Time) (map[string]time.Time, error) {
	const op = "policy.FirstSeen.Record"
	key := seenKey(protocol, name)
	seen, ok := f.known.Get(key)
	missing := !ok
	if ok {
		for _, v := range versions {
			if _, ok := seen[v]; !ok {
				missing = true
				break
			}
		}
	}
	if !missing {
		return seen, nil
	}
	seen, err := f.read(ctx, protocol, name)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	now := f.now().UTC()
	for _, v := range versions {
		if _, ok := seen[v]; ok || len(seen) >= maxSeenVersions {
			continue
		}
		rec := seenRecord{Protocol: protocol, Package: name, Version: v, FirstSeen: now, Published: published[v]}
		id := protocol + "\x1f" + name + "\x1f" + v
		_, err := hosted.CreateJSON(ctx, f.meta, seenC, id, map[string]string{"pkg": key}, rec)
		switch {
		case err == nil:
			seen[v] = now
		case fault.Is(err, fault.Conflict): // another edge first: read its time
			var other seenRecord
			if _, err := hosted.GetJSON(ctx, f.meta, seenC, id, &other); err != nil {
				return nil, fault.Op(op, err)
			}
			seen[v] = other.FirstSeen
		default:
			return nil, fault.Op(op, err)
		}
	}
	f.known.Add(key, seen)
	return seen, nil
}

// Times returns the recorded first-seen times of (protocol, name)
// without recording anything; a version missing from it was never seen.
// The map is shared, as Record's is.
func (f *FirstSeen) Times(ctx context.Context, protocol, name string) (map[string]time.Time, error) {
	key := seenKey(protocol, name)
	if seen, ok := f.known.Get(key); ok {
		return seen, nil
	}
	seen, err := f.read(ctx, protocol, name)
	if err != nil {
		return nil, fault.Op("policy.FirstSeen.Times", err)
	}
	f.known.Add(key, seen)
	return seen, nil
}

func (f *FirstSeen) read(ctx context.Context, protocol, name string) (map[string]time.Time, error) {
	seen := map[string]time.Time{}
	q := hosted.Query{Key: "pkg", Prefix: seenKey(protocol, name), Exact: true}
	for len(seen) < maxSeenVersions {
		recs, next, err := f.meta.Query(ctx, seenC, q)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			var r seenRecord
			if err := json.Unmarshal(rec.Data, &r); err != nil {
				return nil, fault.Wrap("policy.FirstSeen", fault.Internal, err)
			}
			seen[r.Version] = r.FirstSeen
		}
		if next == "" {
			break
		}
		q.After = next
	}
	return seen, nil
}

// scan calls fn with every record of protocol ("*": all) until it returns
// false.
func (f *FirstSeen) scan(ctx context.Context, protocol string, fn func(seenRecord) bool) error {
	q := hosted.Query{Key: "pkg"}
	if protocol != AnyProtocol {
		q.Prefix = protocol + "\x00"
	}
	for {
		recs, next, err := f.meta.Query(ctx, seenC, q)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			var r seenRecord
			if err := json.Unmarshal(rec.Data, &r); err != nil {
				return fault.Wrap("policy.FirstSeen", fault.Internal, err)
			}
			if !fn(r) {
				return nil
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}
