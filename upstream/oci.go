package upstream

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"entrepot/hosted/fault"
)

// challengeError keeps an upstream's 401 or 403 challenge in an error's
// chain, so that the OCI token dance can answer it.
type challengeError struct{ header string }

func (e *challengeError) Error() string { return "upstream challenge: " + e.header }

// Challenge is a parsed WWW-Authenticate Bearer challenge, as OCI
// registries send it: where to get a token (Realm), for which service and
// scope.
type Challenge struct {
	Realm, Service, Scope, Error string
}

// ParseChallenge parses a WWW-Authenticate value. ok is false unless it is
// a Bearer challenge with a realm.
func ParseChallenge(h string) (c Challenge, ok bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return Challenge{}, false
	}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, found := strings.Cut(rest, "=")
		if !found {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			// A quoted string; a backslash escapes the next character.
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			val, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		rest = strings.TrimLeft(rest, ", ")
		switch key {
		case "realm":
			c.Realm = val
		case "service":
			c.Service = val
		case "scope":
			c.Scope = val
		case "error":
			c.Error = val
		}
	}
	return c, c.Realm != ""
}

// challengeOf returns the Bearer challenge in err's chain, if any.
func challengeOf(err error) (Challenge, bool) {
	for err != nil {
		if ce, ok := err.(*challengeError); ok {
			return ParseChallenge(ce.header)
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return Challenge{}, false
		}
		err = u.Unwrap()
	}
	return Challenge{}, false
}

// OCITokens does the bearer-token dance of OCI registries (the Docker
// token protocol) for one upstream Client: a request answered 401 with a
// Bearer challenge makes it fetch a token from the challenge's realm, with
// the client's configured Basic credentials (sent to the realm, which may
// be another host of the same registry) or anonymously, cache it until it
// expires, and repeat the request once with it. Concurrent requests that
// need the same token wait for one token request. Safe for concurrent use.
type OCITokens struct {
	c      *Client
	flight singleflight.Group

	mu     sync.Mutex
	tokens map[string]ociToken // by scope
	now    func() time.Time
}

type ociToken struct {
	value   string
	expires time.Time
}

// NewOCITokens returns the token dance for c, an OCI registry upstream.
func NewOCITokens(c *Client) *OCITokens {
	return &OCITokens{c: c, tokens: map[string]ociToken{}, now: time.Now}
}

// Client returns the underlying client.
func (t *OCITokens) Client() *Client { return t.c }

// Get is Client.Get (or a HEAD, with r.Method) with a bearer token for
// scope ("repository:library/nginx:pull"): the cached one, or one fetched
// when the upstream asks for it. Errors are Client.Get's; a token service
// that fails or refuses is Upstream.
func (t *OCITokens) Get(ctx context.Context, rawURL, scope string, r Request) (*Response, error) {
	const op = "upstream.OCITokens.Get"
	if tok, ok := t.cached(scope); ok {
		r = withBearer(r, tok)
	}
	resp, err := t.c.Get(ctx, rawURL, r)
	if err == nil {
		return resp, nil
	}
	ch, ok := challengeOf(err)
	if !ok {
		return nil, err
	}
	if ch.Scope == "" {
		ch.Scope = scope
	}
	tok, terr := t.token(ctx, scope, ch)
	if terr != nil {
		return nil, fault.Op(op, terr)
	}
	return t.c.Get(ctx, rawURL, withBearer(r, tok))
}

func withBearer(r Request, tok string) Request {
	h := r.Header.Clone()
	if h == nil {
		h = make(map[string][]string)
	}
	h.Set("Authorization", "Bearer "+tok)
	r.Header = h
	return r
}

func (t *OCITokens) cached(scope string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tok, ok := t.tokens[scope]
	if !ok || !t.now().Before(tok.expires) {
		return "", false
	}
	return tok.value, true
}

// token fetches a token for ch, once for concurrent callers, and caches
// it under scope.
func (t *OCITokens) token(ctx context.Context, scope string, ch Challenge) (string, error) {
	v, err, _ := t.flight.Do(scope+"\x00"+ch.Realm+"\x00"+ch.Service+"\x00"+ch.Scope, func() (any, error) {
		tok, err := t.fetch(ctx, ch)
		if err != nil {
			return "", err
		}
		t.mu.Lock()
		t.tokens[scope] = tok
		t.mu.Unlock()
		return tok.value, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// fetch asks the realm for a token.
func (t *OCITokens) fetch(ctx context.Context, ch Challenge) (ociToken, error) {
	const op = "upstream.OCITokens.fetch"
	u, err := url.Parse(ch.Realm)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ociToken{}, fault.Newf(op, fault.Upstream, "%s: token realm %q is not an http(s) URL", t.c.name, redact(ch.Realm))
	}
	q := u.Query()
	if ch.Service != "" {
		q.Set("service", ch.Service)
	}
	for _, s := range strings.Fields(ch.Scope) {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	var r Request
	r.MaxSize = 1 << 20
	if strings.HasPrefix(t.c.auth, "Basic ") {
		r.Header = map[string][]string{"Authorization": {t.c.auth}}
	}
	resp, err := t.c.Get(ctx, u.String(), r)
	if err != nil {
		return ociToken{}, fault.WrapMsg(op, fault.Upstream, t.c.name+": token request failed", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return ociToken{}, fault.Op(op, err)
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return ociToken{}, fault.WrapMsg(op, fault.Upstream, t.c.name+": token service sent no JSON", err)
	}
	tok := body.Token
	if tok == "" {
		tok = body.AccessToken
	}
	if tok == "" {
		return ociToken{}, fault.Newf(op, fault.Upstream, "%s: token service sent no token", t.c.name)
	}
	// The protocol's default lifetime is 60 s; keep a margin so that a
	// token is never sent as it expires.
	life := time.Duration(max(body.ExpiresIn, 60)) * time.Second
	return ociToken{value: tok, expires: t.now().Add(life - life/10)}, nil
}
