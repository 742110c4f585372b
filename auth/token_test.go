package auth

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

func TestTokens(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice", false)
	org, err := s.CreateOrg(ctx, Org{Name: "acme"}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	tk, secret, err := s.CreateToken(ctx, u.ID, NewToken{Name: "ci", Protocols: []string{"npm"}, Actions: []string{"read"}, Organizations: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^srg_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("token format: %q", secret)
	}
	if len(tk.Organizations) != 1 || tk.Organizations[0] != org.ID {
		t.Fatalf("organization scope not resolved to an id: %v", tk.Organizations)
	}
	for _, h := range []string{"Bearer " + secret, secret, "Basic " + b64("alice:"+secret), "Basic " + b64("__token__:"+secret), "__token__:" + secret} {
		p, err := s.Authenticate(ctx, ParseCredentials(h))
		if err != nil || p.UserID != u.ID || p.TokenID != tk.ID || p.Scopes == nil || p.Scopes.Actions != Read {
			t.Fatalf("Authenticate(%.20q…) = %+v, %v", h, p, err)
		}
	}
	list, _, err := s.ListTokens(ctx, u.ID, Page{})
	if err != nil || len(list) != 1 || list[0].ID != tk.ID {
		t.Fatalf("ListTokens = %v, %v", list, err)
	}

	// Last use is batched: nothing is written until a flush.
	if got, _ := s.GetToken(ctx, tk.ID); !got.LastUsedAt.IsZero() {
		t.Fatal("last use written per request")
	}
	if err := s.FlushTokenUse(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetToken(ctx, tk.ID); time.Since(got.LastUsedAt) > time.Minute {
		t.Fatalf("last use not flushed: %v", got.LastUsedAt)
	}

	if err := s.RevokeToken(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, ParseCredentials("Bearer "+secret))
	wantKind(t, err, fault.Unauthorized)

	for name, nt := range map[string]NewToken{
		"no name":        {},
		"bad protocol":   {Name: "x", Protocols: []string{"svn"}},
		"manage, no org": {Name: "x", Actions: []string{"manage"}},
		"unknown org":    {Name: "x", Organizations: []string{"nope"}},
		"past expiry":    {Name: "x", ExpiresAt: time.Now().Add(-time.Hour)},
	} {
		_, _, err := s.CreateToken(ctx, u.ID, nt)
		if !fault.Is(err, fault.Invalid) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
	_, err = s.Authenticate(ctx, ParseCredentials("Bearer srg_"+"x"))
	wantKind(t, err, fault.Unauthorized)
}

func TestExpiredTokenRefused(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice", false)
	tk, secret, err := s.CreateToken(ctx, u.ID, NewToken{Name: "short", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hosted.Update(ctx, st, tokensC, tk.ID, func(t *Token, _ map[string]string) error {
		t.ExpiresAt = time.Now().Add(-time.Second)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, ParseCredentials(secret))
	wantKind(t, err, fault.Unauthorized)
}

// TestNoClearSecrets scans every record of every collection for the clear
// password, API token and JWTs.
func TestNoClearSecrets(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	const password = "pw-alice-secret"
	mustUser(t, s, "alice", false)
	u, _ := s.UserByLogin(ctx, "alice")
	_, secret, err := s.CreateToken(ctx, u.ID, NewToken{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Login(ctx, "alice", password, "")
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := s.Refresh(ctx, tok.RefreshToken)
	c := ParseCredentials("Basic " + b64("alice:"+password))
	s.Authenticate(ctx, c)
	s.Authenticate(ctx, ParseCredentials(secret))
	s.FlushTokenUse(ctx)
	a := NewAuditor(st, nil, 8)
	a.Record(Entry{Action: "auth.login", ActorUserID: u.ID, Outcome: "success"})
	a.Close(ctx)

	secrets := []string{password, secret, secret[4:], tok.AccessToken, tok.RefreshToken, tok2.RefreshToken}
	records := 0
	for _, c := range []hosted.Collection{usersC, sessionsC, tokensC, orgsC, orgMembersC, teamsC, teamMembersC, teamReposC, reposC, repoPermsC, auditC} {
		recs, _, err := st.Query(ctx, c, hosted.Query{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			records++
			blob := append([]byte(r.ID), r.Data...)
			for k, v := range r.Keys {
				blob = append(append(blob, k...), v...)
			}
			for _, sec := range secrets {
				if bytes.Contains(blob, []byte(sec)) {
					t.Errorf("%s/%s holds a secret in clear", c.Name, r.ID)
				}
			}
		}
	}
	if records < 4 {
		t.Fatalf("scanned only %d records", records)
	}
}
