package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Entry is one audit record of a state change or a sign-in. Action is a
// dotted name without '/' ("auth.login", "token.create", "org.member.set");
// Target names what was acted on; Outcome is "success", "failure" or
// "denied". Detail is free text and must never hold a secret.
type Entry struct {
	Time         time.Time `json:"time"`
	ActorUserID  string    `json:"actorUserId,omitempty"`
	ActorTokenID string    `json:"actorTokenId,omitempty"`
	ClientIP     string    `json:"clientIp,omitempty"`
	UserAgent    string    `json:"userAgent,omitempty"`
	Action       string    `json:"action"`
	Target       string    `json:"target,omitempty"`
	OrgID        string    `json:"orgId,omitempty"`
	Outcome      string    `json:"outcome"`
	Detail       string    `json:"detail,omitempty"`
}

// actor is what the "actor" filter matches: the user, or the token when
// no user is known.
func (e Entry) actor() string {
	if e.ActorUserID != "" {
		return e.ActorUserID
	}
	return e.ActorTokenID
}

// Auditor writes audit entries without ever blocking the request path:
// Record puts an entry in a bounded buffer, and one goroutine (Run) writes
// the buffer to the store in order. When the buffer is full the entry is
// dropped, counted (Dropped) and logged. Safe for concurrent use.
type Auditor struct {
	store hosted.Store
	log   *slog.Logger
	ch    chan auditItem

	mu      sync.RWMutex
	closed  bool
	started bool
	done    chan struct{} // closed when Run returns

	dropped  atomic.Uint64
	failed   atomic.Uint64
	lastWarn atomic.Int64 // unix seconds of the last drop warning
}

type auditItem struct {
	e     Entry
	flush chan struct{} // a Flush marker instead of an entry
}

// NewAuditor returns an Auditor over store buffering up to buffer entries
// (default 4096), logging to log (default slog.Default()). Start Run.
func NewAuditor(store hosted.Store, log *slog.Logger, buffer int) *Auditor {
	if buffer <= 0 {
		buffer = 4096
	}
	if log == nil {
		log = slog.Default()
	}
	return &Auditor{store: store, log: log, ch: make(chan auditItem, buffer), done: make(chan struct{})}
}

// Record queues e, stamping its time when zero. It never blocks: with the
// buffer full or the Auditor closed, e is dropped and counted.
func (a *Auditor) Record(e Entry) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC()
	a.mu.RLock()
	sent := false
	if !a.closed {
		select {
		case a.ch <- auditItem{e: e}:
			sent = true
		default:
		}
	}
	a.mu.RUnlock()
	if !sent {
		n := a.dropped.Add(1)
		// One warning a second at most: a flood of drops must not become a
		// flood of log lines.
		now := time.Now().Unix()
		if last := a.lastWarn.Load(); now > last && a.lastWarn.CompareAndSwap(last, now) {
			a.log.Warn("audit entry dropped", "action", e.Action, "target", e.Target, "dropped_total", n)
		}
	}
}

// Dropped returns how many entries were dropped for a full buffer or after
// Close; Failed how many the store refused.
func (a *Auditor) Dropped() uint64 { return a.dropped.Load() }

// Failed returns how many entries the store failed to write (each logged).
func (a *Auditor) Failed() uint64 { return a.failed.Load() }

// Run writes queued entries until Close or until ctx ends; then it writes
// what is still buffered under a short detached deadline and returns. Call
// it once, in its own goroutine.
func (a *Auditor) Run(ctx context.Context) {
	a.mu.Lock()
	if a.started || a.closed {
		a.mu.Unlock()
		return
	}
	a.started = true
	a.mu.Unlock()
	defer close(a.done)
	for {
		select {
		case it, ok := <-a.ch:
			if !ok {
				return
			}
			a.handle(ctx, it)
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			for {
				select {
				case it, ok := <-a.ch:
					if !ok {
						return
					}
					a.handle(dctx, it)
				default:
					return
				}
			}
		}
	}
}

func (a *Auditor) handle(ctx context.Context, it auditItem) {
	if it.flush != nil {
		close(it.flush)
		return
	}
	if err := a.write(ctx, it.e); err != nil {
		a.failed.Add(1)
		a.log.Error("audit write failed", "action", it.e.Action, "target", it.e.Target, "err", err)
	}
}

