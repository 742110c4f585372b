package edge

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	const basic = "dXNlcjpzM2NyZXQtcGFzcw==" // user:s3cret-pass
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXNlY3JldA"
	cases := []struct {
		name   string
		in     string
		secret []string // none may survive
		keep   []string // each must survive
	}{
		{"bearer header", "Authorization: Bearer srg_SECRETSECRET", []string{"SECRETSECRET"}, []string{"Authorization: [redacted]"}},
		{"basic header", "authorization: Basic " + basic + "\r\nHost: x", []string{basic}, []string{"Host: x"}},
		{"proxy authorization", "Proxy-Authorization: Basic " + basic, []string{basic}, []string{"Proxy-Authorization"}},
		{"cookie", "Cookie: session=SECRET; theme=dark", []string{"SECRET", "dark"}, []string{"Cookie: [redacted]"}},
		{"set-cookie", "Set-Cookie: refresh=SECRET; HttpOnly", []string{"SECRET"}, []string{"Set-Cookie"}},
		{"api key header", "X-Api-Key: SECRET", []string{"SECRET"}, []string{"X-Api-Key"}},
		{"npm otp", "npm-otp: 123456", []string{"123456"}, []string{"npm-otp"}},
		{"private token", "Private-Token: SECRET", []string{"SECRET"}, nil},
		{"quoted dump", `contents: "GET / HTTP/1.1\r\nAuthorization: Bearer srg_SECRET\r\n"..."\r\nCookie: a=SECRET\r\n"`, []string{"SECRET"}, []string{"contents: [request withheld]"}},
		{"dump split mid-secret", `buffer size=400, contents: "GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpz"..."M2NyZXQ=\r\n\r\n"`, []string{"dXNlcjpz", "M2NyZXQ"}, []string{"buffer size=400"}},
		{"header value alone", `invalid header value "Basic ` + basic + `\x01"`, []string{basic}, []string{"invalid header value [withheld]"}},
		{"header key alone", `invalid header key "Bearer SECRET"`, []string{"SECRET"}, nil},
		{"quoted header in a dump", `"Authorization: Bearer abc\"SECRET\r\nHost: h"`, []string{"SECRET", "abc"}, []string{`Host: h"`}},
		{"url userinfo", "GET http://user:SECRET@host.example/path", []string{"SECRET", "user:"}, []string{"http://[redacted]@host.example/path"}},
		{"url userinfo in quotes", `"https://tok:SECRET@h/x"`, []string{"SECRET"}, []string{"https://[redacted]@h/x"}},
		{"query token", "GET /packages?token=SECRET&limit=5", []string{"SECRET"}, []string{"limit=5"}},
		{"query access_token", "/v2/token?service=x&access_token=SECRET", []string{"SECRET"}, []string{"service=x"}},
		{"npmrc authToken", "//registry.example/:_authToken=SECRET", []string{"SECRET"}, []string{"_authToken="}},
		{"json authToken", `{"_authToken": "SECRET"}`, []string{"SECRET"}, nil},
		{"npmrc password", "_password=SECRET", []string{"SECRET"}, nil},
		{"srg token anywhere", "token srg_AbC-123_xyz was used", []string{"AbC-123_xyz"}, []string{"was used"}},
		{"jwt anywhere", "refresh " + jwt + " failed", []string{jwt, "c2lnbmF0dXJlLXNlY3JldA"}, []string{"failed"}},
		{"basic outside a header", "credentials Basic " + basic + " refused", []string{basic}, []string{"refused"}},
		{"fasthttp ctx prefix", `0.001 #0000000100000001 - 127.0.0.1:3000<->127.0.0.1:5555 - PUT http://h/x?password=SECRET - boom`, []string{"SECRET"}, []string{"127.0.0.1:3000<->127.0.0.1:5555", "boom"}},
		{"nothing secret", `error when serving connection "127.0.0.1:3000"<->"127.0.0.1:5555": cannot parse Content-Length: "-1"`, nil,
			[]string{`error when serving connection "127.0.0.1:3000"<->"127.0.0.1:5555": cannot parse Content-Length: "-1"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in)
			for _, s := range tc.secret {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q: keeps %q", tc.in, got, s)
				}
			}
			for _, s := range tc.keep {
				if !strings.Contains(got, s) {
					t.Errorf("Redact(%q) = %q: lost %q", tc.in, got, s)
				}
			}
		})
	}
}

func TestWithholdQuoted(t *testing.T) {
	cases := []struct{ in, want string }{
		{`error when serving connection "127.0.0.1:3000"<->"[2001:db8::1]:44321": x`, `error when serving connection "127.0.0.1:3000"<->"[2001:db8::1]:44321": x`},
		{`cannot parse Content-Length: "-1"`, `cannot parse Content-Length: "-1"`},
		{`missing colon: "Bearer [redacted] YWxpY2U6UGE1NS1MRUFL"`, `missing colon: [38 bytes withheld]`},
		{`first line "GET /x?a=\"b\" HTTP/9.9"`, `first line [23 bytes withheld]`},
	}
	for _, tc := range cases {
		if got := withholdQuoted(tc.in); got != tc.want {
			t.Errorf("withholdQuoted(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactWarnings(t *testing.T) {
	var b strings.Builder
	log := slog.New(RedactWarnings(slog.NewTextHandler(&b, nil)))
	log.With("token", "srg_WITHSECRET").Warn("fetch http://u:MSGSECRET@h/x failed",
		"error", errors.New("Authorization: Bearer srg_ERRSECRET"),
		slog.Group("req", "url", "https://a:GROUPSECRET@h/"),
		"n", 3)
	log.Info("access", "path", "/npm/srg_INFOKEPT") // Info is written as is
	got := b.String()
	for _, s := range []string{"WITHSECRET", "MSGSECRET", "ERRSECRET", "GROUPSECRET"} {
		if strings.Contains(got, s) {
			t.Errorf("log keeps %s:\n%s", s, got)
		}
	}
	for _, s := range []string{"n=3", "srg_INFOKEPT", "req.url=https://[redacted]@h/"} {
		if !strings.Contains(got, s) {
			t.Errorf("log lost %q:\n%s", s, got)
		}
	}
}
