package api_test

import (
	"bytes"
	"os"
	"testing"
)

// TestSecretsStayHidden: passwords and tokens appear in clear only in the
// answer that creates them — never in a later answer, in the store or in
// the server's log.
func TestSecretsStayHidden(t *testing.T) {
	e := newEnv(t)
	s := e.login("admin", adminPassword)
	admin := s.AccessToken
	const bobPassword = "bob-secret-password-9f2k"
	const wrongPassword = "typo-password-never-stored-x7q"
	var bob struct{ ID string }
	r := e.must(201, "POST", "/users", admin, map[string]string{"username": "bob", "email": "bob@example.test", "password": bobPassword}, &bob)
	if bytes.Contains(r.body, []byte(bobPassword)) {
		t.Fatal("the password is in the create answer")
	}
	bobSession := e.login("bob", bobPassword)
	e.call("POST", "/auth/login", "", map[string]string{"email": "bob", "password": wrongPassword})
	e.call("POST", "/auth/login", "", map[string]string{"email": wrongPassword, "password": wrongPassword})
	secret := apiToken(e, bobSession.AccessToken, map[string]any{"name": "ci"})
	e.must(200, "PUT", "/users/bob", bobSession.AccessToken, map[string]string{"displayName": "B"}, nil)
	var refreshed session
	e.must(200, "POST", "/auth/refresh", "", map[string]string{"refreshToken": bobSession.RefreshToken}, &refreshed)

	secrets := map[string]string{
		"admin password": adminPassword, "bob's password": bobPassword, "a mistyped password": wrongPassword,
		"API token": secret, "access token": bobSession.AccessToken, "refresh token": bobSession.RefreshToken,
		"rotated refresh token": refreshed.RefreshToken, "admin access token": admin,
	}
	// Later answers.
	e.flush()
	for _, path := range []string{"/users", "/users/bob", "/tokens?user=bob", "/audit?limit=1000", "/organizations"} {
		r := e.must(200, "GET", path, admin, nil, nil)
		for what, v := range secrets {
			if bytes.Contains(r.body, []byte(v)) {
				t.Errorf("GET %s shows the %s", path, what)
			}
		}
	}
	for _, authz := range []string{secret, "Basic " + basic("bob", bobPassword)} {
		r := e.must(200, "GET", "/auth/me", authz, nil, nil)
		for what, v := range secrets {
			if bytes.Contains(r.body, []byte(v)) {
				t.Errorf("GET /auth/me shows the %s", what)
			}
		}
	}
	// A query string is never logged.
	e.call("GET", "/packages?token="+secret, "", nil)

	e.close()
	db, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	log := e.log.String()
	if len(log) == 0 {
		t.Fatal("no log written")
	}
	for what, v := range secrets {
		if bytes.Contains(db, []byte(v)) {
			t.Errorf("the store holds the %s in clear", what)
		}
		if bytes.Contains([]byte(log), []byte(v)) {
			t.Errorf("the log holds the %s", what)
		}
	}
}
