package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// Secrets the malformed requests carry; none may reach the log.
const (
	leakToken    = "srg_LEAKtok3nNeverInTheLog0123456789abcdefghij"
	leakUser     = "alice"
	leakPassword = "Pa55-LEAKpassword-never-logged"
	leakCookie   = "LEAKcookieSessionValue77"
)

var leakBasic = base64.StdEncoding.EncodeToString([]byte(leakUser + ":" + leakPassword))

// rawExchange sends raw bytes on a fresh connection and returns what the
// server answered until it closed the connection (or stopped answering).
func rawExchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(req) // the server may close before reading it all
	out, _ := io.ReadAll(c)
	return out
}

// TestE2ECredentialsNeverLogged sends malformed requests that make
// fasthttp itself complain, each carrying a Bearer srg_ token, Basic
// credentials or a session cookie, and greps the whole log (at debug
// level) and the answers for them.
func TestE2ECredentialsNeverLogged(t *testing.T) {
	s := testkit.Start(t, "LOG_LEVEL=debug")
	creds := []string{
		"Authorization: Bearer " + leakToken + "\r\n",
		"Authorization: Basic " + leakBasic + "\r\n",
		"Cookie: session=" + leakCookie + "\r\n",
		"Proxy-Authorization: Basic " + leakBasic + "\r\nX-Api-Key: " + leakToken + "\r\n",
	}
	big := "X-Padding: " + strings.Repeat("p", 20<<10) + "\r\n"
	malformed := []struct{ name, head, body string }{
		{"duplicate content-length", "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\n%sContent-Length: 2\r\nContent-Length: 3\r\n", "{}"},
		{"negative content-length", "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\n%sContent-Length: -1\r\n", "{}"},
		{"bad content-length", "PUT /npm/x HTTP/1.1\r\nHost: h\r\n%sContent-Length: 12abc\r\n", "{}"},
		{"unsupported transfer-encoding", "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\n%sTransfer-Encoding: gzip, chunked\r\n", "{}"},
		{"chunked and content-length", "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\n%sTransfer-Encoding: chunked\r\nContent-Length: 4\r\n", "2\r\n{}\r\n0\r\n\r\n"},
		{"bad chunk size", "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\n%sContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n", "ZZ\r\n{}\r\n0\r\n\r\n"},
		{"bad chunk end", "PUT /v2/acme/app/blobs/uploads/x HTTP/1.1\r\nHost: h\r\n%sTransfer-Encoding: chunked\r\n", "2\r\n{}XX0\r\n\r\n"},
		{"credential before a huge header", "GET /npm/x HTTP/1.1\r\nHost: h\r\n%s" + big, ""},
		{"credential after a huge header", "GET /npm/x HTTP/1.1\r\nHost: h\r\n" + big + "%s", ""},
		{"credential cut by the buffer", "GET /npm/x HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("q", 90)+"\r\n", 165) + "%s" + big, ""},
		{"invalid header value", "GET /npm/x HTTP/1.1\r\nHost: h\r\nAuthorization: Basic " + leakBasic + "\x01\r\n%s", ""},
		{"invalid header key", "GET /npm/x HTTP/1.1\r\nHost: h\r\nBearer " + leakToken + " " + leakBasic + "\r\n%s", ""},
		{"bad protocol version", "GET /npm/x?token=" + leakToken + " HTTP/9.9\r\nHost: h\r\n%s", ""},
		{"bad method", "G\x01T /npm/x?password=" + leakPassword + " HTTP/1.1\r\nHost: h\r\n%s", ""},
		{"userinfo in the request line", "GET http://" + leakUser + ":" + leakPassword + "@h/npm/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n%s", ""},
		{"no host", "GET /npm/x HTTP/1.1\r\n%s", ""},
		{"bad trailer", "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTrailer: Authorization\r\n%s", "2\r\n{}\r\n0\r\nAuthorization: Bearer " + leakToken + "\r\nCookie: s=" + leakCookie + "\r\n\r\n"},
	}
	// A malformed trailer makes fasthttp's body reader fail with an error
	// that quotes what follows it: here the next pipelined request, whose
	// credentials belong to someone else behind a shared proxy
	// connection. Every protocol's body-reading route gets it.
	for _, route := range []string{
		"POST /api/v1/auth/login", "PUT /npm/x", "PUT /maven2/com/acme/x/1/x-1.jar", "POST /pypi/",
		"PUT /cargo/api/v1/crates/new", "POST /rubygems/api/v1/gems", "PUT /composer/packages/acme/x",
		"PATCH /v2/acme/app/blobs/uploads/x",
	} {
		malformed = append(malformed, struct{ name, head, body string }{
			"bad trailer, then a pipelined request: " + route,
			route + " HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
			"2\r\n{}\r\n0\r\nX-Bad\x01: 1\r\n\r\nGET /npm/@acme%2fsecret HTTP/1.1\r\nHost: h\r\n%s\r\n",
		})
	}
	answers := map[string][]byte{}
	for _, m := range malformed {
		for i, c := range creds {
			req := strings.Replace(m.head, "%s", c, 1) + "\r\n" + strings.Replace(m.body, "%s", c, 1)
			answers[m.name+"/"+string(rune('0'+i))] = rawExchange(t, s.Host(), []byte(req))
		}
	}
	log := s.Log()
	if testing.Verbose() {
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, `"msg":"fasthttp"`) {
				t.Log(line)
			}
		}
	}
	if !strings.Contains(log, `"msg":"fasthttp"`) {
		t.Fatalf("no fasthttp message was logged: the malformed requests did not reach fasthttp's logger\n%s", log)
	}
	secrets := map[string]string{
		"token": leakToken[len("srg_"):], "base64": leakBasic, "password": leakPassword, "cookie": leakCookie,
		"base64 head": leakBasic[:12], "base64 tail": leakBasic[len(leakBasic)-12:],
	}
	for what, v := range secrets {
		if strings.Contains(log, v) {
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, v) {
					t.Errorf("the log holds the %s: %s", what, line)
				}
			}
		}
		for name, a := range answers {
			if bytes.Contains(a, []byte(v)) {
				t.Errorf("%s: the answer holds the %s: %q", name, what, a)
			}
		}
	}
	// What fasthttp answers itself (no route ran: no request id) is the
	// edge's JSON error, never an echo of the request.
	for name, a := range answers {
		if bytes.HasPrefix(a, []byte("HTTP/1.1 4")) && !bytes.Contains(a, []byte("X-Request-Id")) && !bytes.Contains(a, []byte(`{"error":{"code":`)) {
			t.Errorf("%s: fasthttp's answer is not the edge's JSON error: %q", name, a)
		}
	}
}

