// Package changes is the change feed: every change to the system of
// record that a cache may hold an older view of (hosted.Change) is
// recorded once in the "changes" collection of any hosted.Store, and
// every process sharing the store follows the collection and hands each
// change to its subscribers, which drop what they hold of it. It needs no
// backend support beyond the Store contract: bbolt and MongoDB (FerretDB,
// which has no change streams) alike.
//
// Each process writes one document of its own, named by a random writer
// id: its changes of the last Keep, numbered 1, 2, 3... Concurrent
// changes are written together (group commit), and no two processes ever
// write one document, so nothing depends on atomic read-modify-write
// across processes. A follower reads the whole collection (a document per
// running edge, so the read is small and costs the same on a backend that
// scans, as FerretDB v1 does) every Interval, and hands on the changes
// numbered above the last it saw from each writer: each change reaches
// each subscriber once, in its writer's order, whatever the clocks say.
// A follower that finds a writer's numbers past the last it saw plus one
// has missed changes (it read nothing for longer than Keep).
//
// The bound: a change made on one process reaches every other one within
// Interval plus one read of the store. A follower that cannot read the
// feed for longer than Stale, or that missed changes, hands its
// subscribers hosted.ChangeAll (again every Stale while it cannot read,
// and once when it reads again): they drop everything they hold, so that
// nothing they guard (credentials, sessions, permissions, documents of
// deleted packages) outlives the bound on a process cut off from the
// feed. The document of a process that has written nothing for Retain
// (one that stopped) is deleted by whichever follower gets there first.
package changes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Collection holds the writers' documents; ids only, no keys.
var Collection = hosted.Collection{Name: "changes"}

// Options tune a Feed. The zero value takes the defaults.
type Options struct {
	// Interval is how often the feed is read (default 200ms,
	// CHANGE_FEED_INTERVAL): the main part of the bound within which a
	// change made elsewhere is seen.
	Interval time.Duration
	// Stale is how long the feed may go unread before the subscribers
	// drop everything (default 1s, at least twice Interval).
	Stale time.Duration
	// Keep is how long a writer keeps its changes in its document
	// (default 2s, at least twice Stale): a follower that read nothing
	// for longer may miss some, and then purges.
	Keep time.Duration
	// Retain is how long the document of a writer that writes no more is
	// kept (default 10 minutes).
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
	s      hosted.Store
	opts   Options
	log    *slog.Logger
	writer string // this process's document id

	mu   sync.Mutex
	subs []func(hosted.Change)

	// The writer's side: changes queue in pending; one Notify at a time
	// (flushing) moves them into doc and writes it, for every Notify
	// waiting (written is the last number stored, or given up on).
	wmu      sync.Mutex
	wcond    *sync.Cond
	seq      uint64
	pending  []entry
	flushing bool
	written  uint64
	dirty    bool      // the last write failed
	doc      writerDoc // only the flusher touches it
	rev      uint64    // doc's revision in the store, 0: not stored

	delay  prometheus.Observer
	purges prometheus.Counter
}

// writerDoc is one writer's document.
type writerDoc struct {
	At      int64   `json:"at"` // last written, unix nanoseconds, writer's clock
	Entries []entry `json:"e"`  // in order of Seq
}

// entry is one recorded change.
type entry struct {
	Seq uint64 `json:"q"`
	At  int64  `json:"t"` // unix nanoseconds, writer's clock
	hosted.Change
}

// New returns a feed over s. Nothing is read until Run.
func New(s hosted.Store, opts Options) *Feed {
	if opts.Interval <= 0 {
		opts.Interval = 200 * time.Millisecond
	}
	if opts.Stale <= 0 {
		opts.Stale = time.Second
	}
	opts.Stale = max(opts.Stale, 2*opts.Interval)
	if opts.Keep <= 0 {
		opts.Keep = 2 * time.Second
	}
	opts.Keep = max(opts.Keep, 2*opts.Stale)
	if opts.Retain <= 0 {
		opts.Retain = 10 * time.Minute
	}
	opts.Retain = max(opts.Retain, 10*opts.Keep)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [12]byte
	rand.Read(id[:])
	f := &Feed{s: s, opts: opts, log: log, writer: "w-" + hex.EncodeToString(id[:])}
	f.wcond = sync.NewCond(&f.wmu)
	delay := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "entrepot_change_feed_delay_seconds",
		Help:    "Time from a change recorded by another process to its arrival here (writers' clocks).",
		Buckets: []float64{.05, .1, .2, .3, .5, .75, 1, 2, 5},
	})
	purges := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "entrepot_change_feed_purges_total",
		Help: "Times the caches were dropped because the change feed could not be followed within its bound.",
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

