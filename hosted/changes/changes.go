// Package changes is the change feed: every change to the system of
// record that a cache may hold an older view of (hosted.Change) is
// recorded once, as a document of the "changes" collection of any
// hosted.Store, and every process sharing the store follows the
// collection and hands each change to its subscribers, which drop what
// they hold of it. It needs no backend support beyond the Store contract:
// bbolt and MongoDB (FerretDB, which has no change streams) alike.
//
// Records are keyed by time: the id is the writer's clock in unix
// nanoseconds (16 hex digits, so that ids sort by time) and a random
// suffix. A follower reads the ids after a cursor every Interval. Since
// a record may become visible after records with later ids (a slow write,
// another writer's clock a little behind), the cursor trails the start of
// the last successful read by Window, and ids already handed on within
// the window are remembered and skipped: each change reaches each
// subscriber once. A writer whose record took more than half the window
// to write records it again under a fresh id, so that no follower's
// cursor has passed it. Writers' clocks must agree within the window
// (NTP).
//
// The bound: a change made on one process reaches every other one within
// Interval plus the store's read time. A follower that cannot read the
// feed for longer than Stale hands its subscribers hosted.ChangeAll, and
// again every Stale while it cannot, and once when it reads again: they
// drop everything they hold, so that nothing they guard (credentials,
// sessions, permissions, documents of deleted packages) outlives the
// bound on a process cut off from the feed. Records older than Retain are
// pruned by whichever process gets there first.
package changes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Collection holds the change records; ids only, no keys.
var Collection = hosted.Collection{Name: "changes"}

// Options tune a Feed. The zero value takes the defaults.
type Options struct {
	// Interval is how often the feed is read (default 200ms,
	// CHANGE_FEED_INTERVAL): the main part of the bound within which a
	// change made elsewhere is seen.
	Interval time.Duration
	// Window is how far the read cursor trails (default 3s): records that
	// become visible out of order within it are still seen.
	Window time.Duration
	// Stale is how long the feed may go unread before the subscribers
	// drop everything (default 1s, at least twice Interval).
	Stale time.Duration
	// Retain is how long records are kept (default 10 minutes, at least
	// four windows).
	Retain time.Duration
	// Logger gets write and read failures; nil means none.
	Logger *slog.Logger
	// Registerer receives the feed's metrics: how late changes from other
	// processes arrive, and how often the subscribers were purged.
	Registerer prometheus.Registerer
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Local says that no other process shares the store (the embedded
	// bbolt store, whose file one process holds locked): changes then go
	// to this process's subscribers only, and nothing is recorded or read.
	Local bool
}

// Feed records and follows changes. It is safe for concurrent use:
// Notify from any goroutine; Subscribe before Run; Run once.
type Feed struct {
	s    hosted.Store
	opts Options
	log  *slog.Logger

	mu   sync.Mutex
	subs []func(hosted.Change)
	seen map[string]int64 // ids handed on, by their time, kept for the window
	last int64            // time of the last id written: ids of one writer grow

	delay  prometheus.Observer
	purges prometheus.Counter
}

// New returns a feed over s. Nothing is read until Run.
func New(s hosted.Store, opts Options) *Feed {
	if opts.Interval <= 0 {
		opts.Interval = 200 * time.Millisecond
	}
	if opts.Window <= 0 {
		opts.Window = 3 * time.Second
	}
	if opts.Stale <= 0 {
		opts.Stale = time.Second
	}
	opts.Stale = max(opts.Stale, 2*opts.Interval)
	if opts.Retain <= 0 {
		opts.Retain = 10 * time.Minute
	}
	opts.Retain = max(opts.Retain, 4*opts.Window)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Feed{s: s, opts: opts, log: log, seen: map[string]int64{}}
	delay := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "entrepot_change_feed_delay_seconds",
		Help:    "Time from a change recorded by another process to its arrival here (writers' clocks).",
		Buckets: []float64{.05, .1, .2, .3, .5, .75, 1, 2, 5},
	})
	purges := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "entrepot_change_feed_purges_total",
		Help: "Times the caches were dropped because the change feed could not be read within its bound.",
	})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(delay, purges)
	}
	f.delay, f.purges = delay, purges
	return f
}

