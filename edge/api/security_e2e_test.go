package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"entrepot/deploy/testkit"
)

// fromAddress is an HTTP client whose connections leave from the loopback
// address ip (127.0.0.2, ...): the server sees another client address, as
// it would another machine, without trusting any forwarded header.
func fromAddress(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// call sends a JSON request to the server's API with c and returns the
// response and its body.
func call(t *testing.T, c *http.Client, s *testkit.Server, method, path, bearer string, body any) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"/api/v1"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// failUntilThrottled sends wrong attempts until one is answered 429, and
// returns that answer; at most 30 tries. Each refused attempt doubles the
// lock-out, so the lock is reached whatever the machine's speed.
func failUntilThrottled(t *testing.T, attempt func() (*http.Response, []byte)) *http.Response {
	t.Helper()
	for i := 0; i < 30; i++ {
		resp, raw := attempt()
		if resp.StatusCode == http.StatusTooManyRequests {
			return resp
		}
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("wrong password %d: %d %s", i, resp.StatusCode, raw)
		}
	}
	t.Fatal("30 wrong passwords and never throttled")
	return nil
}

// TestE2ELoginThrottlePerAddress: an attacker guessing admin's password
// from one address is throttled (429 + Retry-After) without locking admin
// out: admin signs in from another address, by the API and by Basic on a
// protocol route.
func TestE2ELoginThrottlePerAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	s := testkit.Start(t)
	attacker, owner := fromAddress("127.0.0.1"), fromAddress("127.0.0.2")
	resp := failUntilThrottled(t, func() (*http.Response, []byte) {
		return call(t, attacker, s, "POST", "/auth/login", "", map[string]string{"email": "admin", "password": "guess"})
	})
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// The attacker's address stays refused, the right password included.
	if resp, _ := call(t, attacker, s, "POST", "/auth/login", "", map[string]string{"email": "admin", "password": testkit.AdminPassword}); resp.StatusCode != 429 {
		t.Fatalf("attacker's address with the right password: %d", resp.StatusCode)
	}
	// The owner, elsewhere, is not locked out.
	if resp, raw := call(t, owner, s, "POST", "/auth/login", "", map[string]string{"email": "admin", "password": testkit.AdminPassword}); resp.StatusCode != 200 {
		t.Fatalf("admin from another address: %d %s", resp.StatusCode, raw)
	}
	req, _ := http.NewRequest("GET", s.URL+"/v2/", nil)
	req.Header.Set("Authorization", testkit.Basic("admin", testkit.AdminPassword))
	r, err := owner.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("Basic from another address: %d", r.StatusCode)
	}
}

// TestE2ELoginThrottleBehindProxy: behind a trusted proxy the throttle
// keys on the address the proxy forwards, and nobody else's
// X-Forwarded-For is believed: rotating it from an untrusted address
// does not escape the lock.
func TestE2ELoginThrottleBehindProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	s := testkit.Start(t, "TRUSTED_PROXIES=127.0.0.1/32")
	proxy, direct := fromAddress("127.0.0.1"), fromAddress("127.0.0.2")
	login := func(c *http.Client, forwarded, password string) (*http.Response, []byte) {
		b, _ := json.Marshal(map[string]string{"email": "admin", "password": password})
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/auth/login", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", forwarded)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}
	failUntilThrottled(t, func() (*http.Response, []byte) { return login(proxy, "198.51.100.1", "guess") })
	if resp, raw := login(proxy, "198.51.100.2", testkit.AdminPassword); resp.StatusCode != 200 {
		t.Fatalf("another client behind the proxy: %d %s", resp.StatusCode, raw)
	}
	n := 0
	failUntilThrottled(t, func() (*http.Response, []byte) {
		n++
		return login(direct, "198.51.100."+strconv.Itoa(10+n), "guess")
	})
}

type sessionList struct {
	Items []struct {
		ID, ClientIP, UserAgent string
		CreatedAt, LastUsedAt   string
		Current                 bool
	}
}

