package cache

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"golang.org/x/sync/singleflight"

	"entrepot/hosted/fault"
	"entrepot/hosted/lease"
)

// A Filler runs fill, the work that brings key into the cache, and returns
// its Entry. Wrappers add one concern each (deduplication within the
// process, a lease across the processes sharing the store, a concurrency
// limit) around the plain call; the Cache composes them once, in New.
type Filler interface {
	Fill(ctx context.Context, key string, fill FillFunc) (Entry, error)
}

// FillFunc does one fill under ctx.
type FillFunc func(ctx context.Context) (Entry, error)

// FillerFunc adapts a function to Filler.
type FillerFunc func(ctx context.Context, key string, fill FillFunc) (Entry, error)

// Fill calls f.
func (f FillerFunc) Fill(ctx context.Context, key string, fill FillFunc) (Entry, error) {
	return f(ctx, key, fill)
}

// direct runs every fill at once, in the caller's goroutine: the innermost
// Filler.
type direct struct{}

func (direct) Fill(ctx context.Context, _ string, fill FillFunc) (Entry, error) { return fill(ctx) }

// WithLimit lets at most n fills through next at a time; the others wait
// for a slot while their ctx allows, then fail with Unavailable.
func WithLimit(next Filler, n int) Filler {
	slots := make(chan struct{}, max(n, 1))
	return FillerFunc(func(ctx context.Context, key string, fill FillFunc) (Entry, error) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return Entry{}, fault.WrapMsg("cache.WithLimit", fault.Unavailable,
				fmt.Sprintf("no fill slot for %s: %d fills in progress", key, cap(slots)), ctx.Err())
		}
		defer func() { <-slots }()
		return next.Fill(ctx, key, fill)
	})
}

// errWaitTimeout marks a waiter that gave up after WaitTimeout, as opposed
// to one whose own ctx ended. It is a deadline, which the edge answers
// with 504.
var errWaitTimeout = fmt.Errorf("wait timeout: %w", context.DeadlineExceeded)

// WithSingleflight makes concurrent fills of one key a single flight
// through next, whose Entry every waiter gets.
//
// The flight belongs to nobody's request: it runs under the first caller's
// context values without its cancellation, bounded by fillTimeout, so that
// a client hanging up never wastes the work the others wait for. Each
// waiter waits on its own ctx and at most wait, and leaving never cancels
// the flight. A panic in the flight is recovered into an Internal error,
// because under singleflight's DoChan it would end the process.
//
// The key is forgotten as soon as the flight returns: the fill must check
// the store first, or a late arrival fills again.
func WithSingleflight(next Filler, wait, fillTimeout time.Duration, log *slog.Logger) Filler {
	var g singleflight.Group // one per wrapper, and so per Cache
	return FillerFunc(func(ctx context.Context, key string, fill FillFunc) (Entry, error) {
		const op = "cache.WithSingleflight"
		ch := g.DoChan(key, func() (v any, err error) {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillTimeout)
			defer cancel()
			defer func() {
				if p := recover(); p != nil {
					log.Error("cache: panic in fill", "key", key, "panic", p, "stack", string(debug.Stack()))
					v, err = Entry{}, fault.Newf(op, fault.Internal, "panic in fill of %s: %v", key, p)
				}
			}()
			return next.Fill(fctx, key, fill)
		})
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case res := <-ch:
			e, _ := res.Val.(Entry)
			return e, res.Err
		case <-ctx.Done():
			return Entry{}, fault.WrapMsg(op, fault.Unavailable, "gave up waiting for "+key, ctx.Err())
		case <-t.C:
			return Entry{}, fault.Wrap(op, fault.Unavailable, fmt.Errorf("fill of %s still running after %s: %w", key, wait, errWaitTimeout))
		}
	})
}

// Waiting for another process's fill polls from firstPoll, doubling up to
// maxPoll: the added latency of a waiter is at most about maxPoll, and one
// poller per key per process (singleflight in front) keeps the store's load
// at one read per maxPoll.
const (
	firstPoll = 5 * time.Millisecond
	maxPoll   = 50 * time.Millisecond
	// releaseTimeout bounds giving a lease back after the fill's own
	// deadline may have passed; an unreleased lease lapses by itself.
	releaseTimeout = 5 * time.Second
)

// WithLease makes concurrent fills of one key by every Cache sharing the
// store one fill: each runs next only while holding the key's lease in
// leases, renewed while it runs (so a crashed holder's lapses within the
// lease TTL) and released after.
//
// A fill that finds the lease held waits under its own ctx, polling the
// lease with backoff until it is released or lapses. Then, if settled
// reports that the store holds a fresh answer for key (the holder saves
// its record, or its 404, before releasing), it is done; otherwise the
// holder failed, and it tries to take the lease itself (one waiter wins;
// the others wait on). Either way it then runs next, whose fill
// checks the store first and so serves the stored copy without asking the
// upstream (a stored answer this fill cannot use, bytes other than the ones
// it wants, is fetched again, without the lease). When the lease cannot be
// read or written (the store fails), it fills without one: coalescing is
// an optimisation, the fill is not.
//
// Within one process, WithSingleflight in front makes one lease per key.
func WithLease(next Filler, leases *lease.Table, settled func(ctx context.Context, key string) (bool, error), log *slog.Logger) Filler {
	return FillerFunc(func(ctx context.Context, key string, fill FillFunc) (Entry, error) {
		const op = "cache.WithLease"
		pause := firstPoll
		for {
			l, err := leases.Acquire(ctx, key)
			if err == nil {
				return holding(ctx, l, log, func() (Entry, error) { return next.Fill(ctx, key, fill) })
			}
			if !lease.Held(err) {
				log.Warn("cache: no fill lease, filling without one", "key", key, "err", err)
				return next.Fill(ctx, key, fill)
			}
			// Another process fills key: wait for the end of its lease.
			for held := true; held; {
				t := time.NewTimer(pause)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return Entry{}, fault.WrapMsg(op, fault.Unavailable, "gave up waiting for another node's fill of "+key, ctx.Err())
				}
				pause = min(2*pause, maxPoll)
				if held, err = leases.Holding(ctx, key); err != nil {
					held = false // Acquire says what the store's trouble is
				}
			}
			if done, err := settled(ctx, key); err == nil && done {
				return next.Fill(ctx, key, fill)
			}
		}
	})
}

// holding runs fill while keeping l, and releases l after.
func holding(ctx context.Context, l *lease.Lease, log *slog.Logger, fill func() (Entry, error)) (Entry, error) {
	stop := l.Keep(ctx)
	defer func() {
		stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := l.Release(rctx); err != nil {
			log.Warn("cache: fill lease not released; it lapses by itself", "err", err)
		}
	}()
	return fill()
}

var (
	_ Filler = direct{}
	_ Filler = FillerFunc(nil)
)
