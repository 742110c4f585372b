package auth

import (
	"context"
	"path/filepath"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
)

// cheap keeps argon2id fast in tests; production uses DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newStore(t testing.TB) hosted.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return st
}

func newService(t testing.TB) (*Service, hosted.Store) {
	t.Helper()
	st := newStore(t)
	s, err := New(st, Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), Password: cheap, Protocols: testProtocols, Reserved: []string{"v2"}})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// testProtocols stands for cmd/entrepot's protocol table.
var testProtocols = []string{"npm", "oci", "pypi"}

func mustUser(t testing.TB, s *Service, username string, admin bool) User {
	t.Helper()
	u, err := s.CreateUser(context.Background(), NewUser{
		Email: username + "@example.com", Username: username, Password: "pw-" + username + "-secret", PlatformAdmin: admin,
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func wantKind(t *testing.T, err error, k fault.Kind) {
	t.Helper()
	if err == nil || fault.KindOf(err) != k {
		t.Fatalf("err = %v (kind %v), want kind %v", err, fault.KindOf(err), k)
	}
}

func TestNewRefusesShortKey(t *testing.T) {
	_, err := New(newStore(t), Config{SigningKey: []byte("short")})
	wantKind(t, err, fault.Invalid)
}

func TestUsersUniqueCaseInsensitive(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	mustUser(t, s, "Alice", false)
	_, err := s.CreateUser(ctx, NewUser{Email: "other@example.com", Username: "alice"})
	wantKind(t, err, fault.Conflict)
	_, err = s.CreateUser(ctx, NewUser{Email: "ALICE@example.com", Username: "bob"})
	wantKind(t, err, fault.Conflict)
	for _, login := range []string{"alice", "ALICE", "Alice@Example.com"} {
		if u, err := s.UserByLogin(ctx, login); err != nil || u.Username != "Alice" {
			t.Errorf("UserByLogin(%q) = %v, %v", login, u, err)
		}
	}
	for _, bad := range []NewUser{
		{Email: "nope", Username: "x"},
		{Email: "x@y", Username: "-x"},
		{Email: "x@y", Username: "ok", Password: "short"},
	} {
		_, err := s.CreateUser(ctx, bad)
		wantKind(t, err, fault.Invalid)
	}
}

func TestBootstrap(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	pw, err := s.Bootstrap(ctx, "root@example.com", "")
	if err != nil || len(pw) < 32 {
		t.Fatalf("Bootstrap = %q, %v", pw, err)
	}
	tok, err := s.Login(ctx, "root@example.com", pw, "")
	if err != nil || !tok.User.PlatformAdmin {
		t.Fatalf("login as bootstrap admin: %+v, %v", tok.User, err)
	}
	if pw2, err := s.Bootstrap(ctx, "other@example.com", ""); err != nil || pw2 != "" {
		t.Fatalf("second Bootstrap = %q, %v; want no-op", pw2, err)
	}
}

func TestNames(t *testing.T) {
	s, _ := newService(t)
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"acme", true}, {"a", true}, {"0day", true}, {"my-org.io_x", true},
		{"", false}, {"-acme", false}, {".acme", false}, {"_acme", false}, {"Acme", false},
		{"ac me", false}, {"acme/x", false}, {string(make([]byte, 65)), false},
		{"api", false}, {"admin", false}, {"v2", false}, {"npm", false}, {"healthz", false}, {"-", false},
	} {
		err := s.ValidName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !fault.Is(err, fault.Invalid) {
			t.Errorf("ValidName(%q) kind = %v", c.name, fault.KindOf(err))
		}
	}
}
