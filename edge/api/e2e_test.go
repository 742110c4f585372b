package api_test

import (
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestEndToEnd drives the real binary through the testkit helpers every
// protocol's end-to-end tests rely on, and checks that settings survive
// a restart and that no secret reaches the server log.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	orgID := s.CreateOrg(t, admin, "acme")
	userID := s.CreateUser(t, admin, "bob", "bob-password-e2e-1")
	if orgID == "" || userID == "" {
		t.Fatalf("ids %q %q", orgID, userID)
	}
	s.AddMember(t, admin, "acme", userID, "member")
	bob := s.Login(t, "bob", "bob-password-e2e-1")
	tok := s.Token(t, bob, []string{"npm"}, []string{"read", "write"}, []string{"acme"})
	if !strings.HasPrefix(tok, "srg_") {
		t.Fatalf("token %q", tok)
	}

	var me struct {
		User          struct{ ID string }
		Organizations []struct{ OrgID, Role string }
		Method        string
	}
	if st, raw := s.API("GET", "/auth/me", tok, nil, &me); st != 200 || me.User.ID != userID || me.Method != "token" ||
		len(me.Organizations) != 1 || me.Organizations[0].OrgID != orgID {
		t.Fatalf("me: %d %s", st, raw)
	}
	if st, _ := s.API("GET", "/organizations/acme", bob, nil, nil); st != 200 {
		t.Fatalf("org by name: %d", st)
	}
	if st, _ := s.API("GET", "/users", bob, nil, nil); st != 403 {
		t.Fatalf("users as bob: %d", st)
	}
	if st, _ := s.API("GET", "/users", "", nil, nil); st != 401 {
		t.Fatalf("users anonymous: %d", st)
	}

	// Settings are stored: they survive a restart.
	if st, raw := s.API("PUT", "/admin/auth/settings", admin, map[string]bool{"anonymousMirrorReads": false}, nil); st != 200 {
		t.Fatalf("settings: %d %s", st, raw)
	}
	s.Restart()
	admin = s.AdminToken(t)
	var set struct{ AnonymousMirrorReads bool }
	if st, raw := s.API("GET", "/admin/auth/settings", admin, nil, &set); st != 200 || set.AnonymousMirrorReads {
		t.Fatalf("settings after restart: %d %s", st, raw)
	}
	// The token outlived the restart; its secret never reached the log.
	if st, _ := s.API("GET", "/auth/me", tok, nil, nil); st != 200 {
		t.Fatalf("token after restart: %d", st)
	}
	log := s.Log()
	for _, secret := range []string{tok, "bob-password-e2e-1", testkit.AdminPassword, bob, admin} {
		if strings.Contains(log, secret) {
			t.Fatal("a secret is in the server log")
		}
	}
}
