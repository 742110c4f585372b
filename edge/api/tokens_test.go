package api_test

import (
	"strings"
	"testing"
	"time"
)

type tokenItem struct {
	ID, OwnerID, Name  string
	Protocols, Actions []string
	Organizations      []string
	ExpiresAt          time.Time
	Token              string
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	bob, bobTok := e.user(admin, "bob")
	_, carolTok := e.user(admin, "carol")
	acme := e.org(admin, "acme")
	e.member(admin, "acme", bob.ID, "member")

	var created tokenItem
	e.must(201, "POST", "/tokens", bobTok, map[string]any{
		"name": "ci", "protocols": []string{"npm", "pypi"}, "actions": []string{"read", "write"},
		"organizations": []string{"acme"}, "expiresAt": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
	}, &created)
	if !strings.HasPrefix(created.Token, "srg_") || created.ID == "" || created.OwnerID != bob.ID ||
		len(created.Organizations) != 1 || created.Organizations[0] != acme.ID || created.ExpiresAt.IsZero() {
		t.Fatalf("created %+v", created)
	}
	secret := created.Token

	run(t, e, []step{
		{"create: anonymous", "POST", "/tokens", "", map[string]string{"name": "x"}, 401},
		{"create: with a token", "POST", "/tokens", secret, map[string]string{"name": "x"}, 403},
		{"create: no name", "POST", "/tokens", bobTok, map[string]string{}, 422},
		{"create: bad protocol", "POST", "/tokens", bobTok, map[string]any{"name": "x", "protocols": []string{"gopher"}}, 422},
		{"create: bad action", "POST", "/tokens", bobTok, map[string]any{"name": "x", "actions": []string{"manage"}}, 422},
		{"create: unknown org", "POST", "/tokens", bobTok, map[string]any{"name": "x", "organizations": []string{"nope"}}, 422},
		{"create: past expiry", "POST", "/tokens", bobTok, map[string]any{"name": "x", "expiresAt": "2001-01-01T00:00:00Z"}, 422},
		{"create: bad expiry", "POST", "/tokens", bobTok, map[string]any{"name": "x", "expiresAt": "tomorrow"}, 422},
		{"use: the token reads", "GET", "/auth/me", secret, nil, 200},
		{"use: the token reads via Basic", "GET", "/auth/me", "Basic " + basic("__token__", secret), nil, 200},
		{"use: the token cannot manage", "POST", "/organizations", secret, map[string]string{"name": "x"}, 403},
		{"list: anonymous", "GET", "/tokens", "", nil, 401},
		{"list: another's, not admin", "GET", "/tokens?user=bob", carolTok, nil, 404},
		{"list: another's, admin", "GET", "/tokens?user=bob", admin, nil, 200},
		{"revoke: another's", "DELETE", "/tokens/" + created.ID, carolTok, nil, 404},
		{"revoke: missing", "DELETE", "/tokens/nope", bobTok, nil, 404},
		{"revoke: own", "DELETE", "/tokens/" + created.ID, bobTok, nil, 204},
		{"use: revoked at once", "GET", "/auth/me", secret, nil, 401},
	})

	var list page[tokenItem]
	e.must(200, "GET", "/tokens", bobTok, nil, &list)
	if len(list.Items) != 0 {
		t.Fatalf("after revoke: %+v", list.Items)
	}
	// A token may revoke itself, not another.
	t1 := apiToken(e, bobTok, map[string]any{"name": "one"})
	t2 := apiToken(e, bobTok, map[string]any{"name": "two"})
	list = page[tokenItem]{}
	e.must(200, "GET", "/tokens", bobTok, nil, &list)
	if len(list.Items) != 2 {
		t.Fatalf("tokens %+v", list.Items)
	}
	for _, it := range list.Items {
		if it.Token != "" {
			t.Fatalf("listed with its secret: %+v", it)
		}
	}
	ids := map[string]string{}
	for _, it := range list.Items {
		ids[it.Name] = it.ID
	}
	if r := e.call("DELETE", "/tokens/"+ids["two"], t1, nil); r.status != 403 {
		t.Fatalf("token revokes another: %d", r.status)
	}
	e.must(204, "DELETE", "/tokens/"+ids["two"], t2, nil, nil)
	if r := e.call("GET", "/auth/me", t2, nil); r.status != 401 {
		t.Fatalf("self-revoked token: %d", r.status)
	}
}
