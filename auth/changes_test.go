package auth

import (
	"context"
	"testing"
	"time"

	"entrepot/hosted/changes"
)

// peers returns two Services on one store, each following the change
// feed as an edge does (cmd/entrepot wires the same): what one changes,
// the other's warm caches drop.
func peers(t *testing.T) (a, b *Service) {
	t.Helper()
	st := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	t.Cleanup(func() { cancel(); <-done; <-done })
	out := make([]*Service, 2)
	for i := range out {
		f := changes.New(st, changes.Options{Interval: 10 * time.Millisecond})
		s, err := New(st, Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), Password: cheap, Protocols: testProtocols, Changes: f})
		if err != nil {
			t.Fatal(err)
		}
		f.Subscribe(s.Changed)
		go func() { f.Run(ctx); done <- struct{}{} }()
		out[i] = s
	}
	return out[0], out[1]
}

// eventually waits for cond, up to a generous timeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen by the other service", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestChangesReachOtherServices(t *testing.T) {
	ctx := context.Background()
	a, b := peers(t)
	u := mustUser(t, a, "alice", false)
	refused := func(c Credentials) func() bool {
		return func() bool { _, err := b.Authenticate(ctx, c); return err != nil }
	}

	t.Run("token revoked", func(t *testing.T) {
		tok, secret, err := a.CreateToken(ctx, u.ID, NewToken{Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		c := ParseCredentials("Bearer " + secret)
		if _, err := b.Authenticate(ctx, c); err != nil { // warm
			t.Fatal(err)
		}
		if err := a.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "revocation", refused(c))
	})

	t.Run("session ended", func(t *testing.T) {
		tokens, err := a.Login(ctx, "alice", "pw-alice-secret", "")
		if err != nil {
			t.Fatal(err)
		}
		c := ParseCredentials("Bearer " + tokens.AccessToken)
		p, err := b.Authenticate(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Logout(ctx, p.SessionID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "logout", refused(c))
	})

	t.Run("member removed", func(t *testing.T) {
		owner := mustUser(t, a, "owner", false)
		org, err := a.CreateOrg(ctx, Org{Name: "peers"}, owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		repo, err := a.CreateRepo(ctx, Repository{OrgID: org.ID, Name: "default", Protocol: "npm", Visibility: Private})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetOrgMember(ctx, org.ID, u.ID, OrgAdmin); err != nil {
			t.Fatal(err)
		}
		p := Principal{UserID: u.ID, Username: "alice"}
		eventually(t, "membership", func() bool { return b.Authorize(ctx, p, repo.Ref(), Read) == nil })
		if err := a.RemoveOrgMember(ctx, org.ID, u.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "removal", func() bool { return b.Authorize(ctx, p, repo.Ref(), Read) != nil })
	})

	t.Run("user deleted", func(t *testing.T) {
		_, secret, err := a.CreateToken(ctx, u.ID, NewToken{Name: "last"})
		if err != nil {
			t.Fatal(err)
		}
		c := ParseCredentials("Bearer " + secret)
		if _, err := b.Authenticate(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := a.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "deletion", refused(c))
	})
}
