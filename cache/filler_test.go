package cache

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"entrepot/hosted/fault"
)

var discard = slog.New(slog.DiscardHandler)

func TestWithLimit(t *testing.T) {
	f := WithLimit(direct{}, 2)
	release := make(chan struct{})
	running := make(chan struct{}, 2)
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := f.Fill(context.Background(), "k", func(context.Context) (Entry, error) {
				running <- struct{}{}
				<-release
				return Entry{}, nil
			})
			done <- err
		}()
	}
	<-running
	<-running

	// Both slots are held: a fill whose ctx has ended gets none.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.Fill(ctx, "k3", func(context.Context) (Entry, error) {
		t.Error("a third fill ran while both slots were held")
		return Entry{}, nil
	})
	if !fault.Is(err, fault.Unavailable) {
		t.Fatalf("third fill: %v, want Unavailable", err)
	}

	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Fill(context.Background(), "k4", func(context.Context) (Entry, error) { return Entry{}, nil }); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestWithSingleflightDetachesAndRecovers(t *testing.T) {
	f := WithSingleflight(direct{}, time.Minute, time.Minute, discard)

	// A leader whose ctx is already cancelled still gets a live flight.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	flightCtx := make(chan error, 1)
	f.Fill(ctx, "k", func(fctx context.Context) (Entry, error) {
		flightCtx <- fctx.Err()
		return Entry{}, nil
	})
	if err := <-flightCtx; err != nil {
		t.Fatalf("the flight inherited the caller's cancellation: %v", err)
	}

	_, err := f.Fill(context.Background(), "p", func(context.Context) (Entry, error) { panic("bug") })
	if !fault.Is(err, fault.Internal) {
		t.Fatalf("panicking fill: %v, want Internal", err)
	}
}
