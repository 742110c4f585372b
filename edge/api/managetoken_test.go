package api_test

import (
	"testing"
	"time"
)

// TestManagementTokens: a token with the manage action, created by an
// organization's owner (or a platform admin) for that organization,
// manages it with Authorization: Bearer srg_… and nothing else; each of
// its calls is audited with its id, and its revocation is immediate.
func TestManagementTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	owner, ownerTok := e.user(admin, "olga")
	bob, bobTok := e.user(admin, "bob")
	_, carolTok := e.user(admin, "carol")
	acme := e.org(ownerTok, "acme")
	e.org(carolTok, "globex")
	e.org(ownerTok, "initech")
	e.member(admin, "acme", bob.ID, "admin")
	libs := e.repo(ownerTok, "acme", "libs", "npm", "private")

	var created tokenItem
	e.must(201, "POST", "/tokens", ownerTok, map[string]any{
		"name": "ci", "actions": []string{"manage"}, "organizations": []string{"acme"},
		"expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}, &created)
	if len(created.Actions) != 1 || created.Actions[0] != "manage" || len(created.Organizations) != 1 || created.Organizations[0] != acme.ID {
		t.Fatalf("created %+v", created)
	}
	mt := created.Token
	adminMT := apiToken(e, admin, map[string]any{"actions": []string{"manage"}, "organizations": []string{"globex"}})
	plain := apiToken(e, ownerTok, map[string]any{"organizations": []string{"acme"}})

	run(t, e, []step{
		// Who may create one.
		{"create: no organizations", "POST", "/tokens", ownerTok, map[string]any{"name": "x", "actions": []string{"manage"}}, 422},
		{"create: an admin, not an owner", "POST", "/tokens", bobTok, map[string]any{"name": "x", "actions": []string{"manage"}, "organizations": []string{"acme"}}, 403},
		{"create: another's organization", "POST", "/tokens", ownerTok, map[string]any{"name": "x", "actions": []string{"manage"}, "organizations": []string{"globex"}}, 403},
		{"create: a plain token cannot", "POST", "/tokens", plain, map[string]any{"name": "x", "organizations": []string{"acme"}}, 403},

		// What it manages: its organization.
		{"use: create a repository", "POST", "/organizations/acme/repositories", mt, map[string]string{"name": "apps", "protocol": "pypi"}, 201},
		{"use: change a repository", "PUT", "/repositories/" + libs.ID, mt, map[string]string{"description": "by ci"}, 200},
		{"use: create a team", "POST", "/organizations/acme/teams", mt, map[string]string{"name": "ci"}, 201},
		{"use: create a token for it", "POST", "/tokens", mt, map[string]any{"name": "child", "actions": []string{"read", "write"}}, 201},
		{"use: read its audit log", "GET", "/audit", mt, nil, 200},
		{"use: the platform admin's token on its org", "POST", "/organizations/globex/repositories", adminMT, map[string]string{"name": "apps", "protocol": "npm"}, 201},

		// What it does not: other organizations, the platform, accounts.
		{"other org: repository", "POST", "/organizations/globex/repositories", mt, map[string]string{"name": "x", "protocol": "npm"}, 404},
		{"other org it owns too", "POST", "/organizations/initech/repositories", mt, map[string]string{"name": "x", "protocol": "npm"}, 404},
		{"other org: admin's token", "POST", "/organizations/acme/repositories", adminMT, map[string]string{"name": "x", "protocol": "npm"}, 404},
		{"other org: token", "POST", "/tokens", mt, map[string]any{"name": "x", "organizations": []string{"initech"}}, 403},
		{"other org: audit", "GET", "/audit?org=initech", mt, nil, 404},
		{"platform: users", "GET", "/users", adminMT, nil, 403},
		{"platform: settings", "PUT", "/admin/auth/settings", adminMT, map[string]bool{"anonymousMirrorReads": false}, 403},
		{"platform: providers", "GET", "/admin/auth/providers", adminMT, nil, 403},
		{"platform: another user", "GET", "/users/bob", adminMT, nil, 404},
		{"platform: force", "DELETE", "/repositories/" + libs.ID + "?force=true", mt, nil, 403},
		{"account: change oneself", "PUT", "/users/me", mt, map[string]string{"displayName": "x"}, 403},
		{"account: sessions", "DELETE", "/auth/sessions", mt, nil, 403},
		{"create an organization", "POST", "/organizations", mt, map[string]string{"name": "newco"}, 403},
		{"delete its organization", "DELETE", "/organizations/acme", mt, nil, 403},
		{"a plain token still cannot manage", "POST", "/organizations/acme/repositories", plain, map[string]string{"name": "y", "protocol": "npm"}, 403},
	})

	// Narrowed to its own organization and expiry.
	var child tokenItem
	e.must(201, "POST", "/tokens", mt, map[string]any{"name": "child2", "actions": []string{"manage"}}, &child)
	if len(child.Organizations) != 1 || child.Organizations[0] != acme.ID || child.ExpiresAt.IsZero() || child.ExpiresAt.After(created.ExpiresAt) {
		t.Fatalf("child %+v, parent %+v", child, created)
	}

	// Every call is audited with the token's id.
	e.flush()
	var log page[entry]
	e.must(200, "GET", "/audit?org=acme&action=repo.create&limit=100", admin, nil, &log)
	found := false
	for _, en := range log.Items {
		if en.ActorTokenID == created.ID && en.ActorUserID == owner.ID && en.Outcome == "success" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no repo.create entry with actorTokenId %s: %+v", created.ID, log.Items)
	}

	// Demoted owner: the token manages no more than its owner may.
	e.must(200, "PUT", "/organizations/acme/members/"+bob.ID, ownerTok, map[string]string{"role": "owner"}, nil)
	e.must(200, "PUT", "/organizations/acme/members/"+owner.ID, bobTok, map[string]string{"role": "member"}, nil)
	if r := e.call("POST", "/organizations/acme/teams", mt, map[string]string{"name": "ci2"}); r.status != 403 {
		t.Fatalf("demoted owner's token: %d %s", r.status, r.body)
	}
	e.must(200, "PUT", "/organizations/acme/members/"+owner.ID, bobTok, map[string]string{"role": "owner"}, nil)

	// Revoked: refused at once.
	e.must(204, "DELETE", "/tokens/"+created.ID, ownerTok, nil, nil)
	if r := e.call("POST", "/organizations/acme/teams", mt, map[string]string{"name": "ci3"}); r.status != 401 {
		t.Fatalf("revoked token: %d %s", r.status, r.body)
	}
}
