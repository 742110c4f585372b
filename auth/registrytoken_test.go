package auth

import (
	"context"
	"testing"

	"entrepot/hosted/fault"
)

// TestRegistryTokenFollowsItsSource: a registry token is only as good as
// what it was issued from, at every use, and carries the user's current
// rights rather than those it was issued with.
func TestRegistryTokenFollowsItsSource(t *testing.T) {
	ctx := context.Background()
	const svc = "registry.test"
	type source struct {
		p   Principal
		end func() // what ends it
	}
	cases := []struct {
		name string
		make func(s *Service, u User) source
	}{
		{"revoked API token", func(s *Service, u User) source {
			tok, secret, err := s.CreateToken(ctx, u.ID, NewToken{Name: "ci"})
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Authenticate(ctx, ParseCredentials("Bearer "+secret))
			if err != nil {
				t.Fatal(err)
			}
			return source{p, func() { s.RevokeToken(ctx, tok.ID) }}
		}},
		{"logged-out session", func(s *Service, u User) source {
			tok, err := s.Login(ctx, u.Username, "pw-"+u.Username+"-secret", "")
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.Authenticate(ctx, bearer(tok.AccessToken))
			if err != nil {
				t.Fatal(err)
			}
			return source{p, func() { s.Logout(ctx, tok.SessionID) }}
		}},
		{"changed password", func(s *Service, u User) source {
			p, err := s.Authenticate(ctx, ParseCredentials("Basic "+b64(u.Username+":pw-"+u.Username+"-secret")))
			if err != nil {
				t.Fatal(err)
			}
			return source{p, func() { s.SetPassword(ctx, u.ID, "pw-new-long-secret", "") }}
		}},
		{"deactivated user", func(s *Service, u User) source {
			off := false
			return source{Principal{UserID: u.ID, Username: u.Username}, func() { s.UpdateUser(ctx, u.ID, UserUpdate{Active: &off}) }}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := newService(t)
			u := mustUser(t, s, "alice", true)
			src := c.make(s, u)
			access := []RegistryAccess{{Type: "repository", Name: "acme/app", Actions: []string{"push"}}}
			rt, _, err := s.IssueRegistryToken(src.p, svc, access, 0)
			if err != nil {
				t.Fatal(err)
			}
			p, got, err := s.VerifyRegistryToken(ctx, rt, svc)
			if err != nil || p.UserID != u.ID || !p.PlatformAdmin || len(got) != 1 {
				t.Fatalf("fresh: %+v %v %v", p, got, err)
			}
			// A demotion shows on the next use: the admin flag is read
			// again, not taken from the token.
			no := false
			if _, err := s.UpdateUser(ctx, u.ID, UserUpdate{PlatformAdmin: &no}); err != nil {
				t.Fatal(err)
			}
			if p, _, err := s.VerifyRegistryToken(ctx, rt, svc); err != nil || p.PlatformAdmin {
				t.Fatalf("after demotion: %+v %v", p, err)
			}
			src.end()
			_, _, err = s.VerifyRegistryToken(ctx, rt, svc)
			wantKind(t, err, fault.Unauthorized)
		})
	}
}