// auditID orders entries by time: 16 hex digits of nanoseconds, then
// random bits so that equal times do not collide.
func auditID(t time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%016x-%s", t.UnixNano(), hex.EncodeToString(b[:]))
}

func timePrefix(t time.Time) string { return fmt.Sprintf("%016x", t.UnixNano()) }

func (a *Auditor) write(ctx context.Context, e Entry) error {
	id := auditID(e.Time)
	keys := map[string]string{"action": e.Action + "/" + id}
	if actor := e.actor(); actor != "" {
		keys["actor"] = actor + "/" + id
	}
	if e.OrgID != "" {
		keys["org"] = e.OrgID + "/" + id
	}
	_, err := hosted.CreateJSON(ctx, a.store, auditC, id, keys, e)
	return err
}

// Flush returns once every entry recorded before the call is written, or
// with ctx's error. It needs Run to be running.
func (a *Auditor) Flush(ctx context.Context) error {
	const op = "auth.Auditor.Flush"
	done := make(chan struct{})
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return fault.New(op, fault.Unavailable, "auditor closed")
	}
	select {
	case a.ch <- auditItem{flush: done}:
	case <-ctx.Done():
	case <-a.done:
	}
	a.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-a.done:
		return fault.New(op, fault.Unavailable, "auditor stopped")
	case <-ctx.Done():
		return fault.Wrap(op, fault.Unavailable, ctx.Err())
	}
}

// Close stops intake (later entries are dropped), lets Run write what is
// buffered and waits for it, or writes the buffer itself when Run never
// started. It returns ctx's error when ctx ends first.
func (a *Auditor) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	started := a.started
	close(a.ch)
	a.mu.Unlock()
	if started {
		select {
		case <-a.done:
		case <-ctx.Done():
			return fault.Wrap("auth.Auditor.Close", fault.Unavailable, ctx.Err())
		}
	}
	for it := range a.ch { // what Run left, or everything when it never ran
		a.handle(ctx, it)
	}
	return nil
}

// AuditFilter selects entries; zero fields select everything. From and To
// bound the time, both inclusive.
type AuditFilter struct {
	Actor  string // user id, or token id for token-only actors
	Org    string
	Action string
	From   time.Time
	To     time.Time
}

// Query returns a page of entries matching f, oldest first, and the cursor
// of the next page ("" at the end). It scans the most selective index
// (actor, then organization, then action, else time) from f.From on, and
// stops at f.To. Who may see which entries is the caller's check.
func (a *Auditor) Query(ctx context.Context, f AuditFilter, pg Page) ([]Entry, string, error) {
	const op = "auth.Auditor.Query"
	var key, prefix string
	switch {
	case f.Actor != "":
		key, prefix = "actor", f.Actor+"/"
	case f.Org != "":
		key, prefix = "org", f.Org+"/"
	case f.Action != "":
		key, prefix = "action", f.Action+"/"
	}
	after := pg.Cursor
	if after == "" && !f.From.IsZero() {
		after = hosted.Cursor(hosted.Record{Keys: map[string]string{key: prefix + timePrefix(f.From)}}, key)
		if key == "" {
			after = timePrefix(f.From)
		}
	}
	limit := pg.Limit
	if limit <= 0 || limit > hosted.MaxPage {
		limit = 100
	}
	var out []Entry
	for {
		recs, next, err := a.store.Query(ctx, auditC, hosted.Query{Key: key, Prefix: prefix, After: after, Limit: limit})
		if err != nil {
			return nil, "", fault.Op(op, err)
		}
		for _, r := range recs {
			var e Entry
			if err := unmarshal(op, r.Data, &e); err != nil {
				return nil, "", err
			}
			if !f.To.IsZero() && e.Time.After(f.To) {
				return out, "", nil
			}
			if (f.Actor == "" || e.actor() == f.Actor) && (f.Org == "" || e.OrgID == f.Org) &&
				(f.Action == "" || e.Action == f.Action) && (f.From.IsZero() || !e.Time.Before(f.From)) {
				out = append(out, e)
				if len(out) == limit {
					return out, hosted.Cursor(r, key), nil
				}
			}
		}
		if next == "" {
			return out, "", nil
		}
		after = next
	}
}
