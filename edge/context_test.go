package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
)

// TestContext: a request's context carries its id and caller, has the
// request's budget as deadline (the upload budget with a body), is
// cancelled when the handler returns, and a context.WithoutCancel of it
// (what a stream read after the handler uses) is not.
func TestContext(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler), ReadTimeout: 7 * time.Second, UploadTimeout: 3 * time.Hour})
	got := make(chan context.Context, 2)
	var id string
	var deadline time.Duration
	var principal auth.Principal
	var seen bool
	s.Mux().Handle("POST", "/ctx", Route{Protocol: "edge", Name: "ctx"}, func(ctx *fasthttp.RequestCtx) error {
		c := Context(ctx)
		(&Registry{}).Assume(ctx, auth.Principal{UserID: "u1"})
		id = RequestIDOf(c)
		d, _ := c.Deadline()
		deadline = time.Until(d)
		principal, seen = PrincipalOf(c)
		if c.Err() != nil {
			return errors.New("cancelled while the handler runs")
		}
		got <- c
		got <- context.WithoutCancel(c)
		return nil
	})
	c := testServer(t, s)
	resp, b := do(t, c, "POST", "/ctx", strings.NewReader("body"), "X-Request-Id", "req-1")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if id != "req-1" || !seen || principal.UserID != "u1" {
		t.Fatalf("request id %q, principal %+v (%v)", id, principal, seen)
	}
	if deadline < time.Hour || deadline > 3*time.Hour {
		t.Fatalf("a request with a body has the upload budget as deadline: %v", deadline)
	}
	ctx, detached := <-got, <-got
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the request's context is not cancelled once the handler returned")
	}
	if detached.Err() != nil || RequestIDOf(detached) != "req-1" {
		t.Fatalf("WithoutCancel: err %v, id %q", detached.Err(), RequestIDOf(detached))
	}
}

// TestCachedWait: a fill that outlasts the read deadline is waited for
// and served, not answered 504: the wait runs without the request's
// deadline, and the time waited moves that deadline, so that the store
// calls after it still have the request's budget.
func TestCachedWait(t *testing.T) {
	dir := t.TempDir()
	meta, err := bolt.Open(filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close(context.Background()) })
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	r := &Registry{Blobs: blobs, Cache: cache.New(meta, blobs, cache.Options{Logger: log})}
	const read, fill = 300 * time.Millisecond, 1500 * time.Millisecond
	s := New(Config{Logger: log, ReadTimeout: read})
	var moved time.Duration
	legacy := 0
	s.Mux().Handle("GET", "/slow", Route{Protocol: "edge", Name: "slow"}, func(ctx *fasthttp.RequestCtx) error {
		c := Context(ctx)
		before, _ := c.Deadline()
		e, err := r.Cached(c, cache.Request{Key: "test/slow", Fetch: func(_ context.Context, _ *cache.Entry, w blob.Writer) (cache.Result, error) {
			time.Sleep(fill)
			_, err := w.Write([]byte("filled slowly"))
			return cache.Result{}, err
		}}, func() string { legacy++; return "test:slow" })
		if err != nil {
			return err
		}
		after, _ := c.Deadline()
		moved = after.Sub(before)
		if c.Err() != nil {
			return fmt.Errorf("the request's context ended while it waited: %w", c.Err())
		}
		return ServeBlob(ctx, blobs, Blob{Digest: e.Digest})
	})
	c := testServer(t, s)
	for i := range 2 {
		resp, b := do(t, c, "GET", "/slow", nil)
		if resp.StatusCode != 200 || string(b) != "filled slowly" {
			t.Fatalf("GET %d: %d %s", i, resp.StatusCode, b)
		}
		if i == 0 {
			t.Logf("the deadline moved by %v after a fill of %v (read budget %v)", moved, fill, read)
			if moved < fill {
				t.Fatalf("the deadline moved by %v only, after a wait of %v", moved, fill)
			}
		}
	}
	if legacy != 1 {
		t.Fatalf("the legacy key was built %d times, want once (on the miss only)", legacy)
	}
}

// TestStreamContext: a body fasthttp reads after the handler returns is
// read under a context that is alive while it streams (the request's has
// ended) and is cancelled once the stream is closed.
func TestStreamContext(t *testing.T) {
	blobs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := blobs.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("streamed ", 4096)
	w.Write([]byte(want))
	info, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := &openRecorder{Store: blobs, opened: make(chan context.Context, 1)}
	s := New(Config{Logger: slog.New(slog.DiscardHandler)})
	s.Mux().Handle("GET", "/blob", Route{Protocol: "edge", Name: "blob"}, func(ctx *fasthttp.RequestCtx) error {
		return ServeBlob(ctx, st, Blob{Digest: info.Digest})
	})
	c := testServer(t, s)
	resp, b := do(t, c, "GET", "/blob", nil, "X-Request-Id", "req-s")
	if resp.StatusCode != 200 || string(b) != want {
		t.Fatalf("%d, %d bytes", resp.StatusCode, len(b))
	}
	sc := <-st.opened
	if RequestIDOf(sc) != "req-s" {
		t.Fatalf("the stream's context has request id %q", RequestIDOf(sc))
	}
	select {
	case <-sc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's context is not cancelled once the body was sent")
	}
}

// openRecorder is a blob store without FileOpener (as S3 is), which
// records the context of its reads, checking it is alive while read.
type openRecorder struct {
	blob.Store
	opened chan context.Context
}

func (o *openRecorder) Open(ctx context.Context, d blob.Digest, offset, length int64) (io.ReadCloser, error) {
	o.opened <- ctx
	rc, err := o.Store.Open(ctx, d, offset, length)
	if err != nil {
		return nil, err
	}
	return &aliveReader{ReadCloser: rc, ctx: ctx}, nil
}

type aliveReader struct {
	io.ReadCloser
	ctx context.Context
}

func (a *aliveReader) Read(p []byte) (int, error) {
	if err := a.ctx.Err(); err != nil {
		return 0, err
	}
	return a.ReadCloser.Read(p)
}
