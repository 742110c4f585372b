package edge

import (
	"os"
	"path/filepath"
	"time"

	"github.com/maypok86/otter/v2"
)

// DefaultCacheMemory is the budget of a Registry that names none
// (CACHE_MEMORY's default).
const DefaultCacheMemory = 256 << 20

// Budget is the one byte budget of every in-memory cache that holds
// documents (prepared documents of all protocols, their indexes and
// parsed forms): one weighted cache (otter, W-TinyLFU) that each
// protocol's Shelf draws from, so that the sum, not each part, stays
// under the budget. A document whose body is above the sendfile threshold
// lives in a prepared file under Dir instead (see NewDocument), and only
// its header stays in memory. It is safe for concurrent use.
type Budget struct {
	c *otter.Cache[shelfKey, weighed]
	// dir holds prepared files; "" keeps every document in memory.
	dir string
	// linger is how long an evicted document's file outlives its entry:
	// a request that found the entry just before opens the file just
	// after, and an open file survives its removal.
	linger time.Duration
	max    uint64
	// fileMin is the body size from which a document goes to a prepared
	// file: a 64th of the budget, so that no one document takes a large
	// part of it. Not lower: measured on 2 cores with wrk, an 18 KB and a
	// 59 KB packument sent from a file by sendfile (open, sendfile, close
	// per request) ran at 0.3–0.4× the same bytes from memory.
	fileMin int
}

type shelfKey struct{ shelf, key string }

type weighed struct {
	v     any
	w     uint32
	until int64 // unix nanoseconds; 0 = no TTL
}

// entryOverhead is what an entry costs besides what its weigher counts:
// the key, otter's node and the boxed value.
const entryOverhead = 128

// NewBudget returns a budget of bytes (≤ 0: DefaultCacheMemory). dir, when
// not "", is the folder of prepared files: it is created and emptied (a
// file left there belongs to a previous run, whose entries are gone), so
// it must belong to this process alone.
func NewBudget(bytes int64, dir string) (*Budget, error) {
	if bytes <= 0 {
		bytes = DefaultCacheMemory
	}
	b := &Budget{dir: dir, linger: 10 * time.Second, max: uint64(bytes), fileMin: int(max(bytes/64, sendfileMin))}
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, err
		}
	}
	c, err := otter.New(&otter.Options[shelfKey, weighed]{
		MaximumWeight: uint64(bytes),
		Weigher: func(k shelfKey, v weighed) uint32 {
			return v.w + uint32(len(k.shelf)+len(k.key)) + entryOverhead
		},
		OnDeletion: func(e otter.DeletionEvent[shelfKey, weighed]) {
			if d, ok := e.Value.v.(*Document); ok {
				d.release(b.linger)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	b.c = c
	return b, nil
}

// Weight is what the budget holds now, in bytes; it never stays above the
// budget after eviction has run.
func (b *Budget) Weight() uint64 {
	b.c.CleanUp()
	return b.c.WeightedSize()
}

// Shelf is one cache's part of a Budget: Get, Add and Remove as an LRU's,
// keys of its own, values weighed by weigh (their bytes). It is safe for
// concurrent use.
type Shelf[V any] struct {
	b     *Budget
	name  string
	weigh func(V) int
	ttl   time.Duration
}

// NewShelf returns the shelf name of b (a name per cache: "npm.docs").
// ttl, when > 0, bounds how long an entry is served.
func NewShelf[V any](b *Budget, name string, ttl time.Duration, weigh func(V) int) *Shelf[V] {
	return &Shelf[V]{b: b, name: name, weigh: weigh, ttl: ttl}
}

// Get returns the value under key, if it is held and not expired.
func (s *Shelf[V]) Get(key string) (V, bool) {
	var zero V
	e, ok := s.b.c.GetIfPresent(shelfKey{s.name, key})
	if !ok || e.until != 0 && time.Now().UnixNano() > e.until {
		return zero, false
	}
	v, ok := e.v.(V)
	return v, ok
}

// Add holds v under key, evicting what the budget needs (possibly v
// itself, when it alone is too heavy).
func (s *Shelf[V]) Add(key string, v V) {
	w := s.weigh(v)
	e := weighed{v: v, w: uint32(min(max(w, 0), 1<<31))}
	if s.ttl > 0 {
		e.until = time.Now().Add(s.ttl).UnixNano()
	}
	k := shelfKey{s.name, key}
	if uint64(e.w)+entryOverhead > s.b.max {
		// Heavier than the whole budget: it would only push everything
		// else out before being evicted itself.
		s.b.c.Invalidate(k)
		if d, ok := any(v).(*Document); ok {
			d.release(s.b.linger)
		}
		return
	}
	s.b.c.Set(k, e)
}

// Remove forgets key.
func (s *Shelf[V]) Remove(key string) { s.b.c.Invalidate(shelfKey{s.name, key}) }

// Purge forgets every entry of the shelf.
func (s *Shelf[V]) Purge() {
	for k := range s.b.c.Keys() {
		if k.shelf == s.name {
			s.b.c.Invalidate(k)
		}
	}
}

// prepare writes body to a new prepared file, named by its tag and a
// unique suffix so that no two entries share one (an entry's eviction
// removes its file). It returns "" when b keeps documents in memory or the
// write fails (the document then stays in memory: correct, only heavier).
func (b *Budget) prepare(tag string, body []byte) string {
	if b == nil || b.dir == "" {
		return ""
	}
	f, err := os.CreateTemp(b.dir, tag+"-*")
	if err != nil {
		return ""
	}
	_, err = f.Write(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return ""
	}
	return f.Name()
}

func removeLater(after time.Duration, paths ...string) {
	time.AfterFunc(after, func() {
		for _, p := range paths {
			if p != "" {
				os.Remove(p) // gone already is as good
			}
		}
	})
}

// filesIn lists the prepared files (for tests).
func (b *Budget) filesIn() []string {
	m, _ := filepath.Glob(filepath.Join(b.dir, "*"))
	return m
}