// slowBody starts a request whose body trickles in, a byte at a time,
// after fast bytes sent at once, and returns the status line the server answered (or "" if it answered
// nothing) and whether the connection then ended. The trickle would take
// minutes: the test passes only if the server cuts it.
func slowBody(t *testing.T, addr, head string, fast, size int, every time.Duration) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+"Content-Length: "+strconv.Itoa(size)+"\r\n\r\n"+strings.Repeat(" ", fast)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for range size - fast {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	// A safety net for a broken server, not a measure: the windows under
	// test are a few seconds.
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil && isTimeout(err) {
		return "", false
	}
	if status != "" {
		resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(status), br)), nil)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
		}
	}
	// After the answer the server must close: a read ends with EOF or a
	// reset, never with our own deadline.
	_, err = br.ReadByte()
	return strings.TrimSpace(status), err != nil && !isTimeout(err) && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestE2ESlowBodies: a trickled body is cut off, with or without
// credentials, once a window brings less than the minimum rate; without
// credentials a body has only a short time at all; a real upload with
// credentials passes.
func TestE2ESlowBodies(t *testing.T) {
	s := testkit.Start(t, "MIN_BODY_RATE=64", "MIN_BODY_RATE_WINDOW=1s")
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")

	t.Run("anonymous trickle", func(t *testing.T) {
		status, closed := slowBody(t, s.Host(), "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n", 0, 10000, 50*time.Millisecond)
		if !closed {
			t.Fatalf("the connection stayed open (answer %q)", status)
		}
		if status != "" && !strings.Contains(status, " 408 ") {
			t.Errorf("answer %q, want 408 or none", status)
		}
	})
	for _, fast := range []int{0, 100 << 10} {
		t.Run("authenticated trickle after "+strconv.Itoa(fast)+" bytes", func(t *testing.T) {
			status, closed := slowBody(t, s.Host(), "POST /api/v1/organizations HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nAuthorization: Bearer "+admin+"\r\n", fast, fast+10000, 50*time.Millisecond)
			if !closed {
				t.Fatalf("the connection stayed open (answer %q)", status)
			}
			if status != "" && !strings.Contains(status, " 408 ") {
				t.Errorf("answer %q, want 408 or none", status)
			}
		})
	}
	t.Run("large authenticated upload", func(t *testing.T) {
		data := bytes.Repeat([]byte("entrepot-layer-"), (48<<20)/15)
		sum := sha256.Sum256(data)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		auth := testkit.Basic("admin", testkit.AdminPassword)
		resp, b := testkit.Request(t, "POST", s.URL+"/v2/acme/big/blobs/uploads/", nil, "Authorization", auth)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusAccepted || loc == "" {
			t.Fatalf("start upload: %d %s", resp.StatusCode, b)
		}
		if !strings.HasPrefix(loc, "http") {
			loc = s.URL + loc
		}
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		resp, b = testkit.Request(t, "PUT", loc+sep+"digest="+digest, data, "Authorization", auth, "Content-Type", "application/octet-stream")
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload of %d MiB: %d %s", len(data)>>20, resp.StatusCode, b)
		}
		if resp, _ := testkit.Request(t, "HEAD", s.URL+"/v2/acme/big/blobs/"+digest, nil, "Authorization", auth); resp.StatusCode != 200 {
			t.Fatalf("the uploaded blob: %d", resp.StatusCode)
		}
	})
}

