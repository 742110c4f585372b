package api_test

import (
	"regexp"
	"testing"
)

// TestInvitations: membership takes consent. Owners and admins invite by
// username or email, with the same answer whether or not the account
// exists; the invitee sees and accepts (or declines) its invitations;
// nobody else can answer them; every step is audited.
func TestInvitations(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	adm, admTok := e.user(admin, "adam")
	oscar, oscarTok := e.user(admin, "oscar")
	_, evaTok := e.user(admin, "eva")
	acme := e.org(ownerTok, "acme")
	e.member(admin, "acme", adm.ID, "admin")

	// Same status and body, but for the invitation's own fields, whether
	// the email is an account or not.
	varying := regexp.MustCompile(`"(id|createdAt|expiresAt|invitee)":"[^"]*"`)
	known := e.call("POST", "/organizations/acme/invitations", ownerTok, map[string]string{"email": "Oscar@example.test", "role": "admin"})
	ghost := e.call("POST", "/organizations/acme/invitations", ownerTok, map[string]string{"email": "ghost@example.test", "role": "admin"})
	if known.status != 201 || ghost.status != 201 || varying.ReplaceAllString(string(known.body), "") != varying.ReplaceAllString(string(ghost.body), "") {
		t.Fatalf("an invitation tells whether the account exists:\n%d %s\n%d %s", known.status, known.body, ghost.status, ghost.body)
	}
	var inv struct{ ID, Invitee, Role, OrgName string }
	known.json(t, &inv)
	if inv.Invitee != "oscar@example.test" || inv.Role != "admin" || inv.OrgName != "acme" {
		t.Fatalf("invitation %s", known.body)
	}

	run(t, e, []step{
		{"invite: again", "POST", "/organizations/acme/invitations", ownerTok, map[string]string{"email": "oscar@example.test"}, 409},
		{"invite: neither username nor email", "POST", "/organizations/acme/invitations", ownerTok, map[string]string{"role": "member"}, 422},
		{"invite: bad role", "POST", "/organizations/acme/invitations", ownerTok, map[string]string{"username": "eva", "role": "king"}, 422},
		{"invite: admin invites an owner", "POST", "/organizations/acme/invitations", admTok, map[string]string{"username": "eva", "role": "owner"}, 403},
		{"invite: outsider", "POST", "/organizations/acme/invitations", evaTok, map[string]string{"username": "eva"}, 404},
		{"invite: anonymous", "POST", "/organizations/acme/invitations", "", map[string]string{"username": "eva"}, 401},
		{"invite: admin invites by username", "POST", "/organizations/acme/invitations", admTok, map[string]string{"username": "eva", "role": "member"}, 201},
		{"list: outsider", "GET", "/organizations/acme/invitations", oscarTok, nil, 404},
		{"accept: not the invitee", "POST", "/auth/invitations/" + inv.ID + "/accept", evaTok, nil, 404},
		{"decline: not the invitee", "DELETE", "/auth/invitations/" + inv.ID, evaTok, nil, 404},
		{"accept: API token", "POST", "/auth/invitations/" + inv.ID + "/accept", apiToken(e, oscarTok, nil), nil, 403},
		{"accept: missing", "POST", "/auth/invitations/nope/accept", oscarTok, nil, 404},
	})

	var pending page[struct{ ID, Invitee string }]
	e.must(200, "GET", "/organizations/acme/invitations", admTok, nil, &pending)
	if len(pending.Items) != 3 {
		t.Fatalf("pending %+v", pending.Items)
	}
	var mine page[struct{ ID, OrgID, OrgName, Role string }]
	e.must(200, "GET", "/auth/invitations", oscarTok, nil, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != inv.ID || mine.Items[0].OrgID != acme.ID || mine.Items[0].OrgName != "acme" {
		t.Fatalf("oscar's invitations %+v", mine.Items)
	}
	if r := e.call("GET", "/organizations/acme", oscarTok, nil); r.status != 404 {
		t.Fatalf("an invitee sees the organization before accepting: %d", r.status)
	}
	var m struct{ UserID, Role string }
	e.must(200, "POST", "/auth/invitations/"+inv.ID+"/accept", oscarTok, nil, &m)
	if m.UserID != oscar.ID || m.Role != "admin" {
		t.Fatalf("accepted %+v", m)
	}
	e.must(200, "GET", "/organizations/acme", oscarTok, nil, nil)
	e.must(404, "POST", "/auth/invitations/"+inv.ID+"/accept", oscarTok, nil, nil) // used up

	// eva declines; the ghost's invitation is revoked.
	var evas page[struct{ ID string }]
	e.must(200, "GET", "/auth/invitations", evaTok, nil, &evas)
	if len(evas.Items) != 1 {
		t.Fatalf("eva's invitations %+v", evas.Items)
	}
	e.must(204, "DELETE", "/auth/invitations/"+evas.Items[0].ID, evaTok, nil, nil)
	if r := e.call("GET", "/organizations/acme", evaTok, nil); r.status != 404 {
		t.Fatalf("a declined invitation made a member: %d", r.status)
	}
	var ghostInv struct{ ID string }
	ghost.json(t, &ghostInv)
	e.must(404, "DELETE", "/organizations/acme/invitations/nope", ownerTok, nil, nil)
	e.must(204, "DELETE", "/organizations/acme/invitations/"+ghostInv.ID, ownerTok, nil, nil)
	e.must(200, "GET", "/organizations/acme/invitations", ownerTok, nil, &pending)
	if len(pending.Items) != 0 {
		t.Fatalf("left pending %+v", pending.Items)
	}

	// An invitation to an address no account has is not for an older
	// account that takes the address later, only for a new one.
	var later struct{ ID string }
	e.must(201, "POST", "/organizations/acme/invitations", ownerTok, map[string]string{"email": "later@example.test"}, &later)
	e.must(200, "PUT", "/users/eva", evaTok, map[string]string{"email": "later@example.test"}, nil)
	e.must(200, "GET", "/auth/invitations", evaTok, nil, &evas)
	if len(evas.Items) != 0 {
		t.Fatalf("an older account that took the address sees %+v", evas.Items)
	}
	e.must(404, "POST", "/auth/invitations/"+later.ID+"/accept", evaTok, nil, nil)
	e.must(200, "PUT", "/users/eva", evaTok, map[string]string{"email": "eva@example.test"}, nil)
	_, newTok := e.user(admin, "later") // its email is later@example.test
	e.must(200, "POST", "/auth/invitations/"+later.ID+"/accept", newTok, nil, nil)

	e.flush()
	var all page[entry]
	e.must(200, "GET", "/audit?limit=1000", admin, nil, &all)
	got := map[string]bool{}
	for _, en := range all.Items {
		got[en.Action+" "+en.Outcome] = true
	}
	for _, want := range []string{"org.invitation.create success", "org.invitation.create denied", "org.invitation.accept success",
		"org.invitation.decline success", "org.invitation.revoke success"} {
		if !got[want] {
			t.Errorf("no %q entry", want)
		}
	}
}

// TestEmailLookupTellsNothing: anyone but a platform admin who names a
// user by email gets one answer, whether or not the address is an account.
func TestEmailLookupTellsNothing(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	e.user(admin, "oscar")
	e.org(ownerTok, "acme")
	repo := e.repo(ownerTok, "acme", "libs", "npm", "private")
	e.must(201, "POST", "/organizations/acme/teams", ownerTok, map[string]string{"name": "devs"}, nil)
	for _, tc := range []struct {
		name, method, path string
		body               func(email string) map[string]string
	}{
		{"add member", "POST", "/organizations/acme/members", func(m string) map[string]string { return map[string]string{"userId": m, "role": "member"} }},
		{"repository permission", "POST", "/repositories/" + repo.ID + "/permissions", func(m string) map[string]string { return map[string]string{"userId": m, "role": "reader"} }},
		{"team member", "POST", "/organizations/acme/teams/devs/members", func(m string) map[string]string { return map[string]string{"userId": m, "role": "member"} }},
		{"organization owner", "POST", "/organizations", func(m string) map[string]string { return map[string]string{"name": "neworg", "owner": m} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.method, tc.path, ownerTok, tc.body("oscar@example.test"))
			b := e.call(tc.method, tc.path, ownerTok, tc.body("ghost@example.test"))
			strip := regexp.MustCompile(`(oscar|ghost)@example.test|"requestId":"[^"]*"`)
			if a.status != b.status || a.status < 400 || strip.ReplaceAllString(string(a.body), "") != strip.ReplaceAllString(string(b.body), "") {
				t.Fatalf("existing %d %s, missing %d %s", a.status, a.body, b.status, b.body)
			}
		})
	}
}
