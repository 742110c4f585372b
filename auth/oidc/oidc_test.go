package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entrepot/auth/oidc"
	"entrepot/hosted/fault"
)

// fakeIdP serves discovery and a JWKS whose keys a test sets (rotation),
// and counts JWKS fetches. It signs the tokens tests craft.
type fakeIdP struct {
	srv   *httptest.Server
	mu    sync.Mutex
	keys  map[string]*rsa.PrivateKey // kid → key, published in the JWKS
	jwks  atomic.Int32
	discs atomic.Int32
}

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{keys: map[string]*rsa.PrivateKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		f.discs.Add(1)
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": f.srv.URL, "authorization_endpoint": f.srv.URL + "/auth", "token_endpoint": f.srv.URL + "/token",
			"jwks_uri": f.srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		f.jwks.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		var keys []map[string]string
		for kid, k := range f.keys {
			keys = append(keys, map[string]string{
				"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
			})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func newKey(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publish makes the JWKS hold exactly keys.
func (f *fakeIdP) publish(keys map[string]*rsa.PrivateKey) {
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
}

func sign(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	f := newFakeIdP(t)
	k1, k2, stranger := newKey(t), newKey(t), newKey(t)
	f.publish(map[string]*rsa.PrivateKey{"k1": k1})
	cl, err := oidc.Discover(context.Background(), oidc.Config{Issuer: f.srv.URL, ClientID: "entrepot"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": f.srv.URL, "aud": "entrepot", "sub": "user-1", "nonce": "n-1",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"email": "u@example.test", "email_verified": true, "preferred_username": "u1", "groups": []string{"a", "b"},
		}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name  string
		token string
		nonce string
		want  string // "" for valid, else a part of the error
	}{
		{"valid", sign(t, k1, "k1", good()), "n-1", ""},
		{"expired", sign(t, k1, "k1", with("exp", now.Add(-time.Minute).Unix())), "n-1", "expired"},
		{"signed by a stranger under a known kid", sign(t, stranger, "k1", good()), "n-1", "signature"},
		{"signed by a stranger under an unknown kid", sign(t, stranger, "k9", good()), "n-1", "signature"},
		{"other audience", sign(t, k1, "k1", with("aud", "someone-else")), "n-1", "audience"},
		{"other issuer", sign(t, k1, "k1", with("iss", "https://evil.example")), "n-1", "different provider"},
		{"nonce mismatch", sign(t, k1, "k1", good()), "n-2", "nonce"},
		{"no nonce", sign(t, k1, "k1", with("nonce", nil)), "n-1", "nonce"},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), "n-1", "invalid ID token"},
		{"garbage", "a.b.c", "n-1", "invalid ID token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := cl.Verify(context.Background(), c.token, c.nonce)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if id.Subject != "user-1" || id.Email != "u@example.test" || !id.EmailVerified || id.Username != "u1" {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			if err == nil || !fault.Is(err, fault.Unauthorized) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want Unauthorized %q, got %v", c.want, err)
			}
		})
	}

	t.Run("key rotation", func(t *testing.T) {
		// The provider rotates to k2: a token under the new kid makes the
		// key set fetch the JWKS again, without a new discovery.
		f.publish(map[string]*rsa.PrivateKey{"k2": k2})
		discs := f.discs.Load()
		if _, err := cl.Verify(context.Background(), sign(t, k2, "k2", good()), "n-1"); err != nil {
			t.Fatal(err)
		}
		if f.discs.Load() != discs {
			t.Fatal("rotation repeated discovery")
		}
		// k1 is gone from the JWKS: its tokens no longer verify. go-oidc
		// releases the waiters of a key fetch a moment before it stores the
		// new set, so the retired key may be honoured for that moment; a
		// bounded number of tries lets the store land.
		old := sign(t, k1, "k1", good())
		for try := 0; ; try++ {
			if _, err := cl.Verify(context.Background(), old, "n-1"); err != nil {
				break
			}
			if try == 100 {
				t.Fatal("a token under a retired key verified")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestDiscoverRefusesAnotherIssuer(t *testing.T) {
	f := newFakeIdP(t)
	_, err := oidc.Discover(context.Background(), oidc.Config{Issuer: f.srv.URL + "/other", ClientID: "x"}, nil)
	if err == nil {
		t.Fatal("discovery accepted a document naming another issuer")
	}
}

func TestFlowAndAuthURL(t *testing.T) {
	f := newFakeIdP(t)
	cl, err := oidc.Discover(context.Background(), oidc.Config{Issuer: f.srv.URL, ClientID: "entrepot"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := oidc.NewFlow(), oidc.NewFlow()
	if a.State == b.State || a.Nonce == b.Nonce || a.Verifier == b.Verifier || len(a.State) < 20 || len(a.Verifier) < 43 {
		t.Fatalf("flows are not random: %+v %+v", a, b)
	}
	u := cl.AuthURL("https://reg.example/cb", a)
	for _, want := range []string{"state=" + a.State, "nonce=" + a.Nonce, "code_challenge_method=S256", "code_challenge=", "scope=openid+email+profile", "client_id=entrepot"} {
		if !strings.Contains(u, want) {
			t.Errorf("auth URL %s lacks %s", u, want)
		}
	}
	if strings.Contains(u, a.Verifier) {
		t.Fatal("the PKCE verifier leaked into the URL")
	}
}
