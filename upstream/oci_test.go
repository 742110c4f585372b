package upstream

import "testing"

func TestParseChallenge(t *testing.T) {
	cases := []struct {
		in   string
		want Challenge
		ok   bool
	}{
		{`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/nginx:pull"`,
			Challenge{Realm: "https://auth.example/token", Service: "registry.example", Scope: "repository:library/nginx:pull"}, true},
		{`bearer realm="http://x/t", service=x, error="insufficient_scope"`, Challenge{Realm: "http://x/t", Service: "x", Error: "insufficient_scope"}, true},
		{`Bearer realm="a\"b"`, Challenge{Realm: `a"b`}, true},
		{`Basic realm="x"`, Challenge{}, false},
		{`Bearer service="x"`, Challenge{Service: "x"}, false},
		{``, Challenge{}, false},
	}
	for _, tc := range cases {
		got, ok := ParseChallenge(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%q: got %+v %v, want %+v %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
