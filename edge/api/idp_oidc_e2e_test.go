package api_test

import (
	"bufio"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// oidcProviderModule finds the oidc-provider package that
// deploy/testenv/clients/idp.sh installs, failing under the test command
// and skipping on a bare `go test` when it is missing (like RequireTool).
func oidcProviderModule(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("ENTREPOT_TEST_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "entrepot-test")
	}
	p := filepath.Join(cache, "idp", "node_modules", "oidc-provider", "lib", "index.js")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("ENTREPOT_TEST_REQUIRE_CLIENTS") != "" {
			t.Fatalf("oidc-provider is not installed: deploy/testenv/clients/idp.sh should have installed it")
		}
		t.Skip("oidc-provider is not installed; `make test` installs it")
	}
	return p
}

// startOIDCProvider runs testdata/oidc-provider.mjs on a loopback port
// and returns its issuer URL.
func startOIDCProvider(t *testing.T, redirectURI string, accounts map[string]any) string {
	t.Helper()
	node := testkit.RequireTool(t, "node")
	mod := oidcProviderModule(t)
	script, err := filepath.Abs("testdata/oidc-provider.mjs")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	acc, _ := json.Marshal(accounts)
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "NODE_ENV=development", "PORT="+port, "OIDC_PROVIDER_URL=file://"+mod,
		"CLIENT_ID=entrepot-test", "CLIENT_SECRET=oidc-client-secret-1", "REDIRECT_URI="+redirectURI, "ACCOUNTS="+string(acc))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logb strings.Builder
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logb.Write(p)
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "listening") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("oidc-provider did not start:\n%s", logb.String())
	}
	return "http://127.0.0.1:" + port
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]+)"`)
	formInput  = regexp.MustCompile(`<input[^>]*>`)
	inputName  = regexp.MustCompile(`\bname="([^"]*)"`)
	inputValue = regexp.MustCompile(`\bvalue="([^"]*)"`)
)

