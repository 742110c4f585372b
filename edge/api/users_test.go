package api_test

import (
	"testing"

	"entrepot/auth"
)

func TestUsers(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	bob, bobTok := e.user(admin, "bob")
	carol, _ := e.user(admin, "carol")
	tok := apiToken(e, bobTok, nil)

	cases := []struct {
		name         string
		method, path string
		authz        string
		body         any
		status       int
	}{
		{"list: anonymous", "GET", "/users", "", nil, 401},
		{"list: not admin", "GET", "/users", bobTok, nil, 403},
		{"list: admin", "GET", "/users", admin, nil, 200},
		{"create: anonymous", "POST", "/users", "", map[string]string{"username": "x1", "email": "x1@example.test", "password": "long-password"}, 401},
		{"create: not admin", "POST", "/users", bobTok, map[string]string{"username": "x2", "email": "x2@example.test", "password": "long-password"}, 403},
		{"create: token", "POST", "/users", tok, map[string]string{"username": "x3", "email": "x3@example.test", "password": "long-password"}, 403},
		{"create: bad email", "POST", "/users", admin, map[string]string{"username": "x4", "email": "nope", "password": "long-password"}, 422},
		{"create: bad username", "POST", "/users", admin, map[string]string{"username": "Bad Name!", "email": "x5@example.test", "password": "long-password"}, 422},
		{"create: taken", "POST", "/users", admin, map[string]string{"username": "BOB", "email": "other@example.test", "password": "long-password"}, 409},
		{"create: ok", "POST", "/users", admin, map[string]any{"username": "dave", "email": "dave@example.test", "password": "long-password", "displayName": "Dave"}, 201},
		{"get: self", "GET", "/users/" + bob.ID, bobTok, nil, 200},
		{"get: me", "GET", "/users/me", bobTok, nil, 200},
		{"get: by username", "GET", "/users/bob", admin, nil, 200},
		{"get: other, not admin", "GET", "/users/" + carol.ID, bobTok, nil, 404},
		{"get: missing", "GET", "/users/nobody", admin, nil, 404},
		{"get: anonymous", "GET", "/users/" + bob.ID, "", nil, 401},
		{"update: self display name", "PUT", "/users/" + bob.ID, bobTok, map[string]string{"displayName": "Bobby"}, 200},
		{"update: self admin flag", "PUT", "/users/" + bob.ID, bobTok, map[string]bool{"platformAdmin": true}, 403},
		{"update: other", "PUT", "/users/" + carol.ID, bobTok, map[string]string{"displayName": "x"}, 404},
		{"update: password without current", "PUT", "/users/" + bob.ID, bobTok, map[string]string{"password": "new-password-2"}, 422},
		{"update: password wrong current", "PUT", "/users/" + bob.ID, bobTok, map[string]string{"password": "new-password-2", "currentPassword": "wrong"}, 403},
		{"update: password", "PUT", "/users/" + bob.ID, bobTok, map[string]string{"password": "new-password-2", "currentPassword": "bob-password-1"}, 200},
		{"update: admin deactivates", "PUT", "/users/" + carol.ID, admin, map[string]bool{"active": false}, 200},
		{"update: bad email", "PUT", "/users/" + carol.ID, admin, map[string]string{"email": "nope"}, 422},
		{"update: token", "PUT", "/users/" + bob.ID, tok, map[string]string{"displayName": "x"}, 403},
		{"delete: not admin", "DELETE", "/users/" + carol.ID, bobTok, nil, 403},
		{"delete: self", "DELETE", "/users/admin", admin, nil, 409},
		{"delete: ok", "DELETE", "/users/" + carol.ID, admin, nil, 204},
		{"delete: gone", "DELETE", "/users/" + carol.ID, admin, nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(c.method, c.path, c.authz, c.body)
			if r.status != c.status {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, r.status, c.status, r.body)
			}
		})
	}

	// The new password works, the old one does not; the inactive user
	// cannot sign in.
	e.login("bob", "new-password-2")
	if r := e.call("POST", "/auth/login", "", map[string]string{"email": "bob", "password": "bob-password-1"}); r.status != 401 {
		t.Fatalf("old password: %d", r.status)
	}
	var got auth.User
	e.must(200, "GET", "/users/bob", admin, nil, &got)
	if got.DisplayName != "Bobby" {
		t.Fatalf("display name %q", got.DisplayName)
	}
}

func TestUsersPagination(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	for _, n := range []string{"u1", "u2", "u3", "u4", "u5"} {
		e.user(admin, n)
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		var pg page[auth.User]
		e.must(200, "GET", "/users?limit=2&cursor="+cursor, admin, nil, &pg)
		pages++
		if len(pg.Items) > 2 {
			t.Fatalf("page of %d", len(pg.Items))
		}
		for _, u := range pg.Items {
			if seen[u.Username] {
				t.Fatalf("%s twice", u.Username)
			}
			seen[u.Username] = true
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	if len(seen) != 6 || pages < 3 {
		t.Fatalf("saw %d users in %d pages", len(seen), pages)
	}
	for _, q := range []string{"limit=0", "limit=abc", "limit=100000", "cursor=%%%", "cursor=!!"} {
		if r := e.call("GET", "/users?"+q, admin, nil); r.status != 422 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

// apiToken creates an srg_ token for the caller of bearer.
func apiToken(e *env, bearer string, body map[string]any) string {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	if body["name"] == nil {
		body["name"] = "test"
	}
	var out struct{ Token string }
	e.must(201, "POST", "/tokens", bearer, body, &out)
	return out.Token
}
