package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"entrepot/hosted/fault"
)

func bearer(tok string) Credentials { return ParseCredentials("Bearer " + tok) }

func TestLoginByEmailOrUsername(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice", false)
	for _, login := range []string{"alice", "ALICE", "alice@example.com", "Alice@Example.COM"} {
		tok, err := s.Login(ctx, login, "pw-alice-secret", "10.0.0.1")
		if err != nil {
			t.Fatalf("Login(%q): %v", login, err)
		}
		if tok.ExpiresIn != 15*time.Minute || time.Until(tok.RefreshExpiresAt) < 7*24*time.Hour-time.Minute {
			t.Errorf("lifetimes: access %v, refresh until %v", tok.ExpiresIn, tok.RefreshExpiresAt)
		}
		p, err := s.Authenticate(ctx, bearer(tok.AccessToken))
		if err != nil || p.UserID != u.ID || p.SessionID != tok.SessionID || p.Scopes != nil {
			t.Fatalf("Authenticate(access) = %+v, %v", p, err)
		}
		if _, err := s.Authenticate(ctx, bearer(tok.RefreshToken)); !fault.Is(err, fault.Unauthorized) {
			t.Fatalf("a refresh token authenticated as access: %v", err)
		}
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	mustUser(t, s, "alice", false)
	inactive := mustUser(t, s, "carol", false)
	off := false
	if _, err := s.UpdateUser(ctx, inactive.ID, UserUpdate{Active: &off}); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, c := range [][2]string{{"alice", "wrong-password"}, {"nobody", "wrong-password"}, {"nobody@example.com", "x"}, {"carol", "pw-carol-secret"}} {
		_, err := s.Login(ctx, c[0], c[1], "")
		wantKind(t, err, fault.Unauthorized)
		msgs = append(msgs, fault.Message(err))
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Fatalf("failure messages differ: %q", msgs)
		}
	}
}

