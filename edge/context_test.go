package edge

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
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
