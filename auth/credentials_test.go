package auth

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseCredentials(t *testing.T) {
	tok := "srg_" + strings.Repeat("A", 43)
	jwt := "eyJh.eyJz.sig"
	cases := []struct {
		name   string
		header string
		want   Credentials
	}{
		{"empty", "", Credentials{}},
		{"spaces", "   ", Credentials{}},
		{"bearer jwt", "Bearer " + jwt, Credentials{Kind: JWTCredentials, Secret: jwt}},
		{"bearer lowercase", "bearer " + jwt, Credentials{Kind: JWTCredentials, Secret: jwt}},
		{"bearer token", "Bearer " + tok, Credentials{Kind: TokenCredentials, Secret: tok}},
		{"token scheme", "Token " + tok, Credentials{Kind: TokenCredentials, Secret: tok}},
		{"basic password", "Basic " + b64("alice:s3cret:with:colons"), Credentials{Kind: PasswordCredentials, Username: "alice", Secret: "s3cret:with:colons"}},
		{"basic user token", "Basic " + b64("alice:"+tok), Credentials{Kind: TokenCredentials, Username: "alice", Secret: tok}},
		{"basic __token__", "Basic " + b64("__token__:"+tok), Credentials{Kind: TokenCredentials, Username: "__token__", Secret: tok}},
		{"basic token as user", "Basic " + b64(tok+":"), Credentials{Kind: TokenCredentials, Secret: tok}},
		{"basic longer than the stack buffer", "Basic " + b64("alice:"+strings.Repeat("p", 400)), Credentials{Kind: PasswordCredentials, Username: "alice", Secret: strings.Repeat("p", 400)}},
		{"basic unpadded", "Basic " + strings.TrimRight(b64("al:pw123456"), "="), Credentials{Kind: PasswordCredentials, Username: "al", Secret: "pw123456"}},
		{"raw token (cargo, gem)", tok, Credentials{Kind: TokenCredentials, Secret: tok}},
		{"raw __token__", "__token__:" + tok, Credentials{Kind: TokenCredentials, Username: "__token__", Secret: tok}},
		{"basic no colon", "Basic " + b64("alice"), Credentials{Kind: BadCredentials}},
		{"basic empty password", "Basic " + b64("alice:"), Credentials{Kind: BadCredentials, Username: "alice"}},
		{"basic __token__ non-token", "Basic " + b64("__token__:pypi-abc"), Credentials{Kind: BadCredentials, Username: "__token__"}},
		{"basic bad base64", "Basic !!!", Credentials{Kind: BadCredentials}},
		{"bearer garbage", "Bearer nope", Credentials{Kind: BadCredentials}},
		{"unknown scheme", "Digest abc", Credentials{Kind: BadCredentials}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ParseCredentials(c.header); got != c.want {
				t.Fatalf("ParseCredentials(%q) = %#v, want %#v", c.header, got, c.want)
			}
		})
	}
}

func TestCredentialsNeverPrintSecret(t *testing.T) {
	c := ParseCredentials("Basic " + b64("alice:hunter22-secret"))
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v", c), c.LogValue().String()} {
		if strings.Contains(s, "hunter22") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}
