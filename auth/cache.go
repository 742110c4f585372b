package auth

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// ttlCache is a bounded LRU whose entries expire. It wraps the plain
// golang-lru cache rather than its expirable variant, whose cleanup
// goroutine can never be stopped. Safe for concurrent use.
type ttlCache[K comparable, V any] struct {
	c   *lru.Cache[K, timed[V]]
	ttl time.Duration
}

type timed[V any] struct {
	v     V
	until time.Time
}

func newTTLCache[K comparable, V any](size int, ttl time.Duration) *ttlCache[K, V] {
	c, err := lru.New[K, timed[V]](size)
	if err != nil {
		panic(err) // size is checked positive by New
	}
	return &ttlCache[K, V]{c: c, ttl: ttl}
}

// get returns the value under k if it has not expired.
func (t *ttlCache[K, V]) get(k K) (V, bool) { return t.getAt(k, time.Now()) }

// getAt is get at now, for a hot path that reads the clock once.
func (t *ttlCache[K, V]) getAt(k K, now time.Time) (V, bool) {
	e, ok := t.c.Get(k)
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// add stores v under k for the cache's TTL, or until until when that is
// sooner (a token that expires earlier).
func (t *ttlCache[K, V]) add(k K, v V, until time.Time) {
	max := time.Now().Add(t.ttl)
	if until.IsZero() || until.After(max) {
		until = max
	}
	t.c.Add(k, timed[V]{v: v, until: until})
}

// purge drops every entry.
func (t *ttlCache[K, V]) purge() { t.c.Purge() }
