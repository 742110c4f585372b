// Package oidc signs users in with an OpenID Connect provider: discovery,
// the authorization code flow with PKCE (S256), state and nonce, and the
// validation of the ID token (issuer, audience, expiry, signature against
// the provider's JWKS, fetched again when a token names a key it has not
// seen: key rotation). It is built on github.com/coreos/go-oidc/v3 and
// golang.org/x/oauth2, and knows nothing of Entrepot's accounts: auth turns
// an Identity into a user, and the edge carries the redirects.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"entrepot/hosted/fault"
)

// Config is one provider, as a provider document holds it (its JSON is
// the "oidc" object of the document).
type Config struct {
	// Issuer is the provider's issuer URL; discovery reads
	// Issuer/.well-known/openid-configuration and the issuer it names
	// must be this one.
	Issuer       string `json:"issuer"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes asked for; default openid, email, profile ("openid" is always
	// added).
	Scopes []string `json:"scopes,omitempty"`
	// UsernameClaim names the claim that suggests a username on first
	// sign-in; default preferred_username.
	UsernameClaim string `json:"usernameClaim,omitempty"`
}

// Validate reports, as an Invalid error, what is wrong with c.
func (c Config) Validate() error {
	const op = "oidc.Validate"
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fault.New(op, fault.Invalid, "oidc.issuer must be an http(s) URL")
	}
	if c.ClientID == "" {
		return fault.New(op, fault.Invalid, "oidc.clientId is required")
	}
	return nil
}

func (c Config) scopes() []string {
	s := c.Scopes
	if len(s) == 0 {
		s = []string{"email", "profile"}
	}
	if !slices.Contains(s, gooidc.ScopeOpenID) {
		s = append([]string{gooidc.ScopeOpenID}, s...)
	}
	return s
}

// Identity is what a validated ID token (and the token endpoint's answer)
// says about the user.
type Identity struct {
	Subject       string
	Email         string
	EmailVerified bool
	Username      string
	Name          string
	Claims        map[string]any // every claim of the ID token
}

// Client is one discovered provider. Safe for concurrent use; it keeps the
// provider's keys and refreshes them when a token needs a new one.
type Client struct {
	cfg      Config
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	httpc    *http.Client
	jwksURL  string
}

// Discover fetches the provider's configuration with httpc (nil: a client
// with a 15s timeout). Upstream when the provider cannot be reached or
// answers nonsense, Invalid when its issuer is not c.Issuer.
func Discover(ctx context.Context, c Config, httpc *http.Client) (*Client, error) {
	const op = "oidc.Discover"
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if httpc == nil {
		httpc = &http.Client{Timeout: 15 * time.Second}
	}
	// The key set keeps the client from this context for later fetches:
	// give it one that never ends, with our HTTP client.
	pctx := gooidc.ClientContext(context.WithoutCancel(ctx), httpc)
	p, err := gooidc.NewProvider(pctx, c.Issuer)
	if err != nil {
		if strings.Contains(err.Error(), "issuer did not match") {
			return nil, fault.WrapMsg(op, fault.Invalid, "the provider's discovery document names another issuer", err)
		}
		return nil, fault.WrapMsg(op, fault.Upstream, "OIDC discovery failed: "+err.Error(), err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	p.Claims(&meta)
	return &Client{
		cfg:      c,
		provider: p,
		verifier: p.Verifier(&gooidc.Config{ClientID: c.ClientID}),
		httpc:    httpc,
		jwksURL:  meta.JWKS,
	}, nil
}

func (cl *Client) oauth(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     cl.cfg.ClientID,
		ClientSecret: cl.cfg.ClientSecret,
		Endpoint:     cl.provider.Endpoint(),
		RedirectURL:  redirectURL,
		Scopes:       cl.cfg.scopes(),
	}
}

// Flow is the secret half of one authorization: what the callback needs
// to check the answer. The edge keeps it where only this browser returns
// it (a sealed cookie).
type Flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
}

// NewFlow returns fresh random state, nonce and PKCE verifier.
func NewFlow() Flow {
	return Flow{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
}

// AuthURL is where the browser goes to sign in: the provider's
// authorization endpoint with the flow's state, nonce and S256 challenge.
func (cl *Client) AuthURL(redirectURL string, f Flow) string {
	return cl.oauth(redirectURL).AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
}

// Exchange redeems code (with the flow's PKCE verifier) at the token
// endpoint and validates the ID token it answers, nonce included.
// Unauthorized for a refused code or an invalid token, Upstream when the
// provider cannot be reached.
func (cl *Client) Exchange(ctx context.Context, redirectURL, code string, f Flow) (Identity, error) {
	const op = "oidc.Exchange"
	ctx = gooidc.ClientContext(ctx, cl.httpc)
	tok, err := cl.oauth(redirectURL).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Identity{}, fault.WrapMsg(op, fault.Unauthorized, "the provider refused the authorization code", err)
		}
		return Identity{}, fault.WrapMsg(op, fault.Upstream, "OIDC token endpoint: "+err.Error(), err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fault.New(op, fault.Unauthorized, "the provider answered no ID token")
	}
	return cl.Verify(ctx, raw, f.Nonce)
}

// Verify validates a raw ID token: signature (JWKS, refetched for an
// unknown key), issuer, audience (the client id), expiry, and that its
// nonce is nonce. Every failure is Unauthorized.
func (cl *Client) Verify(ctx context.Context, raw, nonce string) (Identity, error) {
	const op = "oidc.Verify"
	ctx = gooidc.ClientContext(ctx, cl.httpc)
	idt, err := cl.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fault.WrapMsg(op, fault.Unauthorized, "invalid ID token: "+err.Error(), err)
	}
	if nonce == "" || idt.Nonce != nonce {
		return Identity{}, fault.New(op, fault.Unauthorized, "invalid ID token: nonce mismatch")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fault.WrapMsg(op, fault.Unauthorized, "invalid ID token claims", err)
	}
	id := Identity{Subject: idt.Subject, Claims: claims}
	id.Email, _ = claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = v == "true"
	}
	uc := cl.cfg.UsernameClaim
	if uc == "" {
		uc = "preferred_username"
	}
	id.Username, _ = claims[uc].(string)
	id.Name, _ = claims["name"].(string)
	if id.Subject == "" {
		return Identity{}, fault.New(op, fault.Unauthorized, "invalid ID token: no subject")
	}
	return id, nil
}

// Step is one stage of a connection check and how it went.
type Step struct {
	Name   string `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Check runs discovery and reads the provider's JWKS, stopping at the
// first failure (the last Step, with OK false).
func Check(ctx context.Context, c Config, httpc *http.Client) []Step {
	var steps []Step
	add := func(name string, err error, detail string) bool {
		s := Step{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			s.Detail = fault.Message(err)
		}
		steps = append(steps, s)
		return err == nil
	}
	if !add("config", c.Validate(), "") {
		return steps
	}
	cl, err := Discover(ctx, c, httpc)
	if !add("discovery", err, "read "+strings.TrimSuffix(c.Issuer, "/")+"/.well-known/openid-configuration") {
		return steps
	}
	n, err := cl.countKeys(ctx)
	add("jwks", err, fmt.Sprintf("%d signing keys at %s", n, cl.jwksURL))
	return steps
}

func (cl *Client) countKeys(ctx context.Context) (int, error) {
	const op = "oidc.jwks"
	if cl.jwksURL == "" {
		return 0, fault.New(op, fault.Upstream, "the discovery document names no jwks_uri")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", cl.jwksURL, nil)
	if err != nil {
		return 0, fault.Wrap(op, fault.Invalid, err)
	}
	resp, err := cl.httpc.Do(req)
	if err != nil {
		return 0, fault.WrapMsg(op, fault.Upstream, "JWKS: "+err.Error(), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return 0, fault.Newf(op, fault.Upstream, "JWKS: %s", resp.Status)
	}
	var ks struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &ks); err != nil || len(ks.Keys) == 0 {
		return 0, fault.New(op, fault.Upstream, "JWKS: no keys")
	}
	return len(ks.Keys), nil
}

// Clients keeps discovered providers so that a sign-in does not repeat
// discovery, and the key set (with its rotation) lives across sign-ins.
// An entry is keyed by the provider's id and a hash of its configuration,
// so that an edited provider is discovered again; entries expire after
// TTL. Safe for concurrent use.
type Clients struct {
	TTL   time.Duration // default 1 hour
	HTTP  *http.Client  // nil: Discover's default
	mu    sync.Mutex
	byKey map[string]clientEntry
}

type clientEntry struct {
	c     *Client
	until time.Time
}

// Get returns the discovered client of provider id with configuration c,
// discovering it when needed.
func (cs *Clients) Get(ctx context.Context, id string, c Config) (*Client, error) {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	key := id + "/" + hex.EncodeToString(sum[:8])
	now := time.Now()
	cs.mu.Lock()
	if e, ok := cs.byKey[key]; ok && now.Before(e.until) {
		cs.mu.Unlock()
		return e.c, nil
	}
	cs.mu.Unlock()
	cl, err := Discover(ctx, c, cs.HTTP)
	if err != nil {
		return nil, err
	}
	ttl := cs.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.byKey == nil {
		cs.byKey = map[string]clientEntry{}
	}
	for k := range cs.byKey { // drop the older configurations of id
		if strings.HasPrefix(k, id+"/") {
			delete(cs.byKey, k)
		}
	}
	cs.byKey[key] = clientEntry{c: cl, until: now.Add(ttl)}
	return cl, nil
}
