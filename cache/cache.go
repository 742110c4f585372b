// Package cache is Entrepot's proxy cache: it decides when to ask an
// upstream, fills what the upstream sends into the blob store exactly once
// per key, and remembers it, without knowing which protocol it serves.
//
// A protocol hands Get a key, a TTL, the digests the bytes must have and a
// Fetch that talks to its upstream. The cache answers from an in-memory LRU
// or its records in the metadata store (so entries survive restarts);
// otherwise one fill per key streams the upstream's body into a blob
// writer, verifies it, and only then records it. Every caller gets the
// Entry and streams the stored, verified blob itself.
//
//	Get ─► LRU ─► store record ─► fresh? ─► Entry
//	                                 └ no ─► Filler: singleflight ─► lease ─► limit ─► fill
//	                                          fill: store again ─► Fetch ─► Commit ─► record
//
// Singleflight makes one fill per key in this process; the lease, a record
// in the store with an expiry (lease.Table), makes one fill per key across
// every process sharing the store: the others poll the lease until the
// holder releases it, then serve the record it stored, and take over if
// the holder gives up without one or its lease lapses.
//
// Artifacts (TTL 0) are cached forever once verified. Documents with a TTL
// are revalidated with ETag / Last-Modified when they expire and served
// stale while the upstream fails. Upstream 404s are remembered for
// NegativeTTL.
package cache

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"

	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/hosted/lease"
)

