package api_test

import (
	"testing"

	"entrepot/auth"
)

// step is one request of a scripted, table-driven scenario.
type step struct {
	name         string
	method, path string
	authz        string
	body         any
	status       int
}

func run(t *testing.T, e *env, steps []step) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.call(s.method, s.path, s.authz, s.body)
			if r.status != s.status {
				t.Fatalf("%s %s: %d, want %d: %s", s.method, s.path, r.status, s.status, r.body)
			}
		})
	}
}

func TestOrganizations(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	owner, ownerTok := e.user(admin, "olga")
	mem, memTok := e.user(admin, "mike")
	_, outTok := e.user(admin, "oscar")
	acme := e.org(ownerTok, "acme") // a user creates an organization and owns it
	e.member(ownerTok, "acme", mem.ID, "member")
	tok := apiToken(e, ownerTok, nil)

	run(t, e, []step{
		{"create: anonymous", "POST", "/organizations", "", map[string]string{"name": "x"}, 401},
		{"create: token", "POST", "/organizations", tok, map[string]string{"name": "x"}, 403},
		{"create: bad name", "POST", "/organizations", ownerTok, map[string]string{"name": "Not Valid"}, 422},
		{"create: reserved", "POST", "/organizations", ownerTok, map[string]string{"name": "api"}, 422},
		{"create: taken", "POST", "/organizations", admin, map[string]string{"name": "acme"}, 409},
		{"create: owner for someone else, not admin", "POST", "/organizations", ownerTok, map[string]string{"name": "other", "owner": mem.ID}, 403},
		{"create: owner for someone else, admin", "POST", "/organizations", admin, map[string]string{"name": "globex", "owner": "mike"}, 201},
		{"get: by id", "GET", "/organizations/" + acme.ID, memTok, nil, 200},
		{"get: by name", "GET", "/organizations/acme", memTok, nil, 200},
		{"get: outsider", "GET", "/organizations/acme", outTok, nil, 404},
		{"get: admin", "GET", "/organizations/acme", admin, nil, 200},
		{"get: missing", "GET", "/organizations/nope", admin, nil, 404},
		{"get: anonymous", "GET", "/organizations/acme", "", nil, 401},
		{"update: member", "PUT", "/organizations/acme", memTok, map[string]string{"displayName": "ACME"}, 403},
		{"update: outsider", "PUT", "/organizations/acme", outTok, map[string]string{"displayName": "ACME"}, 404},
		{"update: rename", "PUT", "/organizations/acme", ownerTok, map[string]string{"name": "acme2"}, 422},
		{"update: owner", "PUT", "/organizations/acme", ownerTok, map[string]string{"displayName": "ACME Inc.", "description": "roadrunner traps"}, 200},
		{"members: member lists", "GET", "/organizations/acme/members", memTok, nil, 200},
		{"members: outsider", "GET", "/organizations/acme/members", outTok, nil, 404},
		{"members: member adds", "POST", "/organizations/acme/members", memTok, map[string]string{"userId": "oscar", "role": "member"}, 403},
		{"members: owner adds", "POST", "/organizations/acme/members", ownerTok, map[string]string{"userId": "oscar", "role": "member"}, 403},
		{"members: owner adds unknown user", "POST", "/organizations/acme/members", ownerTok, map[string]string{"userId": "nobody", "role": "member"}, 403},
		{"members: owner adds by email", "POST", "/organizations/acme/members", ownerTok, map[string]string{"userId": "oscar@example.test", "role": "admin"}, 403},
		{"members: owner promotes a non-member", "PUT", "/organizations/acme/members/oscar", ownerTok, map[string]string{"role": "admin"}, 404},
		{"members: owner promotes an unknown user", "PUT", "/organizations/acme/members/nobody", ownerTok, map[string]string{"role": "admin"}, 404},
		{"members: bad role", "POST", "/organizations/acme/members", admin, map[string]string{"userId": "oscar", "role": "king"}, 422},
		{"members: unknown user", "POST", "/organizations/acme/members", admin, map[string]string{"userId": "nobody", "role": "member"}, 404},
		{"members: add by username", "POST", "/organizations/acme/members", admin, map[string]string{"userId": "oscar", "role": "member"}, 200},
		{"members: promote", "PUT", "/organizations/acme/members/mike", ownerTok, map[string]string{"role": "admin"}, 200},
		{"members: admin makes owner", "PUT", "/organizations/acme/members/oscar", memTok, map[string]string{"role": "owner"}, 403},
		{"members: last owner demoted", "PUT", "/organizations/acme/members/" + owner.ID, ownerTok, map[string]string{"role": "member"}, 409},
		{"members: last owner removed", "DELETE", "/organizations/acme/members/" + owner.ID, admin, nil, 409},
		{"members: admin removes member", "DELETE", "/organizations/acme/members/oscar", memTok, nil, 204},
		{"members: remove non-member", "DELETE", "/organizations/acme/members/oscar", memTok, nil, 404},
		{"delete: admin of org, not owner", "DELETE", "/organizations/acme", memTok, nil, 403},
		{"delete: force, not platform admin", "DELETE", "/organizations/globex?force=true", memTok, nil, 403},
		{"delete: owner", "DELETE", "/organizations/globex", memTok, nil, 204},
		{"delete: gone", "DELETE", "/organizations/globex", admin, nil, 404},
	})

	// Lists: a platform admin sees every organization, a user its own.
	var all, mine page[auth.Org]
	e.must(200, "GET", "/organizations", admin, nil, &all)
	e.must(200, "GET", "/organizations", outTok, nil, &mine)
	if len(all.Items) != 1 || all.Items[0].Name != "acme" || all.Items[0].DisplayName != "ACME Inc." || len(mine.Items) != 0 {
		t.Fatalf("all %+v, mine %+v", all, mine)
	}
	var members page[struct{ UserID, Username, Role string }]
	e.must(200, "GET", "/organizations/acme/members", ownerTok, nil, &members)
	roles := map[string]string{}
	for _, m := range members.Items {
		roles[m.Username] = m.Role
	}
	if len(roles) != 2 || roles["olga"] != "owner" || roles["mike"] != "admin" {
		t.Fatalf("members %+v", members.Items)
	}
}

