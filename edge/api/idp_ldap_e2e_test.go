package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"entrepot/deploy/testkit"
)

// ldapProvider is the provider document of the test directory, with a
// mapping of group devs to organization acme and team backend.
func ldapProvider(s *slapd, name string, extra map[string]any) map[string]any {
	cfg := map[string]any{
		"url": s.URL, "bindDn": "cn=svc," + ldapSuffix, "bindPassword": "svc-secret-pw",
		"baseDn": "ou=people," + ldapSuffix, "userFilter": "(uid={username})",
		"usernameAttribute": "uid", "emailAttribute": "mail", "displayNameAttribute": "cn",
		"groupBaseDn": "ou=groups," + ldapSuffix, "groupFilter": "(member={dn})",
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return map[string]any{
		"name": name, "type": "ldap", "enabled": true, "ldap": cfg,
		"mapping": []map[string]any{{
			"group": "cn=devs,ou=groups," + ldapSuffix, "organization": "acme", "role": "member",
			"team": "backend", "teamRole": "member",
		}},
	}
}

type providerDoc struct {
	ID        string
	Name      string
	Enabled   bool
	SecretSet bool
	LDAP      map[string]any
}

type checkResult struct {
	OK    bool
	Steps []struct {
		Step, Detail string
		OK           bool
	}
}

// TestE2ELDAP drives LDAP sign-in against a real OpenLDAP server and the
// real binary: provider management (secrets never returned), connection
// checks (plain, StartTLS, LDAPS, a wrong bind password), sign-in with
// provisioning and group → team mapping, wrong passwords, linking by
// verified email, and the npm CLI reading a private package with the
// directory's credentials as Basic auth, binding once for the burst.
func TestE2ELDAP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and slapd")
	}
	dir := startSlapd(t)
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	if st, raw := s.API("POST", "/organizations/acme/teams", admin, map[string]string{"name": "backend"}, nil); st != 201 {
		t.Fatalf("team: %d %s", st, raw)
	}

	// Provider management: created, listed without its secret.
	var p providerDoc
	if st, raw := s.API("POST", "/admin/auth/providers", admin, ldapProvider(dir, "Corp LDAP", nil), &p); st != 201 || p.ID == "" || !p.SecretSet {
		t.Fatalf("create provider: %d %s", st, raw)
	}
	for _, path := range []string{"/admin/auth/providers", "/admin/auth/providers/" + p.ID, "/auth/providers"} {
		st, raw := s.API("GET", path, admin, nil, nil)
		if st != 200 || strings.Contains(string(raw), "svc-secret-pw") || !strings.Contains(string(raw), p.ID) {
			t.Fatalf("GET %s: %d %s", path, st, raw)
		}
	}
	var public struct{ Items []map[string]any }
	s.API("GET", "/auth/providers", "", nil, &public)
	if len(public.Items) != 1 || public.Items[0]["type"] != "ldap" || public.Items[0]["ldap"] != nil ||
		public.Items[0]["loginUrl"] != "/api/v1/auth/ldap/"+p.ID+"/login" {
		t.Fatalf("public providers: %+v", public.Items)
	}
	if st, _ := s.API("GET", "/admin/auth/providers", "", nil, nil); st != 401 {
		t.Fatalf("admin list anonymous: %d", st)
	}

	t.Run("connection checks", func(t *testing.T) {
		cases := []struct {
			name  string
			extra map[string]any
			ok    bool
			fails string // the failing step
		}{
			{"plain", nil, true, ""},
			{"starttls", map[string]any{"startTls": true, "caCert": dir.CACert}, true, ""},
			{"ldaps", map[string]any{"url": dir.LDAPS, "caCert": dir.CACert}, true, ""},
			{"ldaps untrusted", map[string]any{"url": dir.LDAPS}, false, "connect"},
			{"wrong bind password", map[string]any{"bindPassword": "nope"}, false, "bind"},
			{"unreachable", map[string]any{"url": "ldap://127.0.0.1:1"}, false, "connect"},
			{"missing base", map[string]any{"baseDn": "ou=nothing," + ldapSuffix}, false, "baseDn"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var cp providerDoc
				doc := ldapProvider(dir, "check "+c.name, c.extra)
				doc["enabled"] = false
				if st, raw := s.API("POST", "/admin/auth/providers", admin, doc, &cp); st != 201 {
					t.Fatalf("create: %d %s", st, raw)
				}
				var res checkResult
				st, raw := s.API("POST", "/admin/auth/providers/"+cp.ID+"/test", admin, nil, &res)
				if st != 200 || res.OK != c.ok {
					t.Fatalf("test: %d %s", st, raw)
				}
				if !c.ok && res.Steps[len(res.Steps)-1].Step != c.fails {
					t.Fatalf("failed at %s, want %s: %s", res.Steps[len(res.Steps)-1].Step, c.fails, raw)
				}
			})
		}
	})

	login := func(user, pass string) (int, []byte, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/auth/ldap/"+p.ID+"/login",
			strings.NewReader(`{"username":"`+user+`","password":"`+pass+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, []byte(b.String()), resp
	}

	var aliceID string
	t.Run("sign-in provisions and maps groups", func(t *testing.T) {
		st, raw, resp := login("alice", "alice-ldap-pw-1")
		if st != 200 || !strings.Contains(string(raw), `"accessToken"`) || !strings.Contains(resp.Header.Get("Set-Cookie"), "entrepot_refresh=") {
			t.Fatalf("login: %d %s", st, raw)
		}
		var me struct {
			User struct {
				ID, Username, Email, DisplayName string
			}
			Organizations []struct{ OrgName, Role string }
		}
		tok := jsonField(t, raw, "accessToken")
		if st, raw := s.API("GET", "/auth/me", tok, nil, &me); st != 200 || me.User.Username != "alice" ||
			me.User.Email != "alice@example.test" || me.User.DisplayName != "Alice Liddell" ||
			len(me.Organizations) != 1 || me.Organizations[0].OrgName != "acme" || me.Organizations[0].Role != "member" {
			t.Fatalf("me: %d %s", st, raw)
		}
		aliceID = me.User.ID
		var tm struct {
			Items []struct{ UserID, Role string }
		}
		if st, raw := s.API("GET", "/organizations/acme/teams/backend/members", admin, nil, &tm); st != 200 ||
			len(tm.Items) != 1 || tm.Items[0].UserID != aliceID || tm.Items[0].Role != "member" {
			t.Fatalf("team members: %d %s", st, raw)
		}
		// Second sign-in: the same account.
		st, raw, _ = login("alice", "alice-ldap-pw-1")
		if st != 200 || !strings.Contains(string(raw), aliceID) {
			t.Fatalf("second login: %d %s", st, raw)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, c := range []struct{ user, pass string }{
			{"alice", "wrong-password"}, {"nobody", "whatever-pw"}, {"alice", ""}, {"*", "alice-ldap-pw-1"},
		} {
			if st, raw, _ := login(c.user, c.pass); st != 401 && st != 422 {
				t.Fatalf("%s/%q: %d %s", c.user, c.pass, st, raw)
			}
		}
		// bob is not in devs: signed in, but no membership.
		st, raw, _ := login("bob", "bob-ldap-pw-1")
		if st != 200 {
			t.Fatalf("bob: %d %s", st, raw)
		}
		var me struct{ Organizations []any }
		s.API("GET", "/auth/me", jsonField(t, raw, "accessToken"), nil, &me)
		if len(me.Organizations) != 0 {
			t.Fatalf("bob's organizations: %+v", me.Organizations)
		}
	})

	t.Run("linking needs a verified email", func(t *testing.T) {
		s.CreateUser(t, admin, "carol", "carol-local-pw-1") // carol@example.test
		if st, raw, _ := login("carol", "carol-ldap-pw-1"); st != 401 {
			t.Fatalf("unverified link: %d %s", st, raw)
		}
		doc := ldapProvider(dir, "Corp LDAP", map[string]any{"emailVerified": true, "bindPassword": ""})
		if st, raw := s.API("PUT", "/admin/auth/providers/"+p.ID, admin, doc, nil); st != 200 {
			t.Fatalf("update: %d %s", st, raw)
		}
		st, raw, _ := login("carol", "carol-ldap-pw-1")
		if st != 200 || !strings.Contains(string(raw), `"username":"carol"`) {
			t.Fatalf("verified link: %d %s", st, raw)
		}
	})

	t.Run("npm with directory credentials", func(t *testing.T) {
		npm := testkit.RequireTool(t, "npm")
		// The admin publishes a private package of acme; team backend may
		// read acme's repository.
		pub := s.Token(t, admin, []string{"npm"}, nil, nil)
		proj := t.TempDir()
		os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"@acme/secret","version":"1.0.0"}`), 0o644)
		os.WriteFile(filepath.Join(proj, "index.js"), []byte("module.exports = 1\n"), 0o644)
		host := strings.TrimPrefix(s.URL, "http://")
		rc := func(auth string) string {
			p := filepath.Join(t.TempDir(), "npmrc")
			os.WriteFile(p, []byte("registry="+s.URL+"/npm/\n//"+host+"/npm/:"+auth+"\n"), 0o600)
			return p
		}
		run := func(dir, rc string, args ...string) (string, error) {
			args = append(args, "--userconfig", rc, "--cache", t.TempDir(), "--no-audit", "--no-fund", "--update-notifier=false")
			cmd := exec.Command(npm, args...)
			cmd.Dir = dir
			cmd.Env = append(npmEnv(), "HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run(proj, rc("_authToken="+pub), "publish"); err != nil {
			t.Fatalf("publish: %v\n%s", err, out)
		}
		var repos struct{ Items []struct{ ID string } }
		if st, raw := s.API("GET", "/organizations/acme/repositories", admin, nil, &repos); st != 200 || len(repos.Items) != 1 {
			t.Fatalf("repos: %d %s", st, raw)
		}
		if st, raw := s.API("POST", "/organizations/acme/teams/backend/repositories", admin, map[string]string{"repositoryId": repos.Items[0].ID}, nil); st != 200 && st != 201 {
			t.Fatalf("grant: %d %s", st, raw)
		}
		basic := func(u, p string) string { return "_auth=" + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }

		aliceDN := "uid=alice,ou=people," + ldapSuffix
		before := dir.Binds(aliceDN)
		app := t.TempDir()
		os.WriteFile(filepath.Join(app, "package.json"), []byte(`{"name":"app","version":"1.0.0","dependencies":{"@acme/secret":"^1.0.0"}}`), 0o644)
		aliceRC := rc(basic("alice", "alice-ldap-pw-1"))
		if out, err := run(app, aliceRC, "view", "@acme/secret", "version"); err != nil || !strings.Contains(out, "1.0.0") {
			t.Fatalf("npm view as alice: %v\n%s", err, out)
		}
		if out, err := run(app, aliceRC, "install"); err != nil {
			t.Fatalf("npm install as alice: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(app, "node_modules", "@acme", "secret", "index.js")); err != nil {
			t.Fatal(err)
		}
		// The burst of package requests bound alice once (the credential
		// cache holds the verified bind).
		if n := dir.Binds(aliceDN) - before; n != 1 {
			t.Fatalf("alice bound %d times for the npm burst, want 1", n)
		}
		// bob is in the directory but not in devs: no access; a wrong
		// password is refused.
		if out, err := run(app, rc(basic("bob", "bob-ldap-pw-1")), "view", "@acme/secret", "version"); err == nil || !strings.Contains(out, "E404") {
			t.Fatalf("npm view as bob: %v\n%s", err, out)
		}
		if out, err := run(app, rc(basic("alice", "not-her-password")), "view", "@acme/secret", "version"); err == nil || !strings.Contains(out, "E401") {
			t.Fatalf("npm view with a wrong password: %v\n%s", err, out)
		}
	})

	t.Run("mapping re-applied at sign-in", func(t *testing.T) {
		// alice leaves devs in the directory: her next sign-in takes the
		// memberships the rule gave her back.
		conn, err := goldap.DialURL(dir.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Bind("cn=root,"+ldapSuffix, "root-secret-pw"); err != nil {
			t.Fatal(err)
		}
		mod := goldap.NewModifyRequest("cn=devs,ou=groups,"+ldapSuffix, nil)
		mod.Add("member", []string{"uid=bob,ou=people," + ldapSuffix})
		mod.Delete("member", []string{"uid=alice,ou=people," + ldapSuffix})
		if err := conn.Modify(mod); err != nil {
			t.Fatal(err)
		}
		st, raw, _ := login("alice", "alice-ldap-pw-1")
		if st != 200 {
			t.Fatalf("login: %d %s", st, raw)
		}
		var me struct{ Organizations []any }
		s.API("GET", "/auth/me", jsonField(t, raw, "accessToken"), nil, &me)
		var tm struct{ Items []struct{ UserID string } }
		s.API("GET", "/organizations/acme/teams/backend/members", admin, nil, &tm)
		if len(me.Organizations) != 0 || len(tm.Items) != 0 {
			t.Fatalf("after leaving devs: organizations %+v, team %+v", me.Organizations, tm.Items)
		}
	})

	t.Run("disabled provider", func(t *testing.T) {
		if st, raw := s.API("DELETE", "/admin/auth/providers/"+p.ID, admin, nil, nil); st != 204 {
			t.Fatalf("delete: %d %s", st, raw)
		}
		if st, raw, _ := login("alice", "alice-ldap-pw-1"); st != 404 {
			t.Fatalf("login on a disabled provider: %d %s", st, raw)
		}
		var public struct{ Items []any }
		s.API("GET", "/auth/providers", "", nil, &public)
		if len(public.Items) != 0 {
			t.Fatalf("disabled provider still public: %+v", public.Items)
		}
	})

	t.Run("audited", func(t *testing.T) {
		want := []string{
			"auth.provider.create success", "auth.provider.update success", "auth.provider.disable success",
			"auth.provider.test success", "auth.ldap.login success", "auth.ldap.login failure",
			"auth.ldap.basic success", "auth.ldap.basic failure",
		}
		seen := map[string]bool{}
		// The audit log is written behind the requests: wait for it.
		for try := 0; try < 50; try++ {
			time.Sleep(time.Duration(try) * 10 * time.Millisecond)
			var entries struct {
				Items []struct{ Action, Outcome, Target string }
			}
			s.API("GET", "/audit?limit=1000", admin, nil, &entries)
			for _, e := range entries.Items {
				seen[e.Action+" "+e.Outcome] = true
			}
			if !slices.ContainsFunc(want, func(w string) bool { return !seen[w] }) {
				break
			}
		}
		for _, w := range want {
			if !seen[w] {
				t.Errorf("no audit entry %q in %v", w, seen)
			}
		}
		if log := s.Log(); strings.Contains(log, "svc-secret-pw") || strings.Contains(log, "alice-ldap-pw-1") {
			t.Fatal("a secret is in the server log")
		}
	})
}

// npmEnv is the environment of npm runs: the caller's, minus npm settings
// and HOME.
func npmEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.ToLower(k), "npm_config_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_UPDATE_NOTIFIER=1")
}

func jsonField(t *testing.T, raw []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	v, _ := m[name].(string)
	return v
}
