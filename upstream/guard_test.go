package upstream_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// TestGuard: upstream-supplied URLs and redirects reach only the base's
// host or an allowed one, and an allowed name is reached at a private
// address only when the base is on that kind of network too. The other
// servers count hits: a refused request never reaches them.
func TestGuard(t *testing.T) {
	own, other := testkit.NewUpstream(t), testkit.NewUpstream(t)
	own.Handle("/a", []byte("a"))
	other.Handle("/b", []byte("b"))
	own.Set("/to-other", testkit.Route{Status: http.StatusFound, Header: map[string]string{"Location": other.URL + "/b"}})
	own.Set("/to-metadata", testkit.Route{Status: http.StatusFound, Header: map[string]string{"Location": "http://169.254.169.254/latest/meta-data/"}})
	own.Set("/to-self", testkit.Route{Status: http.StatusFound, Header: map[string]string{"Location": own.URL + "/a"}})
	otherHost := strings.TrimPrefix(other.URL, "http://")
	port := otherHost[strings.LastIndex(otherHost, ":"):]

	cases := []struct {
		name    string
		base    string
		allowed []string
		url     string
		ok      bool
	}{
		{"own host", own.URL, nil, own.URL + "/a", true},
		{"redirect to own host", own.URL, nil, own.URL + "/to-self", true},
		{"another loopback port", own.URL, nil, other.URL + "/b", false},
		{"redirect to another loopback port", own.URL, nil, own.URL + "/to-other", false},
		{"metadata service", own.URL, nil, "http://169.254.169.254/latest/meta-data/", false},
		{"redirect to the metadata service", own.URL, nil, own.URL + "/to-metadata", false},
		{"allowed, base on loopback too", own.URL, []string{otherHost}, other.URL + "/b", true},
		{"allowed redirect", own.URL, []string{otherHost}, own.URL + "/to-other", true},
		// The base is a public name (it never resolves here): an allowed
		// name that resolves to loopback is refused when dialed, which is
		// what a DNS rebinding of an allowed host would look like.
		{"allowed name on loopback, base elsewhere", "https://upstream.invalid/", []string{"localhost"}, "http://localhost" + port + "/b", false},
		{"allowed IP on loopback, base elsewhere", "https://upstream.invalid/", []string{otherHost}, other.URL + "/b", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := other.Hits("/b")
			c := newClient(t, tc.base, upstream.Options{AllowedHosts: tc.allowed})
			_, _, err := fetch(c, tc.url, upstream.Request{})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantKind(t, err, fault.Upstream)
			if !strings.Contains(err.Error(), "refused") {
				t.Errorf("error %q does not say it refused", err)
			}
			if n := other.Hits("/b") - before; n != 0 {
				t.Errorf("the other server was hit %d times", n)
			}
		})
	}
}

// TestGuardOCITokenRealm: a registry's challenge naming a token realm on
// another host sends no request there (the configured Basic credentials
// included) unless that host is allowed.
func TestGuardOCITokenRealm(t *testing.T) {
	own, realm := testkit.NewUpstream(t), testkit.NewUpstream(t)
	own.Set("/v2/x/manifests/1", testkit.Route{Status: http.StatusUnauthorized,
		Header: map[string]string{"WWW-Authenticate": `Bearer realm="` + realm.URL + `/token",service="s",scope="repository:x:pull"`}})
	realm.Handle("/token", []byte(`{"token":"t"}`))
	for _, allowed := range []bool{false, true} {
		opts := upstream.Options{Username: "u", Password: "p", Retries: -1}
		if allowed {
			opts.AllowedHosts = []string{strings.TrimPrefix(realm.URL, "http://")}
		}
		tokens := upstream.NewOCITokens(newClient(t, own.URL, opts))
		_, err := tokens.Get(context.Background(), own.URL+"/v2/x/manifests/1", "repository:x:pull", upstream.Request{})
		if err == nil {
			t.Fatal("the manifest answered 401, yet Get succeeded")
		}
		hits := realm.Hits("/token")
		if !allowed && hits != 0 {
			t.Fatalf("the realm on a host not allowed was asked %d times", hits)
		}
		if allowed && hits == 0 {
			t.Fatalf("the allowed realm was not asked: %v", err)
		}
	}
}
