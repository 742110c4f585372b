package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// ThrottleConfig tunes login throttling. Zero fields take the defaults.
type ThrottleConfig struct {
	// Failures is how many consecutive failures a key may have before
	// attempts are refused; default 5.
	Failures int
	// Base is the first lock-out, doubled on every further failure up to
	// Max; defaults 1s and 15 minutes.
	Base, Max time.Duration
	// Forget drops a key's failures after this long without one; default
	// 1 hour.
	Forget time.Duration
	// Size bounds the number of keys tracked (LRU); default 100000.
	Size int
}

// Throttle counts consecutive failed sign-ins per key (an account, a client
// address) and refuses attempts while a key is locked out: after Failures
// failures, for Base, then 2×Base, 4×Base… capped at Max. Safe for
// concurrent use.
//
// A shared Throttle (NewSharedThrottle) keeps the counts in the store, so
// that every edge on one database counts the same guesses: a failure is an
// atomic read-modify-write of the key's record (compare-and-swap on its
// revision, retried), each record carries its expiry and expired ones are
// pruned. Memory holds a copy of what the store said, bounded by an LRU:
// a key this process knows to be locked is refused without asking the
// store, and a lock is never lifted early by what the store says. Store
// calls run under their own short deadline, not a request's (a guess must
// count even when the guesser hangs up); when the store fails, the
// Throttle goes on with what this process knows.
type Throttle struct {
	cfg    ThrottleConfig
	store  hosted.Store // nil: this process only
	secret []byte       // keys the store's record ids
	mu     sync.Mutex
	states *lru.Cache[string, *failState]
	now    func() time.Time
	pruned time.Time // last prune of the store's expired records; guarded by mu
}

// failState is one key's count, in memory and, as JSON, in the store. A
// trusted pair (an address an account signed in from) is a state without
// failures.
type failState struct {
	Failures int       `json:"failures,omitempty"`
	Last     time.Time `json:"last"`           // last failure, or the sign-in that trusted a pair
	Until    time.Time `json:"until,omitzero"` // refused before this
}

// throttleC holds a shared Throttle's states: the id is a digest of the
// key (Throttle.id), "expires" when the record may be forgotten
// (hosted.ExpiryKey), for pruning.
var throttleC = hosted.Collection{Name: "auth_throttle", Index: []string{"expires"}}

const (
	// throttleStoreTimeout bounds a shared Throttle's whole update of one
	// key, retries included: guesses sent in parallel all contend for one
	// record, and each must still be counted on a loaded store.
	throttleStoreTimeout = 5 * time.Second
	// maxThrottleTries bounds a failure's compare-and-swap loop; every turn
	// means another attempt counted a failure of the same key meanwhile
	// (guesses sent in parallel), and each turn lets one writer through.
	maxThrottleTries = 64
	// trustFor is how long a shared Throttle remembers that an account
	// signed in from an address; signing in again renews it, at most once
	// per trustRenew.
	trustFor   = 30 * 24 * time.Hour
	trustRenew = time.Hour
	// pruneEvery is how often a shared Throttle deletes expired records.
	pruneEvery = 10 * time.Minute
)

// NewThrottle returns a Throttle with cfg's zero fields defaulted, keeping
// its state in this process's memory.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Failures <= 0 {
		cfg.Failures = 5
	}
	if cfg.Base <= 0 {
		cfg.Base = time.Second
	}
	if cfg.Max <= 0 {
		cfg.Max = 15 * time.Minute
	}
	if cfg.Forget <= 0 {
		cfg.Forget = time.Hour
	}
	if cfg.Size <= 0 {
		cfg.Size = 100000
	}
	states, _ := lru.New[string, *failState](cfg.Size)
	return &Throttle{cfg: cfg, states: states, now: time.Now}
}

// NewSharedThrottle returns a Throttle like NewThrottle's whose state is
// kept in s, shared by every Throttle on the same store with the same
// secret (which keys the digests its records are named by).
func NewSharedThrottle(s hosted.Store, secret []byte, cfg ThrottleConfig) *Throttle {
	t := NewThrottle(cfg)
	t.store, t.secret = s, secret
	return t
}

// ThrottleError is the error of a refused attempt. Its kind is
// fault.RateLimited; RetryAfter is what the edge puts in Retry-After.
type ThrottleError struct {
	RetryAfter time.Duration
	err        error
}

func (e *ThrottleError) Error() string { return e.err.Error() }
func (e *ThrottleError) Unwrap() error { return e.err }

// RetryAfter returns the wait a throttled error asks for, rounded up to
// whole seconds, and whether err is one.
func RetryAfter(err error) (time.Duration, bool) {
	var te *ThrottleError
	if !errors.As(err, &te) {
		return 0, false
	}
	return te.RetryAfter, true
}

// Check returns a *ThrottleError when any of keys is locked out, with the
// longest remaining wait, and nil otherwise. Empty keys are ignored.
func (t *Throttle) Check(keys ...string) error {
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if k == "" {
			continue
		}
		wait = max(wait, t.wait(t.state(k, now), now))
	}
	return throttled(wait)
}

