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
	// A registry token is checked again on every use: its API token, its
	// user, then RBAC.
	b.Run("RegistryToken", func(b *testing.B) {
		run := func() {
			p, _, err := s.VerifyRegistryToken(ctx, registry, "registry.test")
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
	for _, c := range []struct{ name, header string }{
		{"BearerJWT", "Bearer " + tok.AccessToken},
		{"Token", "Bearer " + secret},
		{"BasicPassword", "Basic " + b64("rdeveloper:pw-rdeveloper-secret")},
	} {
		b.Run(c.name, func(b *testing.B) {
			run := func() {
				p, err := s.Authenticate(ctx, ParseCredentials(c.header))
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
