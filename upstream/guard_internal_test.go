package upstream

import (
	"net/netip"
	"net/url"
	"testing"
)

func TestClassOf(t *testing.T) {
	cases := []struct {
		ip   string
		want addrClass
	}{
		{"93.184.216.34", classPublic},
		{"2606:4700::1111", classPublic},
		{"127.0.0.1", classLoopback},
		{"127.8.9.10", classLoopback},
		{"::1", classLoopback},
		{"::ffff:127.0.0.1", classLoopback},
		{"64:ff9b::7f00:1", classLoopback}, // NAT64 of 127.0.0.1
		{"10.1.2.3", classPrivate},
		{"172.16.0.1", classPrivate},
		{"192.168.1.1", classPrivate},
		{"100.64.0.1", classPrivate},
		{"fd00::1", classPrivate},
		{"169.254.169.254", classLinkLocal},
		{"::ffff:169.254.169.254", classLinkLocal},
		{"fe80::1", classLinkLocal},
		{"0.0.0.0", classReserved},
		{"::", classReserved},
		{"0.1.2.3", classReserved},
		{"224.0.0.1", classReserved},
		{"255.255.255.255", classReserved},
		{"240.0.0.1", classReserved},
		{"192.0.2.1", classReserved},
	}
	for _, tc := range cases {
		if got := classOf(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("classOf(%s) = %s, want %s", tc.ip, got, tc.want)
		}
	}
}

func TestGuardAllow(t *testing.T) {
	g, err := newGuard(mustURL(t, "https://registry.example/npm/"), []string{"files.example:8443", "*.cdn.example", "mirror.example"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url string
		ok  bool
	}{
		{"https://registry.example/pkg", true},
		{"https://REGISTRY.example./pkg", true},
		{"https://registry.example:443/pkg", true},
		{"http://registry.example/pkg", false}, // another port
		{"https://registry.example:8443/pkg", false},
		{"https://files.example:8443/x", true},
		{"https://files.example/x", false},
		{"https://a.cdn.example/x", true},
		{"https://a.b.cdn.example/x", true},
		{"https://cdn.example/x", false},
		{"https://evilcdn.example/x", false},
		{"http://mirror.example:9000/x", true},
		{"http://127.0.0.1/x", false},
		{"http://169.254.169.254/latest/meta-data/", false},
		{"http://[::1]:3000/x", false},
		{"https://registry.example.evil/x", false},
	}
	for _, tc := range cases {
		if err := g.allow(mustURL(t, tc.url)); (err == nil) != tc.ok {
			t.Errorf("allow(%s) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestParseAllowedHost(t *testing.T) {
	for _, s := range []string{"files.example", "files.example:8443", "*.cdn.example", "10.0.0.5", "[::1]:80"} {
		if err := ParseAllowedHost(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "http://x", "a/b", "*", "u@h"} {
		if err := ParseAllowedHost(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
