package api_test

import (
	"net/url"
	"testing"
	"time"
)

type entry struct {
	Time                      time.Time
	ActorUserID, ActorTokenID string
	ClientIP, UserAgent       string
	Action, Target, OrgID     string
	Outcome, Detail           string
}

func TestAuditLog(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	start := time.Now().UTC().Add(-time.Second)
	owner, ownerTok := e.user(admin, "olga")
	bob, bobTok := e.user(admin, "bob")
	acme := e.org(ownerTok, "acme")
	e.org(admin, "globex")
	e.member(ownerTok, "acme", bob.ID, "member")
	repo := e.repo(ownerTok, "acme", "libs", "npm", "private")
	e.publish(repo, "@acme/widget", "1.0.0", "2.0.0")
	e.must(201, "POST", "/organizations/acme/teams", ownerTok, map[string]string{"name": "devs"}, nil)
	e.must(200, "POST", "/organizations/acme/teams/devs/members", ownerTok, map[string]string{"userId": "bob", "role": "member"}, nil)
	e.must(200, "POST", "/organizations/acme/teams/devs/repositories", ownerTok, map[string]string{"repositoryId": repo.ID}, nil)
	e.must(200, "POST", "/repositories/"+repo.ID+"/permissions", ownerTok, map[string]string{"userId": "bob", "role": "reader"}, nil)
	e.must(200, "PUT", "/repositories/"+repo.ID, ownerTok, map[string]string{"visibility": "public"}, nil)
	tok := apiToken(e, ownerTok, nil)
	var toks page[tokenItem]
	e.must(200, "GET", "/tokens", ownerTok, nil, &toks)
	e.must(204, "DELETE", pkgPath("npm:@acme/widget")+"/versions/1.0.0", tok, nil, nil)
	e.must(204, "DELETE", pkgPath("npm:@acme/widget"), ownerTok, nil, nil)
	e.must(204, "DELETE", "/tokens/"+toks.Items[0].ID, ownerTok, nil, nil)
	e.call("POST", "/organizations/acme/members", bobTok, map[string]string{"userId": "bob", "role": "owner"}) // denied
	e.call("POST", "/auth/login", "", map[string]string{"email": "bob", "password": "wrong"})
	e.must(200, "PUT", "/admin/auth/settings", admin, map[string]bool{"anonymousMirrorReads": false}, nil)
	e.must(200, "PUT", "/users/bob", admin, map[string]string{"displayName": "Robert"}, nil)
	e.flush()

	var all page[entry]
	e.must(200, "GET", "/audit?limit=1000", admin, nil, &all)
	got := map[string]entry{}
	for _, en := range all.Items {
		key := en.Action + " " + en.Outcome
		if _, ok := got[key]; !ok {
			got[key] = en
		}
	}
	for _, want := range []string{
		"auth.login success", "auth.login failure", "user.create success", "user.update success", "org.create success",
		"org.member.set success", "org.member.set denied", "repo.create success", "repo.update success",
		"repo.permission.set success", "team.create success", "team.member.set success", "team.repo.grant success",
		"token.create success", "token.revoke success", "package.version.delete success", "package.delete success",
		"settings.update success",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("no %q entry", want)
		}
	}
	if en := got["package.version.delete success"]; en.ActorTokenID == "" || en.ActorUserID != owner.ID || en.OrgID != acme.ID || en.Target != "npm:@acme/widget@1.0.0" {
		t.Errorf("version delete entry %+v", en)
	}
	if en := got["org.member.set denied"]; en.ActorUserID != bob.ID || en.OrgID != acme.ID {
		t.Errorf("denied entry %+v", en)
	}
	if en := got["auth.login failure"]; en.ActorUserID != bob.ID || en.ClientIP == "" || en.UserAgent == "" {
		t.Errorf("login failure entry %+v", en)
	}

	count := func(authz, q string) int {
		t.Helper()
		var pg page[entry]
		e.must(200, "GET", "/audit?"+q, authz, nil, &pg)
		for _, en := range pg.Items {
			if en.Time.Before(start) {
				t.Fatalf("entry before start %+v", en)
			}
		}
		return len(pg.Items)
	}
	// Filters.
	if n := count(admin, "action=org.create"); n != 2 {
		t.Errorf("org.create: %d", n)
	}
	if n := count(admin, "actor=bob"); n < 2 {
		t.Errorf("actor by username: %d", n)
	}
	if n := count(admin, "actor="+owner.ID+"&action=token.create"); n != 1 {
		t.Errorf("actor and action: %d", n)
	}
	if n := count(admin, "org=acme&action=team.create"); n != 1 {
		t.Errorf("org by name and action: %d", n)
	}
	if n := count(admin, "from="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))); n != 0 {
		t.Errorf("from the future: %d", n)
	}
	if n := count(admin, "to=2001-01-01"); n != 0 {
		t.Errorf("to the past: %d", n)
	}
	if n := count(admin, "from="+time.Now().UTC().Format(time.DateOnly)+"&to="+time.Now().UTC().Format(time.DateOnly)); n != len(all.Items) {
		t.Errorf("today: %d of %d", n, len(all.Items))
	}

	// Scoping: an org owner sees its organization's entries only.
	ownerAll := count(ownerTok, "")
	ownerAcme := count(ownerTok, "org=acme")
	if ownerAll != ownerAcme || ownerAll == 0 || ownerAll >= len(all.Items) {
		t.Errorf("owner sees %d (acme %d) of %d", ownerAll, ownerAcme, len(all.Items))
	}
	var pg page[entry]
	e.must(200, "GET", "/audit", ownerTok, nil, &pg)
	for _, en := range pg.Items {
		if en.OrgID != acme.ID {
			t.Fatalf("owner sees another org's entry %+v", en)
		}
	}
	// Pages.
	var p1, p2 page[entry]
	e.must(200, "GET", "/audit?limit=3", admin, nil, &p1)
	e.must(200, "GET", "/audit?limit=3&cursor="+p1.NextCursor, admin, nil, &p2)
	if len(p1.Items) != 3 || p1.NextCursor == "" || len(p2.Items) != 3 || p2.Items[0].Time.Before(p1.Items[2].Time) {
		t.Errorf("pages %d %d", len(p1.Items), len(p2.Items))
	}

	run(t, e, []step{
		{"anonymous", "GET", "/audit", "", nil, 401},
		{"plain member", "GET", "/audit", bobTok, nil, 403},
		{"member asks for its org", "GET", "/audit?org=acme", bobTok, nil, 403},
		{"owner asks for another org", "GET", "/audit?org=globex", ownerTok, nil, 404},
		{"bad time", "GET", "/audit?from=yesterday", admin, nil, 422},
		{"token", "GET", "/audit", apiToken(e, admin, nil), nil, 403},
	})
}
