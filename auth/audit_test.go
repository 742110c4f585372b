package auth

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestAuditor(t *testing.T) {
	st := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := NewAuditor(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 64)
	go a.Run(ctx)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := []Entry{
		{Time: t0, ActorUserID: "u1", Action: "auth.login", Outcome: "success"},
		{Time: t0.Add(time.Minute), ActorUserID: "u1", Action: "token.create", OrgID: "o1", Outcome: "success"},
		{Time: t0.Add(2 * time.Minute), ActorUserID: "u2", Action: "auth.login", Outcome: "failure"},
		{Time: t0.Add(3 * time.Minute), ActorTokenID: "t9", Action: "repo.delete", OrgID: "o1", Outcome: "success"},
		{Time: t0.Add(4 * time.Minute), ActorUserID: "u1", Action: "auth.login", Outcome: "success"},
	}
	for _, e := range entries {
		a.Record(e)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		f    AuditFilter
		want int
	}{
		{"all", AuditFilter{}, 5},
		{"actor", AuditFilter{Actor: "u1"}, 3},
		{"token actor", AuditFilter{Actor: "t9"}, 1},
		{"org", AuditFilter{Org: "o1"}, 2},
		{"action", AuditFilter{Action: "auth.login"}, 3},
		{"actor and action", AuditFilter{Actor: "u1", Action: "auth.login"}, 2},
		{"from", AuditFilter{From: t0.Add(2 * time.Minute)}, 3},
		{"to", AuditFilter{To: t0.Add(time.Minute)}, 2},
		{"actor in range", AuditFilter{Actor: "u1", From: t0.Add(30 * time.Second), To: t0.Add(5 * time.Minute)}, 2},
		{"org in range", AuditFilter{Org: "o1", From: t0.Add(2 * time.Minute)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, next, err := a.Query(ctx, c.f, Page{})
			if err != nil || len(got) != c.want || next != "" {
				t.Fatalf("Query = %d entries, next %q, %v; want %d", len(got), next, err, c.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Time.Before(got[i-1].Time) {
					t.Fatal("not oldest first")
				}
			}
		})
	}
	t.Run("paging", func(t *testing.T) {
		var all []Entry
		pg := Page{Limit: 2}
		for {
			got, next, err := a.Query(ctx, AuditFilter{}, pg)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, got...)
			if next == "" {
				break
			}
			pg.Cursor = next
		}
		if len(all) != 5 {
			t.Fatalf("paged %d entries, want 5", len(all))
		}
	})
}

func TestAuditorNeverBlocks(t *testing.T) {
	st := newStore(t)
	a := NewAuditor(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 4)
	done := make(chan struct{})
	go func() { // Run not started: the buffer fills and the rest is dropped
		for range 100 {
			a.Record(Entry{Action: "x", Outcome: "success"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked")
	}
	if a.Dropped() != 96 {
		t.Fatalf("dropped %d, want 96", a.Dropped())
	}
	// Close writes what was buffered.
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := a.Query(context.Background(), AuditFilter{}, Page{})
	if len(got) != 4 {
		t.Fatalf("%d entries written on Close, want 4", len(got))
	}
	a.Record(Entry{Action: "late"})
	if a.Dropped() != 97 {
		t.Fatal("a record after Close was not dropped")
	}
}

func TestAuditorRunStopsAndFlushes(t *testing.T) {
	st := newStore(t)
	a := NewAuditor(st, nil, 128)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { a.Run(ctx); close(stopped) }()
	for range 50 {
		a.Record(Entry{Action: "y", Outcome: "success"})
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-stopped
	got, _, _ := a.Query(context.Background(), AuditFilter{Action: "y"}, Page{})
	if len(got) != 50 || a.Dropped() != 0 {
		t.Fatalf("%d written, %d dropped; want 50, 0", len(got), a.Dropped())
	}
}