// wait is how long st refuses attempts from now.
func (t *Throttle) wait(st failState, now time.Time) time.Duration {
	if now.Before(st.Until) {
		return st.Until.Sub(now)
	}
	return 0
}

// throttled is the error of a wait, nil for none.
func throttled(wait time.Duration) error {
	if wait == 0 {
		return nil
	}
	wait = wait.Round(time.Second)
	if wait < time.Second {
		wait = time.Second
	}
	return &ThrottleError{RetryAfter: wait, err: fault.New("auth.Throttle", fault.RateLimited,
		fmt.Sprintf("too many failed attempts; retry in %s", wait))}
}

// state returns what is known of key: the copy in memory when it locks
// the key (the fast path, which never lets a locked key through), else
// the store's, which then replaces the copy; with no store, or when the
// store fails, the copy.
func (t *Throttle) state(key string, now time.Time) failState {
	t.mu.Lock()
	var local failState
	if st, ok := t.states.Get(key); ok {
		local = *st
	}
	t.mu.Unlock()
	if t.store == nil || now.Before(local.Until) {
		return local
	}
	shared, found, err := t.load(key)
	if err != nil {
		return local
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !found {
		t.states.Remove(key)
		return failState{}
	}
	t.states.Add(key, &shared)
	return shared
}

// Fail records a failed attempt on each key.
func (t *Throttle) Fail(keys ...string) {
	now := t.now()
	for _, k := range keys {
		if k == "" {
			continue
		}
		t.mu.Lock()
		var local failState
		if st, ok := t.states.Get(k); ok {
			local = *st
		}
		st := t.bump(local, now)
		t.states.Add(k, &st)
		t.mu.Unlock()
		if t.store == nil {
			continue
		}
		shared, err := t.failShared(k, now)
		if err != nil {
			continue // counted here; the store missed this one
		}
		// The store's count is every edge's; a lock known here stays.
		shared.Until = later(shared.Until, st.Until)
		t.mu.Lock()
		t.states.Add(k, &shared)
		t.mu.Unlock()
	}
	t.prune(now)
}

// bump returns st after one more failure at now.
func (t *Throttle) bump(st failState, now time.Time) failState {
	if now.Sub(st.Last) > t.cfg.Forget {
		st = failState{}
	}
	st.Failures++
	st.Last = now
	if over := st.Failures - t.cfg.Failures; over >= 0 {
		d := t.cfg.Max
		if over < 30 && t.cfg.Base<<over < t.cfg.Max {
			d = t.cfg.Base << over
		}
		st.Until = now.Add(d)
	}
	return st
}

// Reset forgets the failures of keys, after a successful attempt.
func (t *Throttle) Reset(keys ...string) {
	t.mu.Lock()
	for _, k := range keys {
		t.states.Remove(k)
	}
	t.mu.Unlock()
	if t.store == nil {
		return
	}
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), throttleStoreTimeout)
		t.store.Delete(ctx, throttleC, t.id(k)) // failing, it lapses: at worst a stricter limit
		cancel()
	}
}

// The login guard. Every password sign-in (Login, Basic credentials on
// any protocol, an LDAP directory's sign-in) goes through Allow before the
// password is checked, then Failed or Succeeded.
//
// The client address is the hard key: an address that keeps failing is
// refused whatever account it names. The account is a soft key, against
// guessing spread over many addresses: once an account has failed too
// often it refuses only addresses that have been failing themselves and
// have not signed in to it successfully before, so that a correct
// password from anywhere else still signs in and a third party can never
// keep the owner locked out. Without an address (a caller that has none),
// the account key is hard.

// Allow returns a *ThrottleError when an attempt on login from clientIP
// must be refused now, and nil otherwise.
func (t *Throttle) Allow(login, clientIP string) error {
	account, address, pair := throttleKeys(login, clientIP)
	if address == "" {
		return t.Check(account)
	}
	now := t.now()
	st := t.state(address, now)
	if err := throttled(t.wait(st, now)); err != nil {
		return err
	}
	failing := st.Failures > 0 && now.Sub(st.Last) <= t.cfg.Forget
	if !failing || t.trusted(pair, now) {
		return nil
	}
	return t.Check(account)
}

// trusted reports whether pair has been marked by a successful sign-in.
func (t *Throttle) trusted(pair string, now time.Time) bool {
	t.mu.Lock()
	_, ok := t.states.Get(pair)
	t.mu.Unlock()
	if ok || t.store == nil {
		return ok
	}
	return !t.state(pair, now).Last.IsZero()
}

// Failed records a wrong password for login from clientIP.
func (t *Throttle) Failed(login, clientIP string) {
	account, address, _ := throttleKeys(login, clientIP)
	t.Fail(account, address)
}

