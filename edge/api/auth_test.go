package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestLogin(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	e.user(admin, "bob")
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"username", map[string]string{"email": "bob", "password": "bob-password-1"}, 200, ""},
		{"email", map[string]string{"email": "bob@example.test", "password": "bob-password-1"}, 200, ""},
		{"username field", map[string]string{"username": "BOB", "password": "bob-password-1"}, 200, ""},
		{"wrong password", map[string]string{"email": "bob", "password": "nope"}, 401, "unauthorized"},
		{"unknown account", map[string]string{"email": "nobody", "password": "nope"}, 401, "unauthorized"},
		{"no password", map[string]string{"email": "bob"}, 422, "invalid"},
		{"unknown field", map[string]any{"email": "bob", "password": "x", "remember": true}, 422, "invalid"},
		{"not json", "email=bob", 422, "invalid"},
		{"empty", "", 422, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if body == "" {
				body = " "
			}
			r := e.call("POST", "/auth/login", "", body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.code != "" {
				if got := r.errCode(t); got != c.code {
					t.Fatalf("code %q, want %q", got, c.code)
				}
				if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
				return
			}
			var s session
			r.json(t, &s)
			if s.AccessToken == "" || s.RefreshToken == "" || s.ExpiresIn != 900 || s.User.Username != "bob" || s.User.ID == "" {
				t.Fatalf("session %+v", s)
			}
			cookie := r.header.Get("Set-Cookie")
			for _, want := range []string{"entrepot_refresh=" + s.RefreshToken, "HttpOnly", "SameSite=Strict", "path=/api/v1/auth"} {
				if !strings.Contains(cookie, want) {
					t.Fatalf("cookie %q lacks %q", cookie, want)
				}
			}
		})
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.user(e.adminToken(), "bob")
	// Wrong credentials are indistinguishable whether the account exists.
	a := e.call("POST", "/auth/login", "", map[string]string{"email": "bob", "password": "nope"})
	b := e.call("POST", "/auth/login", "", map[string]string{"email": "nobody", "password": "nope"})
	var ea, eb struct{ Error struct{ Message string } }
	a.json(t, &ea)
	b.json(t, &eb)
	if ea.Error.Message != eb.Error.Message {
		t.Fatalf("messages differ: %q vs %q", ea.Error.Message, eb.Error.Message)
	}
}