// writeTimeout bounds one write of the writer's document. A write that
// fails leaves the changes in memory, for the next write to carry.
const writeTimeout = 5 * time.Second

// Notify hands c to this process's subscribers and records it for the
// others, returning once it is stored (or its write failed, which is
// logged: the change happened, and is carried by the next write). Notifies
// made at once share one write. The write runs under ctx's values but
// not its cancellation: a client that leaves does not unmake the change.
func (f *Feed) Notify(ctx context.Context, c hosted.Change) {
	f.dispatch(c)
	if f.opts.Local {
		return
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.seq++
	mine := f.seq
	f.pending = append(f.pending, entry{Seq: mine, At: f.opts.Now().UnixNano(), Change: c})
	for f.written < mine {
		if f.flushing {
			f.wcond.Wait()
			continue
		}
		f.flushLocked(ctx)
	}
}

// flushLocked writes what is pending, for every Notify waiting. Call it
// with wmu held and no flush running; it returns with wmu held. A failed
// write leaves the changes in the document, for the next write (another
// Notify's, or Run's retry) to carry.
func (f *Feed) flushLocked(ctx context.Context) {
	f.flushing = true
	batch, last := f.pending, f.seq
	f.pending = nil
	f.wmu.Unlock()
	err := f.flush(ctx, batch)
	f.wmu.Lock()
	if err != nil {
		f.log.Warn("change feed: changes not recorded yet; the next write carries them", "changes", len(batch), "error", err)
	}
	f.dirty = err != nil
	f.flushing, f.written = false, last
	f.wcond.Broadcast()
}

// retry writes the document again after a failed write, so that changes
// are not left unrecorded when no other comes.
func (f *Feed) retry(ctx context.Context) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.dirty && !f.flushing {
		f.flushLocked(ctx)
	}
}

// flush adds batch to the writer's document, drops what is older than
// Keep, and stores it. Only one flush runs at a time.
func (f *Feed) flush(ctx context.Context, batch []entry) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	now := f.opts.Now().UnixNano()
	cut := now - int64(f.opts.Keep)
	kept := f.doc.Entries[:0]
	for _, e := range f.doc.Entries {
		if e.At >= cut {
			kept = append(kept, e)
		}
	}
	f.doc.Entries = append(kept, batch...)
	f.doc.At = now
	data, err := json.Marshal(f.doc)
	if err != nil {
		return fault.Wrap("changes.flush", fault.Internal, err)
	}
	for try := 0; try < 3; try++ {
		var r hosted.Record
		if f.rev == 0 {
			r, err = f.s.Create(ctx, Collection, hosted.Record{ID: f.writer, Data: data})
		} else {
			r, err = f.s.Replace(ctx, Collection, hosted.Record{ID: f.writer, Data: data}, f.rev)
		}
		switch {
		case err == nil:
			f.rev = r.Rev
			return nil
		case fault.Is(err, fault.NotFound): // pruned while idle: start again
			f.rev = 0
		case fault.Is(err, fault.Conflict): // our revision is unknown (a failed write that landed)
			cur, gerr := f.s.Get(ctx, Collection, f.writer)
			if gerr != nil && !fault.Is(gerr, fault.NotFound) {
				return gerr
			}
			f.rev = cur.Rev
		default:
			return err
		}
	}
	return err
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

// pruneEvery is how often each process prunes the documents of writers
// that stopped.
const pruneEvery = time.Minute

// Run follows the feed until ctx ends, handing every change recorded by
// another process to the subscribers, writes this process's document
// again after a failed write, and prunes stopped writers' documents. A Local feed has nothing to follow: Run waits for ctx.
func (f *Feed) Run(ctx context.Context) {
	if f.opts.Local {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(f.opts.Interval)
	defer t.Stop()
	fl := follower{last: map[string]uint64{}, ok: f.opts.Now()}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.retry(ctx)
			f.step(ctx, &fl)
		}
	}
}

