package cache

import (
	"context"
	"encoding/json"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// records holds one record per cache key: the id is the key, the body the
// Entry as JSON. The digest index lets a blob sweeper ask whether a blob
// is still referenced; negative records have none.
var records = hosted.Collection{Name: "cache_records", Index: []string{"digest"}}

// leasesName is the collection of fill leases, one per key being filled
// (see WithLease).
const leasesName = "cache_leases"

// load reads key's record from the store.
func (c *Cache) load(ctx context.Context, key string) (Entry, bool, error) {
	var e Entry
	_, err := hosted.GetJSON(ctx, c.meta, records, key, &e)
	switch {
	case fault.Is(err, fault.NotFound):
		return Entry{}, false, nil
	case err != nil:
		return Entry{}, false, fault.Op("cache.load", err)
	}
	e.Key = key
	return e, true, nil
}

// settled reports whether the store holds a fresh answer for key, a
// record or a remembered 404: what a fill waiting for another node's
// lease looks for.
func (c *Cache) settled(ctx context.Context, key string) (bool, error) {
	e, found, err := c.load(ctx, key)
	return found && e.fresh(c.opts.Now()), err
}

// adopt moves the record of legacy, if there is one, to key. Two racing
// adopters both save the same entry; the loser's delete finds nothing.
func (c *Cache) adopt(ctx context.Context, key, legacy string) (Entry, bool, error) {
	e, found, err := c.load(ctx, legacy)
	if err != nil || !found {
		return Entry{}, false, err
	}
	e.Key = key
	if err := c.save(ctx, e); err != nil {
		return Entry{}, false, err
	}
	if err := c.meta.Delete(ctx, records, legacy); err != nil {
		c.log.Warn("cache: legacy record not removed", "key", legacy, "err", err)
	}
	return e, true, nil
}

// maxSaveTries bounds save's create-or-replace loop; every turn means
// another writer got in between, which for one key is rare.
const maxSaveTries = 8

// save creates or replaces e's record (the last writer wins: every writer
// holds verified bytes) and then puts e in the LRU, so that a record is
// never in memory before it is in the store.
func (c *Cache) save(ctx context.Context, e Entry) error {
	const op = "cache.save"
	data, err := json.Marshal(e)
	if err != nil {
		return fault.Wrap(op, fault.Internal, err)
	}
	rec := hosted.Record{ID: e.Key, Data: data}
	if e.Digest != "" {
		rec.Keys = map[string]string{"digest": string(e.Digest)}
	}
	for try := 0; try < maxSaveTries; try++ {
		var old hosted.Record
		old, err = c.meta.Get(ctx, records, e.Key)
		switch {
		case fault.Is(err, fault.NotFound):
			_, err = c.meta.Create(ctx, records, rec)
		case err == nil:
			_, err = c.meta.Replace(ctx, records, rec, old.Rev)
		}
		if err == nil {
			c.hot.Add(e.Key, e)
			return nil
		}
		// Conflict: someone wrote first; NotFound: someone deleted it.
		if !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
	}
	// Never NotFound: that would read as the upstream's 404.
	return fault.Wrap(op, fault.Conflict, err)
}

// Purge removes every cache record in meta whose key starts with prefix
// ("" for all), so that the next Get of any of them asks the upstream,
// and returns how many it removed. Blobs stay: other keys may share them,
// and a sweep collects the rest. Caches running on meta keep what their
// LRUs hold until they restart. Errors are the store's; what was removed
// before one stays removed.
func Purge(ctx context.Context, meta hosted.Store, prefix string) (int, error) {
	const op = "cache.Purge"
	n, after := 0, ""
	for {
		recs, next, err := meta.Query(ctx, records, hosted.Query{Prefix: prefix, After: after})
		if err != nil {
			return n, fault.Op(op, err)
		}
		for _, r := range recs {
			if err := meta.Delete(ctx, records, r.ID); err != nil {
				return n, fault.Op(op, err)
			}
			n++
		}
		if next == "" {
			return n, nil
		}
		after = next
	}
}

// MarkBlobs reports the blob of every cache record in meta (a
// hosted.BlobMarker for the garbage collector and fsck); negative records
// have none. The references are Mirrored: fsck --repair drops a record
// whose blob is missing or damaged, and the next request fills it again.
func MarkBlobs(ctx context.Context, meta hosted.Store, mark func(hosted.BlobRef)) error {
	return hosted.Scan(ctx, meta, records, func(r hosted.Record) error {
		var e Entry
		if err := json.Unmarshal(r.Data, &e); err != nil {
			return fault.Wrap("cache.MarkBlobs", fault.Internal, err)
		}
		if e.Digest != "" && !e.Negative {
			mark(hosted.BlobRef{Digest: string(e.Digest), Size: e.Size, Collection: records, ID: r.ID, Mirrored: true})
		}
		return nil
	})
}
