package auth

import (
	"context"
	"testing"
)

// BenchmarkAuthenticateAuthorize measures the per-request cost of
// authenticate + authorize on a warm cache, as the edge pays it on a hot
// authenticated GET: parse the header, resolve the principal, decide.
func BenchmarkAuthenticateAuthorize(b *testing.B) {
	w := newWorld(b)
	s := w.s
	ctx := context.Background()
	dev := w.users["rdeveloper"]
	tok, err := s.Login(ctx, "rdeveloper", "pw-rdeveloper-secret", "")
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := s.CreateToken(ctx, dev.UserID, NewToken{Name: "bench", Protocols: []string{"npm"}, Actions: []string{"read"}})
	if err != nil {
		b.Fatal(err)
	}
	ref := w.priv.Ref()
	tp, err := s.Authenticate(ctx, ParseCredentials("Bearer "+secret))
	if err != nil {
		b.Fatal(err)
	}
	registry, _, err := s.IssueRegistryToken(tp, "registry.test", nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	authn := func(header string) func() (Principal, error) {
		return func() (Principal, error) { return s.Authenticate(ctx, ParseCredentials(header)) }
	}
	for _, c := range []struct {
		name string
		who  func() (Principal, error)
	}{
		{"BearerJWT", authn("Bearer " + tok.AccessToken)},
		{"Token", authn("Bearer " + secret)},
		{"BasicPassword", authn("Basic " + b64("rdeveloper:pw-rdeveloper-secret"))},
		// A registry token is checked again on every use: its API token,
		// its user, then RBAC.
		{"RegistryToken", func() (Principal, error) {
			p, _, err := s.VerifyRegistryToken(ctx, registry, "registry.test")
			return p, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			run := func() {
				p, err := c.who()
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Authorize(ctx, p, ref, Read); err != nil {
					b.Fatal(err)
				}
			}
			run() // warm
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				run()
			}
		})
	}
}
