package edge

import (
	"testing"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/fault"
)

func TestRefuseCrossSite(t *testing.T) {
	for _, c := range []struct {
		name, method string
		headers      map[string]string
		refused      bool
	}{
		{"package client write", "PUT", nil, false},
		{"browser read from another site", "GET", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, false},
		{"dashboard write", "POST", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://registry.test"}, false},
		{"typed by the user", "POST", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"form from another site", "POST", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"form from a sibling site", "POST", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"delete from another site", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"old browser, same origin", "POST", map[string]string{"Origin": "http://registry.test"}, false},
		{"old browser, behind a proxy", "POST", map[string]string{"Origin": "https://packages.example", "X-Forwarded-Host": "packages.example"}, false},
		{"old browser, another origin", "POST", map[string]string{"Origin": "http://evil.example"}, true},
		{"sandboxed page", "PUT", map[string]string{"Origin": "null"}, true},
		{"same-origin claimed by Origin, cross-site by the browser", "POST", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://registry.test"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod(c.method)
			ctx.Request.Header.SetHost("registry.test")
			for k, v := range c.headers {
				ctx.Request.Header.Set(k, v)
			}
			err := refuseCrossSite(&ctx)
			if got := err != nil; got != c.refused {
				t.Fatalf("refused = %v, want %v (%v)", got, c.refused, err)
			}
			if err != nil && !fault.Is(err, fault.Forbidden) {
				t.Fatalf("kind of %v, want Forbidden", err)
			}
		})
	}
}
