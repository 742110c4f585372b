package auth

import (
	"context"
	"testing"

	"entrepot/deploy/testkit/stores"
	"entrepot/hosted/fault"
)

// TestManagementToken: who may create a token with the manage action, and
// what it then permits, on bbolt and on FerretDB. The token's Manage holds
// on its own organizations' repositories only, and its revocation on one
// edge is seen by the store the other edge reads.
func TestManagementToken(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		peers := stores.Peers(t, backend, 2)
		s, err := New(peers[0], Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), Password: cheap, Protocols: testProtocols})
		if err != nil {
			t.Fatal(err)
		}
		other, err := New(peers[1], Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), Password: cheap, Protocols: testProtocols})
		if err != nil {
			t.Fatal(err)
		}
		owner := mustUser(t, s, "olga", false)
		admin := mustUser(t, s, "pat", true)
		bob := mustUser(t, s, "bob", false)
		acme, err := s.CreateOrg(ctx, Org{Name: "acme"}, owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		globex, err := s.CreateOrg(ctx, Org{Name: "globex"}, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetOrgMember(ctx, acme.ID, bob.ID, OrgAdmin); err != nil {
			t.Fatal(err)
		}
		manage := func(orgs ...string) NewToken {
			return NewToken{Name: "ci", Actions: []string{"manage"}, Organizations: orgs}
		}
		for _, c := range []struct {
			name  string
			owner string
			nt    NewToken
			want  fault.Kind // 0: created
		}{
			{"owner, own organization", owner.ID, manage("acme"), 0},
			{"platform admin, any organization", admin.ID, manage("acme", "globex"), 0},
			{"no organizations", owner.ID, manage(), fault.Invalid},
			{"an org admin is not an owner", bob.ID, manage("acme"), fault.Forbidden},
			{"owner of one of two", bob.ID, manage("acme", "globex"), fault.Forbidden},
			{"unknown action", owner.ID, NewToken{Name: "x", Actions: []string{"own"}, Organizations: []string{"acme"}}, fault.Invalid},
		} {
			t.Run(c.name, func(t *testing.T) {
				tk, _, err := s.CreateToken(ctx, c.owner, c.nt)
				if c.want != 0 {
					wantKind(t, err, c.want)
					return
				}
				if err != nil || !tk.Manages() {
					t.Fatalf("CreateToken = %+v, %v", tk, err)
				}
			})
		}

		tk, secret, err := s.CreateToken(ctx, owner.ID, manage("acme"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Authenticate(ctx, ParseCredentials("Bearer "+secret))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			repo RepoRef
			a    Action
			ok   bool
		}{
			{"manage its organization", RepoRef{ID: "r1", OrgID: acme.ID, Protocol: "npm"}, Manage, true},
			{"publish in it", RepoRef{ID: "r1", OrgID: acme.ID, Protocol: "npm"}, Write, true},
			{"manage another organization", RepoRef{ID: "r2", OrgID: globex.ID, Protocol: "npm"}, Manage, false},
			{"manage unclaimed content", RepoRef{Protocol: "npm", Public: true}, Manage, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				if err := p.ScopesAllow(c.repo, c.a); (err == nil) != c.ok {
					t.Fatalf("ScopesAllow = %v, want ok %v", err, c.ok)
				}
			})
		}
		// A plain token never manages, even scoped to an organization.
		plain, _, err := s.CreateToken(ctx, owner.ID, NewToken{Name: "plain", Organizations: []string{"acme"}})
		if err != nil {
			t.Fatal(err)
		}
		if plain.Scopes().Actions&Manage != 0 {
			t.Fatal("a plain token carries Manage")
		}

		// Revoked on one edge: the other edge's store read finds nothing.
		if got, err := other.GetToken(ctx, tk.ID); err != nil || !got.Manages() {
			t.Fatalf("other edge reads %+v, %v", got, err)
		}
		if err := s.RevokeToken(ctx, tk.ID); err != nil {
			t.Fatal(err)
		}
		_, err = other.GetToken(ctx, tk.ID)
		wantKind(t, err, fault.NotFound)
	})
}
