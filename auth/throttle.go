package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

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
// failures, for Base, then 2×Base, 4×Base… capped at Max. State lives in
// this process's memory, bounded by an LRU. Safe for concurrent use.
type Throttle struct {
	cfg    ThrottleConfig
	mu     sync.Mutex
	states *lru.Cache[string, *failState]
	now    func() time.Time
}

type failState struct {
	failures int
	last     time.Time // last failure
	until    time.Time // refused before this
}

// NewThrottle returns a Throttle with cfg's zero fields defaulted.
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
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		if k == "" {
			continue
		}
		if st, ok := t.states.Get(k); ok && now.Before(st.until) {
			wait = max(wait, st.until.Sub(now))
		}
	}
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

// Fail records a failed attempt on each key.
func (t *Throttle) Fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		if k == "" {
			continue
		}
		st, ok := t.states.Get(k)
		if !ok || now.Sub(st.last) > t.cfg.Forget {
			st = &failState{}
			t.states.Add(k, st)
		}
		st.failures++
		st.last = now
		if over := st.failures - t.cfg.Failures; over >= 0 {
			d := t.cfg.Max
			if over < 30 && t.cfg.Base<<over < t.cfg.Max {
				d = t.cfg.Base << over
			}
			st.until = now.Add(d)
		}
	}
}

// Reset forgets the failures of keys, after a successful attempt.
func (t *Throttle) Reset(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		t.states.Remove(k)
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
	if err := t.Check(address); err != nil {
		return err
	}
	t.mu.Lock()
	st, failing := t.states.Get(address)
	failing = failing && st.failures > 0 && t.now().Sub(st.last) <= t.cfg.Forget
	_, trusted := t.states.Get(pair)
	t.mu.Unlock()
	if !failing || trusted {
		return nil
	}
	return t.Check(account)
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
	t.mu.Lock()
	t.states.Add(pair, &failState{last: t.now()})
	t.mu.Unlock()
}

// throttleKeys are the keys of a sign-in attempt: the account as typed
// (lowercased, whether it exists or not, so that throttling reveals
// nothing), the client address, and the pair of both, which marks an
// address the account has signed in from.
func throttleKeys(login, clientIP string) (account, address, pair string) {
	account = "u:" + normLogin(login)
	if clientIP != "" {
		address = "ip:" + clientIP
		pair = "ok:" + clientIP + "\x00" + normLogin(login)
	}
	return account, address, pair
}
