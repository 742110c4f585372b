package api_test

import (
	"regexp"
	"strings"
	"testing"

	"entrepot/auth"
)

// sameAnswer fails unless a (about name a) and b (about name b) are one
// answer: the status and the body but for the name and the request id.
func sameAnswer(t *testing.T, a, b resp, na, nb string) {
	t.Helper()
	id := regexp.MustCompile(`"requestId":"[^"]*"`)
	ba := id.ReplaceAllString(strings.ReplaceAll(string(a.body), na, "NAME"), "")
	bb := id.ReplaceAllString(strings.ReplaceAll(string(b.body), nb, "NAME"), "")
	if a.status != b.status || ba != bb {
		t.Fatalf("%s: %d %s\n%s: %d %s", na, a.status, a.body, nb, b.status, b.body)
	}
}

// TestOrgFilterOracle: GET /packages?org= answers an organization the
// caller may not see as it answers a missing one, unless the caller may
// read one of its packages (then its name is no secret).
func TestOrgFilterOracle(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	_, outTok := e.user(admin, "oscar")
	e.org(ownerTok, "acme")
	e.org(ownerTok, "open")
	e.publish(e.repo(ownerTok, "acme", "libs", "npm", "private"), "@acme/widget", "1.0.0")
	e.publish(e.repo(ownerTok, "open", "oss", "pypi", "public"), "open-tools", "1.0.0")
	for _, who := range []struct{ name, authz string }{{"anonymous", ""}, {"outsider", outTok}} {
		t.Run(who.name, func(t *testing.T) {
			hidden := e.call("GET", "/packages?org=acme", who.authz, nil)
			missing := e.call("GET", "/packages?org=acmenope", who.authz, nil)
			if hidden.status != 404 {
				t.Fatalf("hidden organization: %d %s", hidden.status, hidden.body)
			}
			sameAnswer(t, hidden, missing, "acme", "acmenope")
			var pg page[pkgItem]
			e.must(200, "GET", "/packages?org=open", who.authz, nil, &pg)
			if got := names(pg.Items); len(got) != 1 || got[0] != "pypi:open-tools" {
				t.Fatalf("public packages of a foreign organization: %v", got)
			}
		})
	}
	var pg page[pkgItem]
	e.must(200, "GET", "/packages?org=acme", ownerTok, nil, &pg)
	if len(pg.Items) != 1 {
		t.Fatalf("owner: %v", names(pg.Items))
	}
}

// TestEmailChangeOracle: asking for an address another account holds is
// answered as a change to a free one, and changes nothing.
func TestEmailChangeOracle(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	alice, _ := e.user(admin, "alice")
	mallory, malTok := e.user(admin, "mallory")
	taken := e.call("PUT", "/users/me", malTok, map[string]string{"email": strings.ToUpper(alice.Email)})
	if taken.status != 200 {
		t.Fatalf("taken address: %d %s", taken.status, taken.body)
	}
	var me auth.User
	e.must(200, "GET", "/users/me", malTok, nil, &me)
	if me.Email != mallory.Email {
		t.Fatalf("mallory's email became %q", me.Email)
	}
	e.must(200, "GET", "/users/"+alice.ID, admin, nil, &me)
	if me.Email != alice.Email {
		t.Fatalf("alice's email became %q", me.Email)
	}
	free := e.call("PUT", "/users/me", malTok, map[string]string{"email": "fresh@example.test"})
	if free.status != taken.status {
		t.Fatalf("free address: %d, taken: %d", free.status, taken.status)
	}
	e.must(200, "GET", "/users/me", malTok, nil, &me)
	if me.Email != "fresh@example.test" {
		t.Fatalf("a free address is not taken: %q", me.Email)
	}
	// A platform admin is told.
	if r := e.call("PUT", "/users/"+mallory.ID, admin, map[string]string{"email": alice.Email}); r.status != 409 {
		t.Fatalf("admin: %d %s", r.status, r.body)
	}
	e.flush()
	var entries page[struct{ Action, Detail string }]
	e.must(200, "GET", "/audit?action=user.update", admin, nil, &entries)
	found := false
	for _, en := range entries.Items {
		found = found || strings.Contains(en.Detail, "belongs to another account")
	}
	if !found {
		t.Fatalf("no audit record of the refused change: %+v", entries.Items)
	}
}

// TestPermissionGrantOracle: an owner gives repository permissions to
// members of the organization only; a non-member answers as a missing
// user, on grant and on removal.
func TestPermissionGrantOracle(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	dev, _ := e.user(admin, "dev")
	e.user(admin, "alice")
	e.org(ownerTok, "acme")
	e.member(ownerTok, "acme", dev.ID, "member")
	repo := e.repo(ownerTok, "acme", "libs", "npm", "private")
	perms := "/repositories/" + repo.ID + "/permissions"
	grant := func(u string) map[string]string { return map[string]string{"userId": u, "role": "reader"} }

	outsider := e.call("POST", perms, ownerTok, grant("alice"))
	if outsider.status != 404 {
		t.Fatalf("grant to a non-member: %d %s", outsider.status, outsider.body)
	}
	sameAnswer(t, outsider, e.call("POST", perms, ownerTok, grant("nobodyuser")), "alice", "nobodyuser")
	sameAnswer(t, e.call("DELETE", perms+"/alice", ownerTok, nil), e.call("DELETE", perms+"/nobodyuser", ownerTok, nil), "alice", "nobodyuser")
	sameAnswer(t, e.call("DELETE", perms+"/dev", ownerTok, nil), e.call("DELETE", perms+"/nobodyuser", ownerTok, nil), "dev", "nobodyuser")
	e.must(200, "POST", perms, ownerTok, grant("dev"), nil)
	e.must(204, "DELETE", perms+"/dev", ownerTok, nil, nil)
	e.must(200, "POST", perms, admin, grant("alice"), nil) // platform admins grant directly
	e.must(204, "DELETE", perms+"/alice", ownerTok, nil, nil)
}