func TestRefreshRotatesAndReuseRevokes(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	mustUser(t, s, "alice", false)
	first, err := s.Login(ctx, "alice", "pw-alice-secret", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.SessionID != first.SessionID {
		t.Fatal("refresh did not rotate within the session")
	}
	if _, err := s.Authenticate(ctx, bearer(second.AccessToken)); err != nil {
		t.Fatalf("new access token: %v", err)
	}
	// The old refresh token again: a leak. The whole session dies.
	_, err = s.Refresh(ctx, first.RefreshToken)
	wantKind(t, err, fault.Unauthorized)
	for name, tok := range map[string]string{"first access": first.AccessToken, "second access": second.AccessToken} {
		if _, err := s.Authenticate(ctx, bearer(tok)); !fault.Is(err, fault.Unauthorized) {
			t.Errorf("%s after reuse: %v, want Unauthorized", name, err)
		}
	}
	_, err = s.Refresh(ctx, second.RefreshToken)
	wantKind(t, err, fault.Unauthorized)
	sess, err := s.GetSession(ctx, first.SessionID)
	if err != nil || !sess.Revoked {
		t.Fatalf("session after reuse: %+v, %v", sess, err)
	}
}

func TestLogoutCutsAccessAtOnce(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	mustUser(t, s, "alice", false)
	tok, err := s.Login(ctx, "alice", "pw-alice-secret", "")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := s.Login(ctx, "alice", "pw-alice-secret", "")
	for range 3 { // warm every cache
		if _, err := s.Authenticate(ctx, bearer(tok.AccessToken)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Logout(ctx, tok.SessionID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, bearer(tok.AccessToken))
	wantKind(t, err, fault.Unauthorized)
	_, err = s.Refresh(ctx, tok.RefreshToken)
	wantKind(t, err, fault.Unauthorized)
	if _, err := s.Authenticate(ctx, bearer(other.AccessToken)); err != nil {
		t.Fatalf("another session of the same user died too: %v", err)
	}
	if err := s.Logout(ctx, "no-such-session"); err != nil {
		t.Fatalf("Logout of a missing session: %v", err)
	}
}

func TestDeactivationCutsAtOnce(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice", false)
	tok, _ := s.Login(ctx, "alice", "pw-alice-secret", "")
	basic := ParseCredentials("Basic " + b64("alice:pw-alice-secret"))
	for _, c := range []Credentials{bearer(tok.AccessToken), basic} {
		if _, err := s.Authenticate(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	off := false
	if _, err := s.UpdateUser(ctx, u.ID, UserUpdate{Active: &off}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Credentials{bearer(tok.AccessToken), basic} {
		_, err := s.Authenticate(ctx, c)
		wantKind(t, err, fault.Unauthorized)
	}
}

func TestForgedTokensRefused(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	mustUser(t, s, "alice", false)
	tok, _ := s.Login(ctx, "alice", "pw-alice-secret", "")
	other, err := New(newStore(t), Config{SigningKey: []byte(strings.Repeat("k", 32)), Password: cheap})
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := other.sign(tok.User.ID, tok.SessionID, "x", typAccess, time.Now(), time.Now().Add(time.Minute))
	expired, _ := s.sign(tok.User.ID, tok.SessionID, "y", typAccess, time.Now().Add(-time.Hour), time.Now().Add(-time.Minute))
	parts := strings.Split(tok.AccessToken, ".")
	none := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
	for name, jwt := range map[string]string{"other key": forged, "expired": expired, "alg none": none, "garbage": "a.b.c"} {
		_, err := s.Authenticate(ctx, bearer(jwt))
		if !fault.Is(err, fault.Unauthorized) {
			t.Errorf("%s: %v, want Unauthorized", name, err)
		}
	}
}

func TestRehashOnLogin(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	old, _ := New(st, Config{SigningKey: []byte(strings.Repeat("k", 32)), Password: cheap})
	u := mustUser(t, old, "alice", false)
	raised := cheap
	raised.Memory = 128
	s, _ := New(st, Config{SigningKey: []byte(strings.Repeat("k", 32)), Password: raised})
	if _, err := s.Login(ctx, "alice", "pw-alice-secret", ""); err != nil {
		t.Fatal(err)
	}
	d, err := s.userDocByLogin(ctx, "alice")
	if err != nil || d.ID != u.ID || !strings.Contains(d.PasswordHash, "m=128,") {
		t.Fatalf("hash not upgraded: %q, %v", d.PasswordHash, err)
	}
	if _, err := s.Login(ctx, "alice", "pw-alice-secret", ""); err != nil {
		t.Fatalf("login after rehash: %v", err)
	}
}

// TestSessionsEndOnPasswordAndDeactivation: a password change ends the
// user's other sessions, refresh tokens included; deactivation ends all
// of them, and reactivation revives none.
func TestSessionsEndOnPasswordAndDeactivation(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice", false)
	login := func() Tokens {
		tok, err := s.Login(WithUserAgent(ctx, "test-agent/1"), "alice", "pw-alice-secret", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	live := func(tok Tokens) bool {
		_, err := s.Authenticate(ctx, bearer(tok.AccessToken))
		return err == nil
	}
	a, b := login(), login()
	list, err := s.ListSessions(ctx, u.ID)
	if err != nil || len(list) != 2 || list[0].UserAgent != "test-agent/1" || list[0].ClientIP != "10.0.0.1" || list[0].LastUsedAt.IsZero() {
		t.Fatalf("ListSessions = %+v, %v", list, err)
	}
	if err := s.SetPassword(ctx, u.ID, "pw-alice-secret", a.SessionID); err != nil {
		t.Fatal(err)
	}
	if !live(a) || live(b) {
		t.Fatalf("after a password change: kept %v, other %v", live(a), live(b))
	}
	if _, err := s.Refresh(ctx, b.RefreshToken); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("the other session's refresh token: %v", err)
	}
	// An admin's reset keeps nothing.
	if err := s.SetPassword(ctx, u.ID, "pw-alice-secret", ""); err != nil {
		t.Fatal(err)
	}
	if live(a) {
		t.Fatal("a reset left a session")
	}
	c := login()
	off, on := false, true
	if _, err := s.UpdateUser(ctx, u.ID, UserUpdate{Active: &off}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, u.ID, UserUpdate{Active: &on}); err != nil {
		t.Fatal(err)
	}
	if live(c) {
		t.Fatal("reactivation revived a session")
	}
	if _, err := s.Refresh(ctx, c.RefreshToken); !fault.Is(err, fault.Unauthorized) {
		t.Fatalf("refresh after reactivation: %v", err)
	}
	if list, _ := s.ListSessions(ctx, u.ID); len(list) != 0 {
		t.Fatalf("sessions left: %+v", list)
	}
	// Someone else's session is not found.
	mustUser(t, s, "bob", false)
	d := login()
	bob, _ := s.UserByLogin(ctx, "bob")
	wantKind(t, s.EndSession(ctx, bob.ID, d.SessionID), fault.NotFound)
	if err := s.EndSession(ctx, u.ID, d.SessionID); err != nil || live(d) {
		t.Fatalf("EndSession: %v, live %v", err, live(d))
	}
}