// TestE2ESessions: the caller's sessions are listed and ended one by one
// or all at once; a password change ends the user's other sessions, an
// admin's reset and a deactivation end all of them, refresh tokens
// included, and reactivation revives none.
func TestE2ESessions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	const pw = "carol-password-sess-1"
	carol := s.CreateUser(t, admin, "carol", pw)
	c := http.DefaultClient
	type session struct{ access, refresh string }
	login := func() session {
		t.Helper()
		var out struct{ AccessToken, RefreshToken string }
		resp, raw := call(t, c, s, "POST", "/auth/login", "", map[string]string{"email": "carol", "password": pw})
		if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
			t.Fatalf("login: %d %s", resp.StatusCode, raw)
		}
		return session{out.AccessToken, out.RefreshToken}
	}
	live := func(x session) bool {
		resp, _ := call(t, c, s, "GET", "/auth/me", x.access, nil)
		return resp.StatusCode == 200
	}
	refreshes := func(x session) bool {
		resp, _ := call(t, c, s, "POST", "/auth/refresh", "", map[string]string{"refreshToken": x.refresh})
		return resp.StatusCode == 200
	}
	list := func(x session) sessionList {
		t.Helper()
		var l sessionList
		resp, raw := call(t, c, s, "GET", "/auth/sessions", x.access, nil)
		if resp.StatusCode != 200 || json.Unmarshal(raw, &l) != nil {
			t.Fatalf("sessions: %d %s", resp.StatusCode, raw)
		}
		return l
	}

	a, b := login(), login()
	l := list(a)
	if len(l.Items) != 2 {
		t.Fatalf("two sessions listed: %+v", l)
	}
	var otherID string
	for _, it := range l.Items {
		if it.ClientIP != "127.0.0.1" || it.UserAgent == "" || it.CreatedAt == "" || it.LastUsedAt == "" {
			t.Errorf("session fields: %+v", it)
		}
		if !it.Current {
			otherID = it.ID
		}
	}
	if otherID == "" {
		t.Fatalf("no current session marked: %+v", l)
	}

	// Ending one session by id; nobody else's can be named.
	var other sessionList
	admSessions, raw := call(t, c, s, "GET", "/auth/sessions", admin, nil)
	if admSessions.StatusCode != 200 || json.Unmarshal(raw, &other) != nil || len(other.Items) == 0 {
		t.Fatalf("admin sessions: %d %s", admSessions.StatusCode, raw)
	}
	if resp, _ := call(t, c, s, "DELETE", "/auth/sessions/"+other.Items[0].ID, a.access, nil); resp.StatusCode != 404 {
		t.Fatalf("ending someone else's session: %d", resp.StatusCode)
	}
	if resp, raw := call(t, c, s, "DELETE", "/auth/sessions/"+otherID, a.access, nil); resp.StatusCode != 204 {
		t.Fatalf("end session: %d %s", resp.StatusCode, raw)
	}
	if !live(a) || live(b) || refreshes(b) {
		t.Fatalf("after ending b: a %v, b %v", live(a), live(b))
	}

	// A password change keeps the session that made it and ends the rest.
	b = login()
	if resp, raw := call(t, c, s, "PUT", "/users/me", a.access, map[string]string{"password": pw, "currentPassword": pw}); resp.StatusCode != 200 {
		t.Fatalf("change password: %d %s", resp.StatusCode, raw)
	}
	if !live(a) || live(b) || refreshes(b) {
		t.Fatalf("after a password change: own %v, other %v", live(a), live(b))
	}

	// An admin's reset ends all of them.
	if resp, raw := call(t, c, s, "PUT", "/users/"+carol, admin, map[string]string{"password": pw}); resp.StatusCode != 200 {
		t.Fatalf("reset: %d %s", resp.StatusCode, raw)
	}
	if live(a) || refreshes(a) {
		t.Fatal("a session survived an admin's reset")
	}

	// Deactivation ends them; reactivation revives none.
	a = login()
	for _, active := range []bool{false, true} {
		if resp, raw := call(t, c, s, "PUT", "/users/"+carol, admin, map[string]bool{"active": active}); resp.StatusCode != 200 {
			t.Fatalf("active=%v: %d %s", active, resp.StatusCode, raw)
		}
	}
	if live(a) || refreshes(a) {
		t.Fatal("a session survived deactivation and reactivation")
	}

	// Sign out everywhere, the calling session included.
	a, b = login(), login()
	if resp, raw := call(t, c, s, "DELETE", "/auth/sessions", a.access, nil); resp.StatusCode != 204 {
		t.Fatalf("sign out everywhere: %d %s", resp.StatusCode, raw)
	}
	if live(a) || live(b) || refreshes(a) || refreshes(b) {
		t.Fatal("a session survived signing out everywhere")
	}
	if resp, _ := call(t, c, s, "GET", "/auth/sessions", "", nil); resp.StatusCode != 401 {
		t.Fatalf("anonymous sessions: %d", resp.StatusCode)
	}
}

// TestE2ELDAPOutageStillThrottles: while the LDAP directory is down, wrong
// local passwords sent as Basic credentials on a protocol route are
// answered 503 and still counted, so guessing hits the throttle as it
// would with the directory up; the right local password still works from
// another address.
func TestE2ELDAPOutageStillThrottles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary and slapd")
	}
	dir := startSlapd(t)
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	if st, raw := s.API("POST", "/admin/auth/providers", admin, ldapProvider(dir, "Corp LDAP", nil), nil); st != 201 {
		t.Fatalf("provider: %d %s", st, raw)
	}
	const pw = "dave-local-password-1"
	s.CreateUser(t, admin, "dave", pw)
	basic := func(c *http.Client, user, password string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", s.URL+"/v2/", nil)
		req.Header.Set("Authorization", testkit.Basic(user, password))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}
	attacker, owner := fromAddress("127.0.0.1"), fromAddress("127.0.0.2")
	if resp, raw := basic(attacker, "alice", "alice-ldap-pw-1"); resp.StatusCode != 200 {
		t.Fatalf("directory sign-in while up: %d %s", resp.StatusCode, raw)
	}

	dir.cmd.Process.Kill() // the directory goes down
	dir.cmd.Wait()
	var outages int
	failUntilThrottled(t, func() (*http.Response, []byte) {
		resp, raw := basic(attacker, "dave", "guess")
		if resp.StatusCode == http.StatusServiceUnavailable {
			outages++
		}
		return resp, raw
	})
	if outages == 0 {
		t.Fatal("the outage was never reported: the test did not exercise it")
	}
	if resp, raw := basic(owner, "dave", pw); resp.StatusCode != 200 {
		t.Fatalf("dave's local password from another address: %d %s", resp.StatusCode, raw)
	}
}