// browser is an HTTP client with a cookie jar that follows redirects one
// at a time, so that a test can change a URL on the way (tamper), and
// submits the provider's login and consent forms.
type browser struct {
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn starts at start (the authorize endpoint), signs in as account at
// the provider, and returns the response of the first request whose path
// ends with stop (the callback), after tamper had its say on every URL.
func (b *browser) signIn(t *testing.T, start, account, stop string, tamper func(*url.URL)) (*http.Response, string) {
	t.Helper()
	next, _ := url.Parse(start)
	method, form := "GET", url.Values(nil)
	for hop := 0; hop < 20; hop++ {
		if tamper != nil {
			tamper(next)
		}
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, next.String(), body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, next, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasSuffix(next.Path, stop) {
			return resp, string(raw)
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := next.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			next, method, form = loc, "GET", nil
		case resp.StatusCode == 200 && formAction.Match(raw):
			action := html.UnescapeString(formAction.FindStringSubmatch(string(raw))[1])
			loc, _ := next.Parse(action)
			form = url.Values{}
			for _, in := range formInput.FindAllString(string(raw), -1) {
				name, value := inputName.FindStringSubmatch(in), inputValue.FindStringSubmatch(in)
				if name == nil {
					continue
				}
				v := ""
				if value != nil {
					v = html.UnescapeString(value[1])
				}
				form.Set(name[1], v)
			}
			if form.Get("prompt") == "login" {
				form.Set("login", account)
				form.Set("password", "any password: devInteractions")
			}
			next, method = loc, "POST"
		default:
			t.Fatalf("%s %s: %d %s", method, next, resp.StatusCode, raw)
		}
	}
	t.Fatal("too many hops")
	return nil, ""
}

// TestE2EOIDC drives the authorization code flow against a real, certified
// OpenID provider (oidc-provider v9) and the real binary: the first
// sign-in provisions the user (with claim → team mapping), the second
// reuses it, the session is a normal one (refresh cookie, then
// /auth/refresh), and a tampered state or nonce is refused.
func TestE2EOIDC(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and an OpenID provider")
	}
	oidcProviderModule(t)
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	if st, raw := s.API("POST", "/organizations/acme/teams", admin, map[string]string{"name": "platform"}, nil); st != 201 {
		t.Fatalf("team: %d %s", st, raw)
	}
	// The redirect URI names the provider id, known after creation: create
	// it first with a placeholder issuer, then start the provider.
	var p providerDoc
	doc := map[string]any{
		"name": "Corp SSO", "type": "oidc", "enabled": true,
		"oidc": map[string]any{"issuer": "http://127.0.0.1:1", "clientId": "entrepot-test", "clientSecret": "oidc-client-secret-1",
			"scopes": []string{"openid", "email", "profile", "groups"}},
		"mapping": []map[string]any{{"claim": "groups", "value": "platform-team", "organization": "acme", "role": "admin", "team": "platform", "teamRole": "maintainer"}},
	}
	if st, raw := s.API("POST", "/admin/auth/providers", admin, doc, &p); st != 201 {
		t.Fatalf("create provider: %d %s", st, raw)
	}
	callback := s.URL + "/api/v1/auth/oauth/" + p.ID + "/callback"
	issuer := startOIDCProvider(t, callback, map[string]any{
		"dana": map[string]any{"email": "dana@example.test", "email_verified": true, "name": "Dana Scully", "groups": []string{"platform-team", "x"}},
		"eve":  map[string]any{"email": "eve@example.test", "email_verified": false, "name": "Eve"},
	})
	doc["oidc"].(map[string]any)["issuer"] = issuer
	doc["oidc"].(map[string]any)["clientSecret"] = "" // keep the stored one
	if st, raw := s.API("PUT", "/admin/auth/providers/"+p.ID, admin, doc, nil); st != 200 {
		t.Fatalf("update provider: %d %s", st, raw)
	}
	var check checkResult
	if st, raw := s.API("POST", "/admin/auth/providers/"+p.ID+"/test", admin, nil, &check); st != 200 || !check.OK {
		t.Fatalf("check: %d %s", st, raw)
	}
	authorize := s.URL + "/api/v1/auth/oauth/" + p.ID + "/authorize"

	// session finishes a successful sign-in: the callback redirects to the
	// dashboard with the refresh cookie set, and /auth/refresh (cookie
	// only) answers the access token.
	session := func(t *testing.T, b *browser, resp *http.Response, raw string) (token, userID string) {
		t.Helper()
		if resp.StatusCode != 302 || resp.Header.Get("Location") != s.URL+"/" {
			t.Fatalf("callback: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), raw)
		}
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/auth/refresh", nil)
		r, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		var v struct {
			AccessToken string
			User        struct{ ID string }
		}
		if r.StatusCode != 200 || json.Unmarshal(body, &v) != nil || v.AccessToken == "" {
			t.Fatalf("refresh with the cookie: %d %s", r.StatusCode, body)
		}
		return v.AccessToken, v.User.ID
	}

	var danaID string
	t.Run("first sign-in provisions", func(t *testing.T) {
		b := newBrowser(t)
		resp, raw := b.signIn(t, authorize, "dana", "/callback", nil)
		tok, id := session(t, b, resp, raw)
		danaID = id
		var me struct {
			User          struct{ Username, Email, DisplayName string }
			Organizations []struct{ OrgName, Role string }
		}
		if st, raw := s.API("GET", "/auth/me", tok, nil, &me); st != 200 || me.User.Username != "dana" || me.User.Email != "dana@example.test" ||
			me.User.DisplayName != "Dana Scully" || len(me.Organizations) != 1 || me.Organizations[0].Role != "admin" {
			t.Fatalf("me: %d %s", st, raw)
		}
		var tm struct {
			Items []struct{ UserID, Role string }
		}
		if st, raw := s.API("GET", "/organizations/acme/teams/platform/members", admin, nil, &tm); st != 200 || len(tm.Items) != 1 ||
			tm.Items[0].UserID != danaID || tm.Items[0].Role != "maintainer" {
			t.Fatalf("team: %d %s", st, raw)
		}
	})

	t.Run("second sign-in reuses the account", func(t *testing.T) {
		b := newBrowser(t)
		resp, raw := b.signIn(t, authorize, "dana", "/callback", nil)
		if _, id := session(t, b, resp, raw); id != danaID {
			t.Fatalf("second sign-in made user %s, want %s", id, danaID)
		}
		var users struct{ Items []struct{ Username string } }
		s.API("GET", "/users", admin, nil, &users)
		if len(users.Items) != 2 {
			t.Fatalf("users: %+v", users.Items)
		}
	})

	refused := func(t *testing.T, resp *http.Response, raw, want string) {
		t.Helper()
		if resp.StatusCode != 401 || !strings.Contains(raw, want) {
			t.Fatalf("want 401 %q, got %d %s", want, resp.StatusCode, raw)
		}
		for _, c := range resp.Cookies() {
			if c.Name == "entrepot_refresh" && c.Value != "" {
				t.Fatal("a refused sign-in set the refresh cookie")
			}
		}
	}
	t.Run("tampered state", func(t *testing.T) {
		resp, raw := newBrowser(t).signIn(t, authorize, "dana", "/callback", func(u *url.URL) {
			if strings.HasSuffix(u.Path, "/callback") {
				q := u.Query()
				q.Set("state", q.Get("state")+"x")
				u.RawQuery = q.Encode()
			}
		})
		refused(t, resp, raw, "state mismatch")
	})
	t.Run("tampered nonce", func(t *testing.T) {
		resp, raw := newBrowser(t).signIn(t, authorize, "dana", "/callback", func(u *url.URL) {
			if q := u.Query(); strings.HasPrefix(u.String(), issuer) && q.Get("nonce") != "" {
				q.Set("nonce", "attacker-chosen-nonce")
				u.RawQuery = q.Encode()
			}
		})
		refused(t, resp, raw, "nonce")
	})
	t.Run("no flow cookie", func(t *testing.T) {
		b := newBrowser(t)
		resp, raw := b.signIn(t, authorize, "dana", "/callback", func(u *url.URL) {
			if strings.HasSuffix(u.Path, "/callback") {
				b.c.Jar, _ = cookiejar.New(nil) // another browser brings the code back
			}
		})
		refused(t, resp, raw, "flow cookie missing")
	})
	t.Run("unverified email is not linked", func(t *testing.T) {
		s.CreateUser(t, admin, "eve", "eve-local-pw-1") // eve@example.test
		resp, raw := newBrowser(t).signIn(t, authorize, "eve", "/callback", nil)
		if resp.StatusCode != 401 || !strings.Contains(raw, "verifies the email") {
			t.Fatalf("eve: %d %s", resp.StatusCode, raw)
		}
	})
	t.Run("audited", func(t *testing.T) {
		var entries struct {
			Items []struct{ Action, Outcome, ActorUserID, Detail string }
		}
		var ok, failed int
		// The audit log is written behind the requests: wait for it.
		for try := 0; try < 50 && (ok != 2 || failed != 4); try++ {
			time.Sleep(time.Duration(try) * 10 * time.Millisecond)
			entries.Items = nil
			s.API("GET", "/audit?action=auth.oidc.login&limit=100", admin, nil, &entries)
			ok, failed = 0, 0
			for _, e := range entries.Items {
				switch e.Outcome {
				case "success":
					ok++
				case "failure":
					failed++
				}
			}
		}
		if ok != 2 || failed != 4 {
			t.Fatalf("oidc audit: %d successes, %d failures: %+v", ok, failed, entries.Items)
		}
		if strings.Contains(s.Log(), "oidc-client-secret-1") {
			t.Fatal("the client secret is in the server log")
		}
	})
}