// Succeeded records a successful sign-in: the account's failures are
// forgotten and the address is remembered as one its owner uses. The
// address's own failures stay: signing in to one's own account must not
// reset a count of guesses at others.
func (t *Throttle) Succeeded(login, clientIP string) {
	account, address, pair := throttleKeys(login, clientIP)
	t.Reset(account)
	if address == "" {
		return
	}
	now := t.now()
	t.mu.Lock()
	old, known := t.states.Get(pair)
	renew := !known || now.Sub(old.Last) > trustRenew
	if renew {
		t.states.Add(pair, &failState{Last: now})
	}
	t.mu.Unlock()
	if renew && t.store != nil {
		t.trustShared(pair, now)
	}
}

// throttleKeys are the keys of a sign-in attempt: the account as typed
// (lowercased, whether it exists or not, so that throttling reveals
// nothing), the client address, and the pair of both, which marks an
// address the account has signed in from.
func throttleKeys(login, clientIP string) (account, address, pair string) {
	account = "u:" + normLogin(login)
	if clientIP != "" {
		address = "ip:" + clientIP
		pair = "ok:" + clientIP + " " + normLogin(login) // an address has no space
	}
	return account, address, pair
}

// The shared state.

// id is the record id of key: its kind ("u:", "ip:", "ok:") and a keyed
// digest of the rest, never the key itself. A login is whatever a client
// typed, a password in the wrong field included, and must not be stored;
// the key (the token signing key, which every edge shares) makes the
// digest one nobody can test guesses against without it.
func (t *Throttle) id(key string) string {
	kind, _, found := strings.Cut(key, ":")
	if !found {
		kind = ""
	}
	m := hmac.New(sha256.New, t.secret)
	m.Write([]byte(key))
	return kind + ":" + hex.EncodeToString(m.Sum(nil)[:20])
}

// load reads key's state from the store.
func (t *Throttle) load(key string) (failState, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), throttleStoreTimeout)
	defer cancel()
	var st failState
	_, err := hosted.GetJSON(ctx, t.store, throttleC, t.id(key), &st)
	if fault.Is(err, fault.NotFound) {
		return failState{}, false, nil
	}
	return st, err == nil, err
}

// failShared counts one failure of key at now in the store and returns the
// state every edge now sees.
func (t *Throttle) failShared(key string, now time.Time) (failState, error) {
	return t.upsert(key, func(st failState) (failState, time.Time) {
		st = t.bump(st, now)
		return st, later(st.Last.Add(t.cfg.Forget), st.Until)
	})
}

// trustShared marks pair as trusted in the store.
func (t *Throttle) trustShared(pair string, now time.Time) {
	t.upsert(pair, func(failState) (failState, time.Time) {
		return failState{Last: now}, now.Add(trustFor)
	}) // failing, this edge trusts it all the same; others may not
}

// upsert rewrites key's record with fn's state and expiry, creating it if
// need be, by compare-and-swap on its revision: concurrent writers on
// other edges are retried, never lost.
func (t *Throttle) upsert(key string, fn func(failState) (failState, time.Time)) (failState, error) {
	const op = "auth.Throttle"
	ctx, cancel := context.WithTimeout(context.Background(), throttleStoreTimeout)
	defer cancel()
	id := t.id(key)
	var err error
	for try := 0; try < maxThrottleTries; try++ {
		var r hosted.Record
		var st failState
		r, err = t.store.Get(ctx, throttleC, id)
		switch {
		case fault.Is(err, fault.NotFound):
			r = hosted.Record{ID: id}
		case err != nil:
			return failState{}, fault.Op(op, err)
		default:
			if json.Unmarshal(r.Data, &st) != nil {
				st = failState{} // a damaged record counts from zero
			}
		}
		st, expires := fn(st)
		if r.Data, err = json.Marshal(st); err != nil {
			return failState{}, fault.Wrap(op, fault.Internal, err)
		}
		r.Keys = map[string]string{"expires": hosted.ExpiryKey(expires)}
		if r.Rev == 0 {
			_, err = t.store.Create(ctx, throttleC, r)
		} else {
			_, err = t.store.Replace(ctx, throttleC, r, r.Rev)
		}
		if err == nil {
			return st, nil
		}
		if !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
			return failState{}, fault.Op(op, err)
		}
		// Spread the losers out, more widely each turn, so that the next
		// turn is not the same race (exponential backoff with full jitter).
		time.Sleep(rand.N(min(time.Millisecond<<try, 50*time.Millisecond)))
	}
	return failState{}, fault.Wrap(op, fault.Conflict, err)
}

// prune deletes the store's expired records, at most once per pruneEvery,
// in the failing caller's time (a failed sign-in can wait).
func (t *Throttle) prune(now time.Time) {
	if t.store == nil {
		return
	}
	t.mu.Lock()
	due := now.Sub(t.pruned) >= pruneEvery
	if due {
		t.pruned = now
	}
	t.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*throttleStoreTimeout)
	defer cancel()
	// A minute's grace: a record written again between the prune's read and
	// its delete loses at most that write (see hosted.PruneExpired).
	hosted.PruneExpired(ctx, t.store, throttleC, "expires", now.Add(-time.Minute))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