// follower is Run's position in the feed.
type follower struct {
	last     map[string]uint64 // writer → last number handed on
	ok       time.Time         // start of the last successful read
	purged   time.Time         // last ChangeAll sent while the feed was unreadable
	failing  bool
	lastWarn time.Time
	pruned   time.Time
}

// step reads the feed once, and purges the subscribers when it has been
// unreadable for longer than Stale.
func (f *Feed) step(ctx context.Context, fl *follower) {
	start := f.opts.Now()
	err := f.read(ctx, fl, start.Sub(fl.pruned) > pruneEvery)
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
			f.purge("unreadable")
			fl.purged = start
		}
		return
	}
	if start.Sub(fl.pruned) > pruneEvery {
		fl.pruned = start
	}
	if fl.failing {
		fl.failing = false
		if !fl.purged.IsZero() {
			// What was cached while the feed was unreadable was read from
			// a store whose changes this process may have missed.
			f.log.Info("change feed: readable again")
			f.purge("readable again")
			fl.purged = time.Time{}
		}
	}
	fl.ok = start
}

// purge hands every subscriber ChangeAll.
func (f *Feed) purge(why string) {
	f.purges.Inc()
	f.log.Info("change feed: caches dropped", "why", why)
	f.dispatch(hosted.Change{Kind: hosted.ChangeAll})
}

// read hands on every change recorded by another writer since the last
// read, and deletes stopped writers' documents when prune is set.
func (f *Feed) read(ctx context.Context, fl *follower, prune bool) error {
	// A read slower than the bound fails: the subscribers are purged on
	// time, not when a hung store finally answers.
	ctx, cancel := context.WithTimeout(ctx, f.opts.Stale)
	defer cancel()
	now := f.opts.Now()
	seen := map[string]bool{}
	missed := false
	q := hosted.Query{Limit: hosted.MaxPage}
	for {
		recs, next, err := f.s.Query(ctx, Collection, q)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.ID == f.writer || !strings.HasPrefix(r.ID, "w-") {
				continue
			}
			var d writerDoc
			if err := json.Unmarshal(r.Data, &d); err != nil {
				f.log.Warn("change feed: document skipped", "writer", r.ID, "error", err)
				continue
			}
			seen[r.ID] = true
			if prune && now.Sub(time.Unix(0, d.At)) > f.opts.Retain {
				if err := f.s.Delete(ctx, Collection, r.ID); err != nil {
					return err
				}
				continue
			}
			if f.follow(fl, r.ID, d, now) {
				missed = true
			}
		}
		if next == "" {
			break
		}
		q.After = next
	}
	for w := range fl.last {
		if !seen[w] {
			delete(fl.last, w)
		}
	}
	if missed {
		f.purge("changes missed")
	}
	return nil
}

// follow hands on the entries of writer's document d past the last one
// seen, and reports whether some were missed (dropped by the writer
// before this follower read them).
func (f *Feed) follow(fl *follower, writer string, d writerDoc, now time.Time) (missed bool) {
	if len(d.Entries) == 0 {
		return false
	}
	last, known := fl.last[writer]
	top := d.Entries[len(d.Entries)-1].Seq
	if known && top < last { // not ours to judge: a writer counts up
		fl.last[writer] = top
		return false
	}
	missed = known && d.Entries[0].Seq > last+1
	for _, e := range d.Entries {
		if known && e.Seq <= last {
			continue
		}
		if e.Kind == "" || e.Kind == hosted.ChangeAll {
			continue
		}
		late := max(now.Sub(time.Unix(0, e.At)), 0)
		f.delay.Observe(late.Seconds())
		if f.log.Enabled(context.Background(), slog.LevelDebug) {
			f.log.Debug("change feed: change from another edge", "change", e.Kind, "protocol", e.Protocol, "name", e.Name, "delay", late)
		}
		f.dispatch(e.Change)
	}
	fl.last[writer] = top
	return missed
}

var _ hosted.Notifier = (*Feed)(nil)