// TestE2EAnonymousBodyTimeout: with no minimum rate at all, a body
// without credentials still has only ANONYMOUS_UPLOAD_TIMEOUT to arrive;
// the same slow body with credentials is accepted.
func TestE2EAnonymousBodyTimeout(t *testing.T) {
	s := testkit.Start(t, "MIN_BODY_RATE=0", "ANONYMOUS_UPLOAD_TIMEOUT=1s")
	admin := s.AdminToken(t)
	status, closed := slowBody(t, s.Host(), "POST /api/v1/auth/login HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n", 0, 10000, 50*time.Millisecond)
	if !closed {
		t.Fatalf("the anonymous connection stayed open (answer %q)", status)
	}
	// 40 bytes at one per 50 ms: well past the anonymous timeout.
	body := `{"name":"slow-org-with-a-long-name-xyz"}`
	c, err := net.Dial("tcp", s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /api/v1/organizations HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nAuthorization: Bearer "+admin+
		"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n")
	for i := range len(body) {
		time.Sleep(50 * time.Millisecond)
		if _, err := c.Write([]byte{body[i]}); err != nil {
			t.Fatalf("the server cut the authenticated body after %d bytes: %v", i, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("slow authenticated body: %d %s", resp.StatusCode, b)
	}
}

// TestE2EConnsPerIP: the connection past MAX_CONNS_PER_IP from one
// address is refused; another address is not affected, and a freed slot
// is usable again.
func TestE2EConnsPerIP(t *testing.T) {
	const limit = 3
	s := testkit.Start(t, "MAX_CONNS_PER_IP="+strconv.Itoa(limit))
	from := func(ip string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.Dial("tcp", s.Host())
	}
	var held []net.Conn
	for range limit {
		c, err := from("127.0.0.2")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Each held connection is served: one request on each proves the
	// server accepted it before the next dial.
	for _, c := range held {
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	over, err := from("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	over.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(over, "GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
	got, _ := io.ReadAll(over)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 429")) {
		t.Fatalf("connection %d from one address: %q, want 429 and close", limit+1, got)
	}
	// Another address is served meanwhile.
	other, err := from("127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(other, "GET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	if got, _ := io.ReadAll(other); !bytes.HasPrefix(got, []byte("HTTP/1.1 200")) {
		t.Fatalf("another address: %q", got)
	}
}

// TestE2EUpstreamGuard: a mirrored packument whose tarballs point at
// another loopback server, at the cloud metadata address, or at its own
// host that redirects to the other server: every tarball is refused and
// the other server is never asked. Allowing its host
// (UPSTREAM_ALLOWED_HOSTS) lets the same tarball through.
func TestE2EUpstreamGuard(t *testing.T) {
	up, other := testkit.NewUpstream(t), testkit.NewUpstream(t)
	tarball := []byte("not a real tarball, but a verified one")
	s512 := sha512.Sum512(tarball)
	s1 := sha1.Sum(tarball)
	dist := func(u string) map[string]string {
		return map[string]string{"tarball": u, "integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), "shasum": hex.EncodeToString(s1[:])}
	}
	other.Handle("/evil-1.0.0.tgz", tarball)
	other.Handle("/evil-2.0.0.tgz", tarball)
	up.Set("/r/evil-2.0.0.tgz", testkit.Route{Status: http.StatusFound, Header: map[string]string{"Location": other.URL + "/evil-2.0.0.tgz"}})
	doc, _ := json.Marshal(map[string]any{"name": "evil", "dist-tags": map[string]string{"latest": "3.0.0"}, "versions": map[string]any{
		"1.0.0": map[string]any{"name": "evil", "version": "1.0.0", "dist": dist(other.URL + "/evil-1.0.0.tgz")},
		"2.0.0": map[string]any{"name": "evil", "version": "2.0.0", "dist": dist(up.URL + "/r/evil-2.0.0.tgz")},
		"3.0.0": map[string]any{"name": "evil", "version": "3.0.0", "dist": dist("http://169.254.169.254/latest/meta-data/evil-3.0.0.tgz")},
	}})
	up.Handle("/evil", doc, func(r *testkit.Route) { r.ContentType = "application/json" })

	s := testkit.Start(t, "UPSTREAM_NPM="+up.URL+"/")
	if st, b := s.Get("/npm/evil"); st != 200 {
		t.Fatalf("packument: %d %s", st, b)
	}
	for _, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		if st, b := s.Get("/npm/evil/-/evil-" + v + ".tgz"); st == 200 || bytes.Equal(b, tarball) {
			t.Errorf("tarball %s: %d, want a refusal", v, st)
		}
	}
	if n := other.TotalHits(); n != 0 {
		t.Fatalf("the other server was asked %d times", n)
	}
	if up.Hits("/r/evil-2.0.0.tgz") == 0 {
		t.Error("the redirecting tarball was not even asked for")
	}
	if log := s.Log(); strings.Contains(log, "169.254.169.254") && strings.Contains(log, "dial") {
		t.Error("the edge tried to dial the metadata address")
	}

	allowed := testkit.Start(t, "UPSTREAM_NPM="+up.URL+"/", "UPSTREAM_ALLOWED_HOSTS="+strings.TrimPrefix(other.URL, "http://"))
	if st, b := allowed.Get("/npm/evil/-/evil-1.0.0.tgz"); st != 200 || !bytes.Equal(b, tarball) {
		t.Fatalf("allowed host: %d %s", st, b)
	}
	if n := other.Hits("/evil-1.0.0.tgz"); n != 1 {
		t.Fatalf("allowed host asked %d times, want 1", n)
	}
}

// TestE2ECrossSiteWrites: a page on another site cannot make a visitor's
// browser change anything, whatever credentials the browser replays (here
// the platform admin's Basic credentials, which a browser caches), on any
// protocol's write routes or the API; the same requests without the
// browser's headers are not refused for being cross-site.
func TestE2ECrossSiteWrites(t *testing.T) {
	s := testkit.Start(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+testkit.AdminPassword))
	routes := []struct{ method, path, ctype string }{
		{"POST", "/pypi/", "multipart/form-data; boundary=x"},
		{"POST", "/pypi/manage/acme-x/1.0/yank", "text/plain"},
		{"POST", "/rubygems/api/v1/gems", "text/plain"},
		{"DELETE", "/rubygems/api/v1/gems/yank?gem_name=acme-x&version=1.0.0", ""},
		{"PUT", "/npm/acme-x", "text/plain"},
		{"PUT", "/maven2/com/acme/x/1.0/x-1.0.jar", "text/plain"},
		{"PUT", "/cargo/api/v1/crates/new", "text/plain"},
		{"PUT", "/composer/packages/acme/x", "text/plain"},
		{"POST", "/v2/acme/app/blobs/uploads/", "text/plain"},
		{"POST", "/api/v1/organizations", "text/plain"},
	}
	browsers := []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.evil.example"},
		{"Origin": "http://evil.example"},
		{"Origin": "null"},
	}
	do := func(method, path, ctype string, headers map[string]string) (int, string) {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader("--x--\r\n"))
		req.Header.Set("Authorization", basic)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, r := range routes {
		for _, h := range browsers {
			if code, body := do(r.method, r.path, r.ctype, h); code != http.StatusForbidden || !strings.Contains(body, "another site") {
				t.Errorf("%s %s from a page on another site (%v): %d %s", r.method, r.path, h, code, body)
			}
		}
		if code, body := do(r.method, r.path, r.ctype, nil); strings.Contains(body, "another site") {
			t.Errorf("%s %s from a package client refused as cross-site: %d %s", r.method, r.path, code, body)
		}
		if code, body := do(r.method, r.path, r.ctype, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": s.URL}); strings.Contains(body, "another site") {
			t.Errorf("%s %s from the dashboard's origin refused as cross-site: %d %s", r.method, r.path, code, body)
		}
	}
}

// TestE2EExpectOversized: a client that announces a body over
// MAX_UPLOAD_SIZE and asks before sending it (Expect: 100-continue) is
// told 413 at once and never invited to send; one under the limit is.
func TestE2EExpectOversized(t *testing.T) {
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=1")
	ask := func(length int) string {
		c, err := net.Dial("tcp", s.Host())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("PUT /npm/x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	if got := ask(600 << 20); !strings.HasPrefix(got, "HTTP/1.1 413") {
		t.Errorf("600 MiB announced: %q, want 413 before the body", got)
	}
	if got := ask(1 << 10); !strings.HasPrefix(got, "HTTP/1.1 100") {
		t.Errorf("1 KiB announced: %q, want 100 Continue", got)
	}
}
