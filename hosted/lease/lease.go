// Package lease hands out exclusive, expiring leases on keys, recorded in a
// hosted.Store so that every process sharing the store (every edge on one
// MongoDB) agrees on who holds what.
//
// A lease is one record per key: its holder's token and the time it lapses.
// Acquire creates it (Create of one id is atomic on every backend, so of
// two racing acquirers exactly one wins) or takes over one that has lapsed
// with a Replace at the revision it read (again exactly one wins). The
// holder renews it while it works (Keep: a heartbeat every TTL/3), so that
// a long job keeps it and a crashed holder's lease lapses within one TTL,
// and releases it when done.
//
// Expiry compares wall clocks of different machines: edges sharing a
// store must keep their clocks within a fraction of the TTL of each other
// (NTP does far better). Release deletes only a lease that has a third of
// its TTL left, so that nobody can have taken it over. A holder that
// crashed leaves its record behind until the next Acquire of that key takes
// it over: one small record per job in flight at the crash.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// record is the stored body of a lease.
type record struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// Options configure a Table. The zero value is usable.
type Options struct {
	// TTL is how long a lease lasts without renewal (default 10s): the
	// longest a crashed holder keeps others waiting.
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Logger gets renewals that failed; nil means none.
	Logger *slog.Logger
}

// Table is a set of leases kept in one collection. It is safe for
// concurrent use; within one process, callers keep to one lease per key
// themselves (a Table does not queue its own acquirers).
type Table struct {
	s    hosted.Store
	c    hosted.Collection
	ttl  time.Duration
	now  func() time.Time
	log  *slog.Logger
	self string // prefix of this Table's holder tokens, for logs
}

// New returns the Table of leases kept in s's collection name.
func New(s hosted.Store, name string, opts Options) *Table {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Table{
		s:    s,
		c:    hosted.Collection{Name: name},
		ttl:  opts.TTL,
		now:  opts.Now,
		log:  opts.Logger,
		self: rand.Text()[:8],
	}
}

// TTL is the lifetime of a lease between renewals.
func (t *Table) TTL() time.Duration { return t.ttl }

// HeldError is the error of an Acquire that found the lease held; its
// kind is fault.Conflict.
type HeldError struct {
	Key     string
	Expires time.Time // when the holder's lease lapses unless renewed
}

func (e *HeldError) Error() string { return "lease " + e.Key + " is held" }

// Held reports whether err is an Acquire that found the lease held by
// someone else.
func Held(err error) bool {
	var h *HeldError
	return errors.As(err, &h)
}

// maxAcquireTries bounds Acquire's loop; every turn means the lease changed
// hands between two reads, which for one key is rare.
const maxAcquireTries = 4

// Acquire takes the lease on key if it is free or has lapsed, and returns
// it. A lease someone else holds is a Conflict wrapping a *HeldError
// (see Held); errors of other kinds are the store's.
func (t *Table) Acquire(ctx context.Context, key string) (*Lease, error) {
	const op = "lease.Acquire"
	l := &Lease{t: t, key: key, holder: t.self + "." + rand.Text()}
	for try := 0; try < maxAcquireTries; try++ {
		rec, expires, err := l.record()
		if err != nil {
			return nil, err
		}
		r, err := t.s.Create(ctx, t.c, rec)
		if err == nil {
			l.rev, l.expires = r.Rev, expires
			return l, nil
		}
		if !fault.Is(err, fault.Conflict) {
			return nil, fault.Op(op, err)
		}
		cur, held, err := t.read(ctx, key)
		switch {
		case fault.Is(err, fault.NotFound):
			continue // released in between: create again
		case err != nil:
			return nil, fault.Op(op, err)
		case t.now().Before(held.Expires):
			return nil, fault.Wrap(op, fault.Conflict, &HeldError{Key: key, Expires: held.Expires})
		}
		// Lapsed: take it over, unless someone else does first.
		r, err = t.s.Replace(ctx, t.c, rec, cur.Rev)
		if err == nil {
			t.log.Info("lease: took over a lapsed lease", "key", key, "from", held.Holder)
			l.rev, l.expires = r.Rev, expires
			return l, nil
		}
		if !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
			return nil, fault.Op(op, err)
		}
	}
	return nil, fault.Wrap(op, fault.Conflict, &HeldError{Key: key})
}

