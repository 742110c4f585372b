package cargo

import (
	"context"
	"strings"
	"testing"

	"entrepot/auth"
)

func TestHostedFlow(t *testing.T) {
	x := newHarness(t, nil)
	if code, body := x.publish("Demo-crate", "1.0.0"); code != 200 || !strings.Contains(body, "warnings") {
		t.Fatalf("publish: %d %s", code, body)
	}
	if code, body := x.publish("Demo-crate", "1.1.0-rc.1"); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	const idx = "/cargo/index/de/mo/demo-crate"
	steps := []struct {
		name, method, path, authz string
		status                    int
		contains                  string
	}{
		{"config with a token", "GET", "/cargo/index/config.json", x.token, 200, `"auth-required":true`},
		{"config anonymous", "GET", "/cargo/index/config.json", "", 401, "requires authentication"},
		{"index anonymous", "GET", idx, "", 401, "requires authentication"},
		{"bad token", "GET", idx, "srg_nope", 401, ""},
		{"index", "GET", idx, x.token, 200, `"name":"Demo-crate","vers":"1.1.0-rc.1"`},
		{"index under a colliding name", "GET", "/cargo/index/de/mo/demo_crate", x.token, 404, "not found"},
		{"index, other case in path", "GET", "/cargo/index/De/mo/Demo-crate", x.token, 404, ""},
		{"download", "GET", "/cargo/api/v1/crates/Demo-crate/1.0.0/download", x.token, 200, ""},
		{"download, missing version", "GET", "/cargo/api/v1/crates/Demo-crate/3.0.0/download", x.token, 404, "not found"},
		{"download, not semver", "GET", "/cargo/api/v1/crates/Demo-crate/3/download", x.token, 400, "invalid semver"},
		{"download, no upstream", "GET", "/cargo/api/v1/crates/serde/1.0.0/download", x.token, 404, "no upstream"},
		{"yank", "DELETE", "/cargo/api/v1/crates/demo_crate/1.0.0/yank", x.token, 200, `"ok":true`},
		{"index shows yanked", "GET", idx, x.token, 200, `"vers":"1.0.0","deps":[],"cksum":`},
		{"yanked still downloads", "GET", "/cargo/api/v1/crates/Demo-crate/1.0.0/download", x.token, 200, ""},
		{"yank of a missing version", "DELETE", "/cargo/api/v1/crates/demo-crate/9.0.0/yank", x.token, 404, ""},
		{"yank of a crate not hosted", "DELETE", "/cargo/api/v1/crates/serde/1.0.0/yank", x.token, 404, "not hosted"},
		{"yank anonymous", "DELETE", "/cargo/api/v1/crates/demo-crate/1.0.0/yank", "", 401, ""},
		{"search", "GET", "/cargo/api/v1/crates?q=demo_&per_page=5", x.token, 200, `"max_version":"1.1.0-rc.1"`},
		{"search anonymous sees nothing", "GET", "/cargo/api/v1/crates?q=demo", "", 200, `"crates":[]`},
		{"search, bad per_page", "GET", "/cargo/api/v1/crates?q=demo&per_page=x", x.token, 400, "per_page"},
		{"owners", "GET", "/cargo/api/v1/crates/demo-crate/owners", x.token, 200, `"login":"admin"`},
		{"unknown route", "GET", "/cargo/api/v1/nothing", x.token, 404, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, body := x.do(s.method, s.path, s.authz, nil)
			if resp.StatusCode != s.status || !strings.Contains(string(body), s.contains) {
				t.Fatalf("%s %s: %d %s; want %d with %q", s.method, s.path, resp.StatusCode, body, s.status, s.contains)
			}
			if s.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Cargo login_url="http://`) {
				t.Fatalf("401 without the cargo challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	_, body := x.do("GET", idx, x.token, nil)
	if !strings.Contains(string(body), `"vers":"1.0.0","deps":[],"cksum":`) || !strings.Contains(string(body), `"yanked":true`) {
		t.Fatalf("yank not in the index:\n%s", body)
	}
}

func TestPublishToAnotherOrgsName(t *testing.T) {
	x := newHarness(t, nil)
	if code, body := x.publish("shared", "1.0.0"); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	ctx := context.Background()
	u, err := x.auth.CreateUser(ctx, auth.NewUser{Email: "eve@example.test", Username: "eve", Password: "eve-password-123456"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.auth.CreateOrg(ctx, auth.Org{Name: "rival"}, u.ID); err != nil {
		t.Fatal(err)
	}
	_, tok, err := x.auth.CreateToken(ctx, u.ID, auth.NewToken{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	x.token = tok
	if code, body := x.publish("shared", "2.0.0"); code != 403 {
		t.Fatalf("publish by another organization: %d %s", code, body)
	}
	if code, body := x.publish("Shared", "2.0.0"); code != 403 {
		t.Fatalf("publish of a colliding name by another organization: %d %s", code, body)
	}
	if code, body := x.publish("rival-crate", "1.0.0"); code != 200 {
		t.Fatalf("publish of its own crate: %d %s", code, body)
	}
	// eve reads nothing of acme's private crate.
	if resp, _ := x.do("GET", "/cargo/index/sh/ar/shared", tok, nil); resp.StatusCode != 404 {
		t.Fatalf("index of another organization's private crate: %d", resp.StatusCode)
	}
}
