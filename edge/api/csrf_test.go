package api_test

import (
	"strings"
	"testing"
)

// TestJSONBodiesOnly: a body under any other Content-Type is 415 in the
// API's error format, so that no cross-site form reaches a handler;
// application/json with parameters is JSON.
func TestJSONBodiesOnly(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	body := `{"name":"csrf-org"}`
	cases := []struct {
		name, contentType string
		want              int
	}{
		{"form", "application/x-www-form-urlencoded", 415},
		{"multipart", "multipart/form-data; boundary=x", 415},
		{"text", "text/plain", 415},
		{"none", "", 415},
		{"json lookalike", "application/jsonp", 415},
		{"json with charset", "application/json; charset=utf-8", 201},
		{"json uppercase", "Application/JSON", 201},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			org := "csrf-org-" + string(rune('a'+i))
			r := e.call("POST", "/organizations", admin, strings.Replace(body, "csrf-org", org, 1), "Content-Type", tc.contentType)
			if r.status != tc.want {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.want)
			}
			if tc.want == 415 {
				if code := r.errCode(t); code != "invalid" {
					t.Errorf("error code %q, want invalid: %s", code, r.body)
				}
				if r := e.call("GET", "/organizations/"+org, admin, nil); r.status != 404 {
					t.Errorf("the refused request created the organization: %d", r.status)
				}
			}
		})
	}
	// Sign-in, the one anonymous body, is held to the same rule.
	if r := e.call("POST", "/auth/login", "", `{"email":"admin","password":"`+adminPassword+`"}`, "Content-Type", "text/plain"); r.status != 415 {
		t.Errorf("login as text/plain: %d %s", r.status, r.body)
	}
}

// TestBasicCannotManage: Basic credentials, which a browser replays on its
// own, read (GET /auth/me) but never manage; a session manages.
func TestBasicCannotManage(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	bob, _ := e.user(admin, "bob")
	adminBasic := "Basic " + basic("admin", adminPassword)
	if r := e.call("GET", "/auth/me", adminBasic, nil); r.status != 200 {
		t.Fatalf("Basic me: %d %s", r.status, r.body)
	}
	cases := []struct {
		method, path string
		body         any
	}{
		{"POST", "/organizations", map[string]string{"name": "basic-org"}},
		{"POST", "/users", map[string]string{"username": "eve", "email": "eve@example.test", "password": "eve-password-1"}},
		{"PUT", "/admin/auth/settings", map[string]bool{"userOrganizations": false}},
		{"POST", "/tokens", map[string]string{"name": "t"}},
		{"GET", "/users", nil},
		{"DELETE", "/users/" + bob.ID, nil},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := e.call(tc.method, tc.path, adminBasic, tc.body)
			if r.status != 403 || !strings.Contains(string(r.body), "Basic credentials cannot manage") {
				t.Fatalf("%d %s, want 403", r.status, r.body)
			}
		})
	}
	// The same request with a session works.
	e.must(201, "POST", "/organizations", admin, map[string]string{"name": "basic-org"}, nil)
}
