package cache

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"golang.org/x/sync/singleflight"

	"entrepot/hosted/fault"
)

// A Filler runs fill, the work that brings key into the cache, and returns
// its Entry. Wrappers add one concern each (deduplication, a concurrency
// limit, later a cross-node lease) around the plain call; the Cache
// composes them once, in New.
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

var (
	_ Filler = direct{}
	_ Filler = FillerFunc(nil)
)