// Holding reports whether someone holds a lease on key that has not
// lapsed; errors are the store's.
func (t *Table) Holding(ctx context.Context, key string) (bool, error) {
	_, held, err := t.read(ctx, key)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, fault.Op("lease.Holding", err)
	}
	return t.now().Before(held.Expires), nil
}

// read returns key's record and body. A body that does not decode reads
// as lapsed, so that a damaged record is taken over rather than stuck.
func (t *Table) read(ctx context.Context, key string) (hosted.Record, record, error) {
	r, err := t.s.Get(ctx, t.c, key)
	if err != nil {
		return r, record{}, err
	}
	var body record
	if err := json.Unmarshal(r.Data, &body); err != nil {
		return r, record{}, nil
	}
	return r, body, nil
}

// Lease is one held lease. Its methods are safe for concurrent use.
type Lease struct {
	t      *Table
	key    string
	holder string

	mu      sync.Mutex
	rev     uint64    // of the last write, ours
	expires time.Time // as last written; zero once lost or released
}

// record returns the lease's record lapsing one TTL from now.
func (l *Lease) record() (hosted.Record, time.Time, error) {
	expires := l.t.now().Add(l.t.ttl)
	data, err := json.Marshal(record{Holder: l.holder, Expires: expires})
	if err != nil {
		return hosted.Record{}, time.Time{}, fault.Wrap("lease.record", fault.Internal, err)
	}
	return hosted.Record{ID: l.key, Data: data}, expires, nil
}

// Renew pushes the lease's expiry one TTL from now. A lease taken over or
// removed meanwhile (it lapsed) is lost: Conflict, and it stays lost.
// Other errors are the store's, and the lease may still be renewed before
// it lapses.
func (l *Lease) Renew(ctx context.Context) error {
	const op = "lease.Renew"
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.expires.IsZero() {
		return fault.Newf(op, fault.Conflict, "lease %s was lost or released", l.key)
	}
	rec, expires, err := l.record()
	if err != nil {
		return err
	}
	r, err := l.t.s.Replace(ctx, l.t.c, rec, l.rev)
	if fault.Is(err, fault.Conflict) || fault.Is(err, fault.NotFound) {
		l.expires = time.Time{}
		return fault.WrapMsg(op, fault.Conflict, "lease "+l.key+" was lost", err)
	}
	if err != nil {
		return fault.Op(op, err)
	}
	l.rev, l.expires = r.Rev, expires
	return nil
}

// Keep renews the lease every TTL/3 until the returned stop is called
// (which waits for a renewal under way) or the lease is lost. Renewals run
// under ctx's values without its cancellation (the caller's request may
// end while the work goes on), each bounded by TTL/3 so that one slow
// store call cannot hold up the next renewal.
func (l *Lease) Keep(ctx context.Context) (stop func()) {
	ctx = context.WithoutCancel(ctx)
	every := l.t.ttl / 3
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			rctx, cancel := context.WithTimeout(ctx, every)
			err := l.Renew(rctx)
			cancel()
			if fault.Is(err, fault.Conflict) {
				l.t.log.Warn("lease: lost while held", "key", l.key, "err", err)
				return
			}
			if err != nil {
				l.t.log.Warn("lease: renewal failed", "key", l.key, "err", err)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-exited })
	}
}

// Release gives the lease up, so that the next Acquire of its key succeeds
// at once. A lease that is lost, or too close to lapsing for a delete to be
// safe, is left to lapse. Errors are the store's; the lease then lapses by
// itself. Releasing twice does nothing.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	expires := l.expires
	l.expires = time.Time{}
	if expires.IsZero() || !l.t.now().Add(l.t.ttl/3).Before(expires) {
		return nil
	}
	return fault.Op("lease.Release", l.t.s.Delete(ctx, l.t.c, l.key))
}