// Subscribe adds fn to the functions every change is handed to, those of
// this process at once (from Notify) and those of others as they are
// read. fn must be quick and must not call back into the feed; it may be
// called from several goroutines at once.
func (f *Feed) Subscribe(fn func(hosted.Change)) {
	f.mu.Lock()
	f.subs = append(f.subs, fn)
	f.mu.Unlock()
}

// writeTimeout bounds the recording of one change: past it the change is
// lost to other processes (and logged), which then see it at their
// caches' TTL.
const writeTimeout = 5 * time.Second

// Notify hands c to this process's subscribers and records it for the
// others. Call it after the write it reports has returned. It never
// fails: the write happened, so a record it cannot store is logged. The
// record is written under ctx's values but not its cancellation (a
// client that leaves does not unmake the change).
func (f *Feed) Notify(ctx context.Context, c hosted.Change) {
	f.dispatch(c)
	if f.opts.Local {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	data, err := json.Marshal(c)
	if err != nil {
		f.log.Error("change feed: encode", "change", c.Kind, "error", err)
		return
	}
	for try := 0; try < 2; try++ {
		start := f.opts.Now()
		id := f.newID(start)
		if _, err := f.s.Create(ctx, Collection, hosted.Record{ID: id, Data: data}); err != nil {
			f.log.Warn("change feed: change not recorded; other edges see it at their caches' expiry", "change", c.Kind, "protocol", c.Protocol, "name", c.Name, "error", err)
			return
		}
		// A record that took long to write may have become visible
		// behind a follower's cursor: write it again, newer.
		if f.opts.Now().Sub(start) < f.opts.Window/2 {
			return
		}
	}
}

// newID is a record id for time t, and marks it seen: ordered by time
// (strictly, for one writer: its changes are read in the order made),
// unique by its random suffix.
func (f *Feed) newID(t time.Time) string {
	var suffix [4]byte
	rand.Read(suffix[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	at := max(t.UnixNano(), f.last+1)
	f.last = at
	id := cursor(at) + "-" + hex.EncodeToString(suffix[:])
	f.seen[id] = at
	return id
}

// cursor is the scan position just before every id of time t.
func cursor(t int64) string {
	var b [8]byte
	n := uint64(t)
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return hex.EncodeToString(b[:])
}

// idTime is the time an id was written at; false for what is no id of
// ours.
func idTime(id string) (int64, bool) {
	if len(id) < 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(id[:16], 16, 64)
	return int64(n), err == nil
}

// dispatch hands c to every subscriber.
func (f *Feed) dispatch(c hosted.Change) {
	f.mu.Lock()
	subs := f.subs
	f.mu.Unlock()
	for _, fn := range subs {
		fn(c)
	}
}

// pruneEvery is how often each process prunes old records.
const pruneEvery = time.Minute

// Run follows the feed until ctx ends, handing every change recorded by
// another process to the subscribers, and prunes old records. A Local
// feed has nothing to follow: Run waits for ctx.
func (f *Feed) Run(ctx context.Context) {
	if f.opts.Local {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	p := time.NewTicker(pruneEvery)
	defer p.Stop()
	fl := follower{from: f.opts.Now().Add(-f.opts.Window).UnixNano(), ok: f.opts.Now()}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.step(ctx, &fl)
		case <-p.C:
			if _, err := f.Prune(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("change feed: prune", "error", err)
			}
		}
	}
}

// follower is Run's position in the feed.
type follower struct {
	from     int64     // where the next read starts, unix nanoseconds
	ok       time.Time // start of the last successful read
	purged   time.Time // last ChangeAll sent while the feed was unreadable
	failing  bool
	lastWarn time.Time
}

// step reads the feed once, and purges the subscribers when it has been
// unreadable for longer than Stale.
func (f *Feed) step(ctx context.Context, fl *follower) {
	start := f.opts.Now()
	err := f.read(ctx, fl.from)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if !fl.failing || start.Sub(fl.lastWarn) > time.Minute {
			f.log.Warn("change feed: cannot read", "error", err)
			fl.lastWarn = start
		}
		fl.failing = true
		if start.Sub(fl.ok) > f.opts.Stale && start.Sub(fl.purged) > f.opts.Stale {
			f.purge()
			fl.purged = start
		}
		return
	}
	if fl.failing {
		fl.failing = false
		if !fl.purged.IsZero() {
			// What was cached while the feed was unreadable was read
			// from a store whose changes this process may have missed.
			f.log.Info("change feed: readable again")
			f.purge()
			fl.purged = time.Time{}
		}
	}
	fl.ok = start
	fl.from = start.Add(-f.opts.Window).UnixNano()
	f.forget(fl.from)
}

// purge hands every subscriber ChangeAll.
func (f *Feed) purge() {
	f.purges.Inc()
	f.dispatch(hosted.Change{Kind: hosted.ChangeAll})
}

// read hands on every change recorded from time from that was not handed
// on yet.
func (f *Feed) read(ctx context.Context, from int64) error {
	// A read slower than the bound fails: the subscribers are purged on
	// time, not when a hung store finally answers.
	ctx, cancel := context.WithTimeout(ctx, f.opts.Stale)
	defer cancel()
	q := hosted.Query{After: cursor(from), Limit: hosted.MaxPage}
	for {
		recs, next, err := f.s.Query(ctx, Collection, q)
		if err != nil {
			return err
		}
		now := f.opts.Now()
		for _, r := range recs {
			at, ok := idTime(r.ID)
			if !ok {
				continue
			}
			f.mu.Lock()
			_, dup := f.seen[r.ID]
			if !dup {
				f.seen[r.ID] = at
			}
			f.mu.Unlock()
			if dup {
				continue
			}
			var c hosted.Change
			if err := json.Unmarshal(r.Data, &c); err != nil || c.Kind == "" || c.Kind == hosted.ChangeAll {
				f.log.Warn("change feed: record skipped", "id", r.ID, "error", err)
				continue
			}
			late := max(now.Sub(time.Unix(0, at)), 0)
			f.delay.Observe(late.Seconds())
			if f.log.Enabled(ctx, slog.LevelDebug) {
				f.log.Debug("change feed: change from another edge", "change", c.Kind, "protocol", c.Protocol, "name", c.Name, "delay", late)
			}
			f.dispatch(c)
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

// forget drops the remembered ids older than from: the next read starts
// after them.
func (f *Feed) forget(from int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, at := range f.seen {
		if at < from {
			delete(f.seen, id)
		}
	}
}

// Prune deletes the records older than Retain and reports how many it
// deleted. Processes pruning at once are harmless.
func (f *Feed) Prune(ctx context.Context) (int, error) {
	cut := f.opts.Now().Add(-f.opts.Retain).UnixNano()
	n := 0
	q := hosted.Query{Limit: hosted.MaxPage}
	for {
		recs, next, err := f.s.Query(ctx, Collection, q)
		if err != nil {
			return n, fault.Op("changes.Prune", err)
		}
		for _, r := range recs {
			if at, ok := idTime(r.ID); ok && at >= cut {
				return n, nil
			}
			if err := f.s.Delete(ctx, Collection, r.ID); err != nil {
				return n, fault.Op("changes.Prune", err)
			}
			n++
		}
		if next == "" {
			return n, nil
		}
		q.After = next
	}
}

var _ hosted.Notifier = (*Feed)(nil)