// Entry is what the cache knows of one key. Entries are values: the caller
// owns the one it is given.
type Entry struct {
	Key string `json:"key"`
	// Digest is the sha256 of the stored bytes, the blob to stream.
	Digest blob.Digest `json:"digest,omitempty"`
	Size   int64       `json:"size"`
	// ContentType, ETag and LastModified are the upstream's.
	ContentType  string            `json:"contentType,omitempty"`
	ETag         string            `json:"etag,omitempty"`
	LastModified string            `json:"lastModified,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
	FetchedAt    time.Time         `json:"fetchedAt"`
	// Expires is when the entry needs revalidation; zero means never (an
	// immutable artifact).
	Expires time.Time `json:"expires,omitzero"`
	// Negative records that the upstream said 404; there is no blob.
	Negative bool `json:"negative,omitempty"`
	// Stale is set on an entry served past Expires because the upstream
	// failed (or, from Peek, on any expired entry). It is never stored.
	Stale bool `json:"-"`
}

// fresh reports whether e may be served at now without asking upstream.
func (e Entry) fresh(now time.Time) bool {
	return e.Expires.IsZero() || now.Before(e.Expires)
}

// satisfies reports whether e's bytes are the ones want asks for, as far
// as the stored sha256 can tell; a record of other bytes is filled anew.
func (e Entry) satisfies(want []blob.Digest) bool {
	for _, d := range want {
		if d.Algorithm() == blob.SHA256 && !e.Negative && d != e.Digest {
			return false
		}
	}
	return true
}

func (e Entry) clone() Entry {
	e.Meta = maps.Clone(e.Meta)
	return e
}

// Result is what a Fetch learned from the upstream besides the bytes.
type Result struct {
	// NotModified means the upstream confirmed prev (a 304): nothing was
	// written and the previous bytes stay.
	NotModified                     bool
	ContentType, ETag, LastModified string
	Meta                            map[string]string
}

// Fetch asks the upstream for one key and streams the body into w. When
// prev is not nil it is the expired entry, whose ETag and LastModified make
// the request conditional. It returns an error of kind NotFound when the
// upstream has no such thing, and must not Commit or Cancel w: the cache
// does. It runs in the fill's detached context.
type Fetch func(ctx context.Context, prev *Entry, w blob.Writer) (Result, error)

// Request asks the cache for one key.
type Request struct {
	// Key names the content, unique across protocols and upstreams
	// ("npm/packument/lodash"); the caller builds it.
	Key string
	// TTL is how long a filled entry is fresh; 0 means immutable: cached
	// forever once verified.
	TTL time.Duration
	// Want are the digests the bytes must match (from the metadata that
	// promised them); bytes that do not are never recorded.
	Want []blob.Digest
	// Fetch talks to the upstream.
	Fetch Fetch
	// Legacy, when set, is the key the same content had in an older key
	// layout: a Get that finds nothing under Key moves that record to
	// Key, so that an upgrade keeps what the cache held.
	Legacy string
}

// Options configure a Cache. The zero value is usable.
type Options struct {
	// LRUSize is how many entries are held in memory (default 10000).
	LRUSize int
	// NegativeTTL is how long an upstream 404 is remembered (default 1m).
	NegativeTTL time.Duration
	// FillTimeout bounds one fill, which runs detached from the requests
	// waiting for it (default 10m: large artifacts take a while).
	FillTimeout time.Duration
	// WaitTimeout bounds how long one caller waits for a fill (default 2m);
	// the fill carries on without it.
	WaitTimeout time.Duration
	// MaxConcurrentFills bounds fills across keys (default 64).
	MaxConcurrentFills int
	// LeaseTTL is how long a fill's lease in the store lasts between
	// renewals (default 10s): how long a node that crashed mid-fill keeps
	// the others waiting before one of them takes the fill over.
	LeaseTTL time.Duration
	// Local says that no other process shares the store (the embedded
	// one, whose file is locked): fills then take no lease, which would
	// only cost store writes.
	Local bool
	// Registerer receives the cache's metrics; nil means none.
	Registerer prometheus.Registerer
	// Logger gets fills' failures; nil means none.
	Logger *slog.Logger
	// Now is the clock for freshness (tests); nil means time.Now.
	Now func() time.Time
}

// Cache is the proxy cache. It is safe for concurrent use. A filled or
// revalidated entry is visible to every later Get, on this node and on any
// other sharing the store, as soon as the Get that filled it returns;
// other nodes' LRUs may keep serving an older fresh entry until it
// expires.
type Cache struct {
	meta   hosted.Store
	blobs  blob.Store
	hot    *lru.Cache[string, Entry]
	filler Filler
	opts   Options
	log    *slog.Logger
	m      *metrics
}

// New returns a cache keeping records in meta and bytes in blobs.
func New(meta hosted.Store, blobs blob.Store, opts Options) *Cache {
	if opts.LRUSize <= 0 {
		opts.LRUSize = 10000
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = time.Minute
	}
	if opts.FillTimeout <= 0 {
		opts.FillTimeout = 10 * time.Minute
	}
	if opts.WaitTimeout <= 0 {
		opts.WaitTimeout = 2 * time.Minute
	}
	if opts.MaxConcurrentFills <= 0 {
		opts.MaxConcurrentFills = 64
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hot, _ := lru.New[string, Entry](opts.LRUSize) // errs only on size <= 0
	c := &Cache{
		meta:  meta,
		blobs: blobs,
		hot:   hot,
		opts:  opts,
		log:   log,
		m:     newMetrics(opts.Registerer, log),
	}
	// Deduplicate first, here then across nodes, so that waiters for one
	// key never hold slots.
	f := WithLimit(direct{}, opts.MaxConcurrentFills)
	if !opts.Local {
		f = WithLease(f, lease.New(meta, leasesName, lease.Options{TTL: opts.LeaseTTL, Now: opts.Now, Logger: log}), c.settled, log)
	}
	c.filler = WithSingleflight(f, opts.WaitTimeout, opts.FillTimeout, log)
	return c
}

// Get returns the entry for r.Key, filling it from the upstream through
// r.Fetch when it is missing or expired. The caller then streams
// Entry.Digest from the blob store.
//
// Errors: NotFound when the upstream has no such thing (remembered for
// NegativeTTL: later Gets fail without asking); Upstream when the upstream
// fails or sends bytes that do not match r.Want, unless an expired entry
// can be served instead (then it comes back with Stale set and no error);
// Unavailable when ctx ends or the wait exceeds WaitTimeout (the fill goes
// on and later Gets find its result); Invalid for a request without a key
// or a Fetch; the store's kinds when it fails.
func (c *Cache) Get(ctx context.Context, r Request) (Entry, error) {
	const op = "cache.Get"
	if r.Key == "" || r.Fetch == nil {
		return Entry{}, fault.New(op, fault.Invalid, "cache request without a key or a fetch")
	}
	prev, found, err := c.lookup(ctx, r.Key)
	if err == nil && !found && r.Legacy != "" {
		prev, found, err = c.adopt(ctx, r.Key, r.Legacy)
	}
	if err != nil {
		return Entry{}, fault.Op(op, err)
	}
	if found && prev.fresh(c.opts.Now()) && prev.satisfies(r.Want) {
		if prev.Negative {
			c.m.request("negative")
			return Entry{}, notFound(op, r.Key)
		}
		c.m.request("hit")
		return prev.clone(), nil
	}
	e, err := c.filler.Fill(ctx, r.Key, func(ctx context.Context) (Entry, error) { return c.fill(ctx, r) })
	if err != nil && errors.Is(err, errWaitTimeout) && found && c.canServeStale(prev, r) {
		c.log.Info("cache: fill slow, serving stale", "key", r.Key, "err", err)
		e, err = prev, nil
		e.Stale = true
	}
	switch {
	case err != nil:
		c.m.request("miss")
		return Entry{}, fault.Op(op, err)
	case e.Stale:
		c.m.request("stale")
	default:
		c.m.request("miss")
	}
	return e.clone(), nil
}

// canServeStale reports whether prev may stand in for a failed fill: a
// positive entry of a key with a TTL. An artifact is never served against
// a Want it was not verified for.
func (c *Cache) canServeStale(prev Entry, r Request) bool {
	return r.TTL > 0 && !prev.Negative && prev.satisfies(r.Want)
}

// notFound keeps the key (which names the upstream's host) for the log
// only: clients see no internal address.
func notFound(op, key string) error {
	return fault.WrapMsg(op, fault.NotFound, "not found upstream", errors.New("cache key "+key))
}

// fill runs inside the flight: the store first (a late arrival finds the
// flight that just ended), then the upstream.
func (c *Cache) fill(ctx context.Context, r Request) (Entry, error) {
	const op = "cache.fill"
	prev, found, err := c.load(ctx, r.Key)
	if err != nil {
		return Entry{}, err
	}
	if found && prev.fresh(c.opts.Now()) && prev.satisfies(r.Want) {
		if prev.Negative {
			return Entry{}, notFound(op, r.Key)
		}
		c.hot.Add(r.Key, prev)
		return prev, nil
	}
	var prevp *Entry
	if found && !prev.Negative && prev.satisfies(r.Want) {
		prevp = &prev
	}

	e, err := c.fetch(ctx, r, prevp)
	switch {
	case err == nil:
		return e, nil
	case fault.Is(err, fault.NotFound):
		c.m.fill("ok")
		neg := Entry{Key: r.Key, Negative: true, FetchedAt: c.opts.Now()}
		neg.Expires = neg.FetchedAt.Add(c.opts.NegativeTTL)
		if serr := c.save(ctx, neg); serr != nil {
			c.log.Warn("cache: negative record not saved", "key", r.Key, "err", serr)
		}
		return Entry{}, fault.Op(op, err)
	}
	c.m.fill("error")
	if found && c.canServeStale(prev, r) && upstreamFailure(err) {
		// Expected when an upstream is down: the entry is still the best
		// answer there is, so this is no error for the log.
		c.log.Info("cache: upstream failed, serving stale", "key", r.Key, "err", err)
		prev.Stale = true
		return prev, nil
	}
	c.log.Debug("cache: fill failed", "key", r.Key, "err", err)
	return Entry{}, fault.Op(op, err)
}

// upstreamFailure reports whether err means the upstream, not we, failed.
func upstreamFailure(err error) bool {
	switch fault.KindOf(err) {
	case fault.Upstream, fault.Unavailable, fault.Internal:
		return true
	}
	return false
}

// fetch asks the upstream once and records what it learns. Nothing is
// recorded unless the bytes were committed, that is, verified.
func (c *Cache) fetch(ctx context.Context, r Request, prev *Entry) (Entry, error) {
	const op = "cache.fetch"
	w, err := c.blobs.Create(ctx, r.Want...)
	if err != nil {
		return Entry{}, fault.Op(op, err)
	}
	// Cancel is a no-op after Commit; it must run even when ctx has ended.
	defer w.Cancel(context.WithoutCancel(ctx))

	res, err := r.Fetch(ctx, prev, w)
	if err != nil {
		return Entry{}, err
	}
	now := c.opts.Now()
	if res.NotModified {
		if prev == nil {
			return Entry{}, fault.Newf(op, fault.Internal, "fetch of %s answered not modified to an unconditional request", r.Key)
		}
		e := *prev
		e.FetchedAt, e.Expires = now, expires(now, r.TTL)
		if res.ETag != "" {
			e.ETag = res.ETag
		}
		if res.LastModified != "" {
			e.LastModified = res.LastModified
		}
		if err := c.save(ctx, e); err != nil {
			return Entry{}, err
		}
		c.m.fill("not_modified")
		return e, nil
	}
	info, err := w.Commit(ctx)
	if fault.Is(err, fault.Conflict) {
		return Entry{}, fault.WrapMsg(op, fault.Upstream,
			"upstream sent bytes that do not match "+joinDigests(r.Want), err)
	}
	if err != nil {
		return Entry{}, fault.Op(op, err)
	}
	e := Entry{
		Key:          r.Key,
		Digest:       info.Digest,
		Size:         info.Size,
		ContentType:  res.ContentType,
		ETag:         res.ETag,
		LastModified: res.LastModified,
		Meta:         maps.Clone(res.Meta),
		FetchedAt:    now,
		Expires:      expires(now, r.TTL),
	}
	if err := c.save(ctx, e); err != nil {
		return Entry{}, err
	}
	c.m.fill("ok")
	return e, nil
}

func expires(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}

func joinDigests(ds []blob.Digest) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// Peek returns the entry for key if there is one, fresh or not (Stale is
// set when it has expired; Negative when it records a 404), without asking
// the upstream. A store failure reads as absent.
func (c *Cache) Peek(ctx context.Context, key string) (Entry, bool) {
	e, found, err := c.lookup(ctx, key)
	if err != nil {
		c.log.Warn("cache: peek failed", "key", key, "err", err)
		return Entry{}, false
	}
	if !found {
		return Entry{}, false
	}
	e.Stale = !e.fresh(c.opts.Now())
	return e.clone(), true
}

// Invalidate forgets key, so that the next Get asks the upstream. The blob
// stays: other keys may share it. Errors are the store's.
func (c *Cache) Invalidate(ctx context.Context, key string) error {
	c.hot.Remove(key)
	err := c.meta.Delete(ctx, records, key)
	c.hot.Remove(key) // a fill may have put it back meanwhile
	return fault.Op("cache.Invalidate", err)
}

// lookup reads key from the LRU, then from the store.
func (c *Cache) lookup(ctx context.Context, key string) (Entry, bool, error) {
	if e, ok := c.hot.Get(key); ok {
		return e, true, nil
	}
	e, found, err := c.load(ctx, key)
	if found {
		c.hot.Add(key, e)
	}
	return e, found, err
}