func TestRefreshRotatesAndReuseRevokes(t *testing.T) {
	e := newEnv(t)
	s1 := e.login("admin", adminPassword)

	// Body.
	var s2 session
	e.must(200, "POST", "/auth/refresh", "", map[string]string{"refreshToken": s1.RefreshToken}, &s2)
	if s2.RefreshToken == s1.RefreshToken || s2.AccessToken == "" {
		t.Fatal("refresh did not rotate")
	}
	// Cookie, no body.
	r := e.call("POST", "/auth/refresh", "", nil, "Cookie", "entrepot_refresh="+s2.RefreshToken)
	if r.status != 200 {
		t.Fatalf("cookie refresh: %d %s", r.status, r.body)
	}
	var s3 session
	r.json(t, &s3)
	e.must(200, "GET", "/auth/me", s3.AccessToken, nil, nil)

	// Presenting s2's refresh token again means it leaked: the session
	// ends, the latest access token with it.
	r = e.call("POST", "/auth/refresh", "", map[string]string{"refreshToken": s2.RefreshToken})
	if r.status != 401 {
		t.Fatalf("reuse: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.header.Get("Set-Cookie"), "entrepot_refresh=;") {
		t.Fatalf("refused refresh keeps the cookie: %q", r.header.Get("Set-Cookie"))
	}
	if r := e.call("GET", "/auth/me", s3.AccessToken, nil); r.status != 401 {
		t.Fatalf("access token of a revoked session: %d", r.status)
	}
	if r := e.call("POST", "/auth/refresh", "", map[string]string{"refreshToken": s3.RefreshToken}); r.status != 401 {
		t.Fatalf("latest refresh token of a revoked session: %d", r.status)
	}
	// Nothing at all.
	if r := e.call("POST", "/auth/refresh", "", nil); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
}

func TestLogoutCutsAccessAtOnce(t *testing.T) {
	e := newEnv(t)
	s := e.login("admin", adminPassword)
	other := e.login("admin", adminPassword)
	e.must(200, "GET", "/auth/me", s.AccessToken, nil, nil)
	r := e.must(204, "POST", "/auth/logout", s.AccessToken, nil, nil)
	if !strings.Contains(r.header.Get("Set-Cookie"), "entrepot_refresh=;") {
		t.Fatalf("logout keeps the cookie: %q", r.header.Get("Set-Cookie"))
	}
	if r := e.call("GET", "/auth/me", s.AccessToken, nil); r.status != 401 {
		t.Fatalf("after logout: %d", r.status)
	}
	if r := e.call("POST", "/auth/refresh", "", map[string]string{"refreshToken": s.RefreshToken}); r.status != 401 {
		t.Fatalf("refresh after logout: %d", r.status)
	}
	// Another session of the same user lives on.
	e.must(200, "GET", "/auth/me", other.AccessToken, nil, nil)
	// No session to end.
	if r := e.call("POST", "/auth/logout", "", nil); r.status != 401 {
		t.Fatalf("anonymous logout: %d", r.status)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t)
	// The test env allows 3 consecutive failures.
	for i := 0; i < 3; i++ {
		if r := e.call("POST", "/auth/login", "", map[string]string{"email": "admin", "password": "wrong"}); r.status != 401 {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	for _, pw := range []string{"wrong", adminPassword} {
		r := e.call("POST", "/auth/login", "", map[string]string{"email": "admin", "password": pw})
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("after failures: %d %s", r.status, r.body)
		}
		if got := r.errCode(t); got != "rate_limited" {
			t.Fatalf("code %q", got)
		}
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	e.flush()
	var entries page[struct{ Action, Outcome, Detail string }]
	// Another address would be needed to sign in now; read the log with
	// the service directly.
	es, _, err := e.audit.Query(t.Context(), authFilter("auth.login"), authPage())
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range es {
		entries.Items = append(entries.Items, struct{ Action, Outcome, Detail string }{en.Action, en.Outcome, en.Detail})
	}
	var failures, throttled int
	for _, en := range entries.Items {
		switch {
		case en.Outcome == "failure":
			failures++
		case en.Outcome == "denied" && en.Detail == "throttled":
			throttled++
		}
	}
	if failures != 3 || throttled != 2 {
		t.Fatalf("audit: %d failures, %d throttled: %+v", failures, throttled, entries.Items)
	}
}

func TestMeAndProviders(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	bob, bobTok := e.user(admin, "bob")
	o := e.org(admin, "acme")
	e.member(admin, "acme", bob.ID, "admin")

	var me struct {
		User          struct{ ID, Username string }
		Organizations []struct{ OrgID, OrgName, Role string }
		Method        string
	}
	e.must(200, "GET", "/auth/me", bobTok, nil, &me)
	if me.User.ID != bob.ID || me.Method != "session" || len(me.Organizations) != 1 ||
		me.Organizations[0].OrgID != o.ID || me.Organizations[0].OrgName != "acme" || me.Organizations[0].Role != "admin" {
		t.Fatalf("me: %+v", me)
	}
	// Basic user:password works too.
	r := e.call("GET", "/auth/me", "Basic "+basic("bob", "bob-password-1"), nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"method":"password"`) {
		t.Fatalf("basic me: %d %s", r.status, r.body)
	}
	if r := e.call("GET", "/auth/me", "", nil); r.status != 401 {
		t.Fatalf("anonymous me: %d", r.status)
	}
	if r := e.call("GET", "/auth/me", "Bearer garbage", nil); r.status != 401 {
		t.Fatalf("garbage me: %d", r.status)
	}
	var prov page[any]
	e.must(200, "GET", "/auth/providers", "", nil, &prov)
	if prov.Items == nil || len(prov.Items) != 0 {
		t.Fatalf("providers: %+v", prov)
	}
}