func TestOrgCreationSetting(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, bob := e.user(admin, "bob")
	e.must(200, "PUT", "/admin/auth/settings", admin, map[string]bool{"userOrganizations": false}, nil)
	if r := e.call("POST", "/organizations", bob, map[string]string{"name": "bobs"}); r.status != 403 {
		t.Fatalf("user creates an org with the setting off: %d", r.status)
	}
	e.org(admin, "admins")
}

func TestTeams(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	dev, devTok := e.user(admin, "dev")
	_, outTok := e.user(admin, "oscar")
	e.org(ownerTok, "acme")
	e.member(ownerTok, "acme", dev.ID, "member")
	repo := e.repo(ownerTok, "acme", "libs", "npm", "private")
	other := e.org(admin, "other")
	otherRepo := e.repo(admin, "other", "libs", "npm", "private")
	_ = other

	run(t, e, []step{
		{"create: member", "POST", "/organizations/acme/teams", devTok, map[string]string{"name": "devs"}, 403},
		{"create: bad name", "POST", "/organizations/acme/teams", ownerTok, map[string]string{"name": "Dev Team"}, 422},
		{"create", "POST", "/organizations/acme/teams", ownerTok, map[string]string{"name": "devs", "description": "developers"}, 201},
		{"create: taken", "POST", "/organizations/acme/teams", ownerTok, map[string]string{"name": "devs"}, 409},
		{"list: member", "GET", "/organizations/acme/teams", devTok, nil, 200},
		{"list: outsider", "GET", "/organizations/acme/teams", outTok, nil, 404},
		{"get: by name", "GET", "/organizations/acme/teams/devs", devTok, nil, 200},
		{"get: missing", "GET", "/organizations/acme/teams/nope", devTok, nil, 404},
		{"members: outsider of org", "POST", "/organizations/acme/teams/devs/members", ownerTok, map[string]string{"userId": "oscar", "role": "member"}, 422},
		{"members: bad role", "POST", "/organizations/acme/teams/devs/members", ownerTok, map[string]string{"userId": "dev", "role": "owner"}, 422},
		{"members: add", "POST", "/organizations/acme/teams/devs/members", ownerTok, map[string]string{"userId": "dev", "role": "maintainer"}, 200},
		{"members: list", "GET", "/organizations/acme/teams/devs/members", devTok, nil, 200},
		{"dev cannot read the repo yet", "GET", "/repositories/" + repo.ID, devTok, nil, 404},
		{"repos: another org's", "POST", "/organizations/acme/teams/devs/repositories", ownerTok, map[string]string{"repositoryId": otherRepo.ID}, 422},
		{"repos: member grants", "POST", "/organizations/acme/teams/devs/repositories", devTok, map[string]string{"repositoryId": repo.ID}, 403},
		{"repos: grant", "POST", "/organizations/acme/teams/devs/repositories", ownerTok, map[string]string{"repositoryId": repo.ID}, 200},
		{"repos: list", "GET", "/organizations/acme/teams/devs/repositories", devTok, nil, 200},
		{"dev reads the repo through the team", "GET", "/repositories/" + repo.ID, devTok, nil, 200},
		{"repos: revoke", "DELETE", "/organizations/acme/teams/devs/repositories/" + repo.ID, ownerTok, nil, 204},
		{"dev cannot read the repo any more", "GET", "/repositories/" + repo.ID, devTok, nil, 404},
		{"members: remove", "DELETE", "/organizations/acme/teams/devs/members/dev", ownerTok, nil, 204},
		{"delete: member", "DELETE", "/organizations/acme/teams/devs", devTok, nil, 403},
		{"delete", "DELETE", "/organizations/acme/teams/devs", ownerTok, nil, 204},
		{"delete: gone", "DELETE", "/organizations/acme/teams/devs", ownerTok, nil, 404},
	})
}
