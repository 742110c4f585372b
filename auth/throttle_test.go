package auth

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"entrepot/hosted/fault"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestLoginThrottled(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	mustUser(t, s, "alice", false)
	for i := range 5 {
		_, err := s.Login(ctx, "alice", "wrong", "10.0.0.9")
		wantKind(t, err, fault.Unauthorized)
		_ = i
	}
	// The failing address is locked now, even with the right password.
	_, err := s.Login(ctx, "alice", "pw-alice-secret", "10.0.0.9")
	wantKind(t, err, fault.RateLimited)
	if d, ok := RetryAfter(err); !ok || d != time.Second {
		t.Fatalf("RetryAfter = %v, %v; want 1s", d, ok)
	}
	// The owner, from an address that has not been failing, still signs
	// in: nobody else can lock an account.
	if _, err := s.Login(ctx, "alice", "pw-alice-secret", "10.0.0.1"); err != nil {
		t.Fatalf("owner from a clean address: %v", err)
	}
	// The address is locked for other accounts, and for Basic too.
	mustUser(t, s, "bob", false)
	_, err = s.Login(ctx, "bob", "pw-bob-secret", "10.0.0.9")
	wantKind(t, err, fault.RateLimited)
	c := ParseCredentials("Basic " + b64("bob:pw-bob-secret"))
	c.ClientIP = "10.0.0.9"
	_, err = s.Authenticate(ctx, c)
	wantKind(t, err, fault.RateLimited)
	// Unknown accounts throttle the same way: nothing is revealed.
	for range 5 {
		s.Login(ctx, "ghost", "wrong", "")
	}
	_, err = s.Login(ctx, "ghost", "wrong", "")
	wantKind(t, err, fault.RateLimited)
}

func TestThrottleBackoff(t *testing.T) {
	th := NewThrottle(ThrottleConfig{})
	now := time.Unix(1_000_000, 0)
	th.now = func() time.Time { return now }
	cases := []struct {
		failures int
		want     time.Duration
	}{{4, 0}, {5, time.Second}, {6, 2 * time.Second}, {7, 4 * time.Second}, {14, 512 * time.Second}, {15, 15 * time.Minute}, {60, 15 * time.Minute}}
	n := 0
	for _, c := range cases {
		for n < c.failures {
			th.Fail("k")
			n++
		}
		d, _ := RetryAfter(th.Check("k"))
		if d != c.want {
			t.Errorf("after %d failures: retry after %v, want %v", c.failures, d, c.want)
		}
	}
	now = now.Add(16 * time.Minute)
	if err := th.Check("k"); err != nil {
		t.Errorf("still locked after the cap: %v", err)
	}
	th.Reset("k")
	th.Fail("k")
	if err := th.Check("k"); err != nil {
		t.Errorf("locked after reset and one failure: %v", err)
	}
}

func TestThrottleBounded(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Size: 10})
	for i := range 100 {
		th.Fail(string(rune('a' + i)))
	}
	if n := th.states.Len(); n > 10 {
		t.Fatalf("throttle holds %d keys, bound 10", n)
	}
}

// TestThrottleSoftAccount: the account key refuses only addresses that
// have been failing and have never signed in to it, so guessing spread
// over many addresses gets one try per address while the account is
// locked, and its owner is never locked out by someone else.
func TestThrottleSoftAccount(t *testing.T) {
	th := NewThrottle(ThrottleConfig{Failures: 3, Base: time.Minute})
	th.Succeeded("alice", "10.0.0.2") // the owner's usual address
	for range 3 {
		th.Failed("alice", "10.0.0.9")
	}
	steps := []struct {
		name, login, ip string
		fail            bool // record a failure after the check
		locked          bool
	}{
		{"attacker's address is locked", "alice", "10.0.0.9", false, true},
		{"for every account", "bob", "10.0.0.9", false, true},
		{"a clean address may try", "alice", "10.0.0.7", true, false},
		{"and then is held by the account lock", "alice", "10.0.0.7", false, true},
		{"other accounts from it are not", "bob", "10.0.0.7", false, false},
		{"the owner's address after a typo", "alice", "10.0.0.2", true, false},
		{"is still trusted", "alice", "10.0.0.2", false, false},
		{"no address: the account is hard", "alice", "", false, true},
		{"case and spaces are one account", " ALICE", "", false, true},
	}
	for _, st := range steps {
		err := th.Allow(st.login, st.ip)
		if locked := err != nil; locked != st.locked {
			t.Errorf("%s: Allow(%q, %q) = %v, want locked %v", st.name, st.login, st.ip, err, st.locked)
		}
		if err != nil && !fault.Is(err, fault.RateLimited) {
			t.Errorf("%s: kind %v", st.name, fault.KindOf(err))
		}
		if st.fail {
			th.Failed(st.login, st.ip)
		}
	}
}
