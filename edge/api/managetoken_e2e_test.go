package api_test

import (
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestE2EManagementToken drives the binary as a CI script would, with
// plain HTTP calls: an owner's management token creates a repository and
// a token in its organization, is refused another organization (404) and
// the platform (403), leaves its id in the audit log, and stops at once
// when revoked.
func TestE2EManagementToken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	manageFlow(t, testkit.Start(t), nil)
}

// TestE2EManagementTokenAcrossEdges is the same flow on edges sharing
// FerretDB and MinIO: made on one edge, revoked on another, and refused
// on the first at once (the API re-reads the token from the store).
func TestE2EManagementTokenAcrossEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binaries")
	}
	c := testkit.StartCluster(t, 2)
	manageFlow(t, c.Edge(t, 0), c.Edge(t, 1))
}

func manageFlow(t *testing.T, s, other *testkit.Server) {
	admin := s.AdminToken(t)
	s.CreateUser(t, admin, "olga", "olga-password-e2e-1")
	olga := s.Login(t, "olga", "olga-password-e2e-1")
	if st, raw := s.API("POST", "/organizations", admin, map[string]string{"name": "acme", "owner": "olga"}, nil); st != 201 {
		t.Fatalf("create acme: %d %s", st, raw)
	}
	s.CreateOrg(t, admin, "globex")
	var created struct{ ID, Token string }
	if st, raw := s.API("POST", "/tokens", olga, map[string]any{"name": "ci", "actions": []string{"manage"}, "organizations": []string{"acme"}}, &created); st != 201 {
		t.Fatalf("create management token: %d %s", st, raw)
	}
	mt := created.Token
	for _, c := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"create a repository", "POST", "/organizations/acme/repositories", map[string]string{"name": "libs", "protocol": "npm"}, 201},
		{"create a token", "POST", "/tokens", map[string]any{"name": "publish", "actions": []string{"read", "write"}}, 201},
		{"another organization", "POST", "/organizations/globex/repositories", map[string]string{"name": "libs", "protocol": "npm"}, 404},
		{"the platform", "GET", "/users", nil, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			if st, raw := s.API(c.method, c.path, mt, c.body, nil); st != c.want {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, st, c.want, raw)
			}
		})
	}
	// Audited with the token's id (the auditor writes in batches).
	var log struct {
		Items []struct{ Action, Outcome, ActorTokenID string }
	}
	found := false
	for range 50 {
		if st, raw := s.API("GET", "/audit?org=acme&action=repo.create", admin, nil, &log); st != 200 {
			t.Fatalf("audit: %d %s", st, raw)
		}
		for _, e := range log.Items {
			found = found || e.ActorTokenID == created.ID && e.Outcome == "success"
		}
		if found {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !found {
		t.Fatalf("no repo.create entry with actorTokenId %s: %+v", created.ID, log.Items)
	}
	if other == nil {
		other = s
	}
	if st, raw := other.API("DELETE", "/tokens/"+created.ID, olga, nil, nil); st != 204 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	if st, raw := s.API("POST", "/organizations/acme/repositories", mt, map[string]string{"name": "apps", "protocol": "npm"}, nil); st != 401 {
		t.Fatalf("revoked token: %d %s", st, raw)
	}
}
