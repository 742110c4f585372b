package auth

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// CredentialKind tells what a request presented.
type CredentialKind uint8

const (
	// NoCredentials: no Authorization header; the caller is anonymous.
	NoCredentials CredentialKind = iota
	// JWTCredentials: a Bearer access token from Login or Refresh.
	JWTCredentials
	// TokenCredentials: an srg_ API token, however it arrived.
	TokenCredentials
	// PasswordCredentials: Basic user:password (email or username).
	PasswordCredentials
	// BadCredentials: a header we could not make sense of.
	BadCredentials
)

// Credentials is what a request presented, as ParseCredentials read it.
// The edge fills ClientIP, which throttles password guessing. Its String
// and LogValue never show the secret.
type Credentials struct {
	Kind     CredentialKind
	Username string // Basic user name, when there was one
	Secret   string // the JWT, the srg_ token or the password
	ClientIP string
}

var kindNames = [...]string{"none", "jwt", "token", "password", "bad"}

// String describes c without its secret.
func (c Credentials) String() string {
	if int(c.Kind) >= len(kindNames) {
		return "credentials(?)"
	}
	s := "credentials(" + kindNames[c.Kind]
	if c.Username != "" {
		s += " " + c.Username
	}
	return s + ")"
}

// LogValue keeps the secret out of structured logs.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ParseCredentials reads an Authorization header value. It understands
//
//	Bearer <jwt>                   npm _authToken, the web UI, the API
//	Bearer srg_…  / Token srg_…    any client given a token
//	Basic base64(user:password)    pip, mvn, composer, docker login…
//	Basic base64(user:srg_…)       any user name (it is not checked) with a token
//	Basic base64(__token__:srg_…)  twine and pip's token convention
//	Basic base64(srg_…:)           a token given as the user name
//	srg_…  / __token__:srg_…       the raw token as the whole header (cargo, gem)
//
// An empty header gives NoCredentials; anything else BadCredentials, which
// Authenticate refuses. It is pure and never fails: every protocol handler
// calls it and never parses credentials itself.
func ParseCredentials(authorization string) Credentials {
	h := strings.TrimSpace(authorization)
	if h == "" {
		return Credentials{}
	}
	if strings.HasPrefix(h, TokenPrefix) {
		return Credentials{Kind: TokenCredentials, Secret: h}
	}
	if rest, ok := strings.CutPrefix(h, "__token__:"); ok {
		return userSecret("__token__", rest)
	}
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Token"):
		switch {
		case strings.HasPrefix(rest, TokenPrefix):
			return Credentials{Kind: TokenCredentials, Secret: rest}
		case strings.Count(rest, ".") == 2:
			return Credentials{Kind: JWTCredentials, Secret: rest}
		}
	case strings.EqualFold(scheme, "Basic"):
		// Decoded into a stack buffer when it fits: the one string made of
		// it below is the only allocation of a Basic header.
		var buf [256]byte
		raw := buf[:0]
		if n := base64.RawStdEncoding.DecodedLen(len(rest)); n > len(buf) { // ≥ the padded encoding's
			raw = make([]byte, 0, n)
		}
		n, err := base64.StdEncoding.Decode(raw[:cap(raw)], []byte(rest))
		if err != nil {
			if n, err = base64.RawStdEncoding.Decode(raw[:cap(raw)], []byte(rest)); err != nil {
				return Credentials{Kind: BadCredentials}
			}
		}
		user, pass, ok := strings.Cut(string(raw[:n]), ":")
		if !ok {
			return Credentials{Kind: BadCredentials}
		}
		return userSecret(user, pass)
	}
	return Credentials{Kind: BadCredentials}
}

func userSecret(user, pass string) Credentials {
	switch {
	case strings.HasPrefix(pass, TokenPrefix):
		return Credentials{Kind: TokenCredentials, Username: user, Secret: pass}
	case pass == "" && strings.HasPrefix(user, TokenPrefix):
		return Credentials{Kind: TokenCredentials, Secret: user}
	case user == "" || pass == "" || user == "__token__":
		return Credentials{Kind: BadCredentials, Username: user}
	}
	return Credentials{Kind: PasswordCredentials, Username: user, Secret: pass}
}

// Principal is who a request acts as. The zero Principal is anonymous.
type Principal struct {
	UserID        string
	Username      string
	PlatformAdmin bool
	SessionID     string  // set for a JWT, for Logout
	TokenID       string  // set for an API token
	Scopes        *Scopes // the token's restrictions; nil for a session or a password

	password string // the user's PasswordStamp, for a local password
}

// Anonymous reports whether p is nobody.
func (p Principal) Anonymous() bool { return p.UserID == "" }

// credEntry is a verified credential in the cache.
type credEntry struct {
	p     Principal
	gen   uint64        // credGen when verified
	noted *atomic.Int64 // when its token's use was last noted (tokenUsed), in Unix nanoseconds
}

// Authenticate resolves credentials to a Principal: the zero Principal for
// NoCredentials, Unauthorized (same message whatever the reason) for bad,
// expired or revoked ones or an inactive owner, a *ThrottleError
// (RateLimited) while password guessing from the client address (or on
// the account, from a failing address) is throttled (Throttle.Allow). A
// warm cache answers without the store; a JWT's session is still checked
// for liveness on every call (from its own cache, which Logout updates).
// Safe for concurrent use.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (Principal, error) {
	const op = "auth.Authenticate"
	switch c.Kind {
	case NoCredentials:
		return Principal{}, nil
	case JWTCredentials, TokenCredentials, PasswordCredentials:
	default:
		return Principal{}, errBadCredentials(op)
	}
	gen := s.credGen.Load()
	var key [32]byte
	if c.Kind == TokenCredentials {
		key = s.credKey(c.Kind, c.Secret) // the user name beside a token is not checked
	} else {
		key = s.credKey(c.Kind, c.Username, c.Secret)
	}
	now := time.Now() // read once: the clock is a measurable part of a cached answer
	if e, ok := s.creds.getAt(key, now); ok && e.gen == gen {
		return s.stillGood(ctx, op, e.p, e.noted, now)
	}
	var (
		p     Principal
		until time.Time
		err   error
	)
	switch c.Kind {
	case JWTCredentials:
		p, until, err = s.authJWT(ctx, op, c.Secret)
	case TokenCredentials:
		p, until, err = s.authToken(ctx, op, c.Secret)
	case PasswordCredentials:
		p, err = s.authPassword(ctx, op, c)
	}
	if err != nil {
		return Principal{}, err
	}
	e := credEntry{p: p, gen: gen, noted: new(atomic.Int64)}
	s.creds.add(key, e, until)
	if p.TokenID != "" {
		s.tokenUsed(p.TokenID, e.noted, time.Now())
	}
	return p, nil
}

// stillGood re-checks what a cached credential cannot vouch for by itself:
// the session of a JWT, the use of a token (noted is the cache entry's
// note of its last use, and now the time, for tokenUsed).
func (s *Service) stillGood(ctx context.Context, op string, p Principal, noted *atomic.Int64, now time.Time) (Principal, error) {
	if p.SessionID != "" {
		live, err := s.sessionLive(ctx, p.SessionID, p.UserID)
		if err != nil {
			return Principal{}, fault.Op(op, err)
		}
		if !live {
			return Principal{}, errBadCredentials(op)
		}
	}
	if p.TokenID != "" {
		s.tokenUsed(p.TokenID, noted, now)
	}
	return p, nil
}

// activeUser loads the user id and refuses an inactive or missing one.
func (s *Service) activeUser(ctx context.Context, op, id string) (userDoc, error) {
	var d userDoc
	_, err := hosted.GetJSON(ctx, s.store, usersC, id, &d)
	if fault.Is(err, fault.NotFound) || err == nil && !d.Active {
		return userDoc{}, errBadCredentials(op)
	}
	if err != nil {
		return userDoc{}, fault.Op(op, err)
	}
	return d, nil
}

func (s *Service) authJWT(ctx context.Context, op, token string) (Principal, time.Time, error) {
	c, err := s.parse(op, token, typAccess)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	live, err := s.sessionLive(ctx, c.SID, c.Subject)
	if err != nil {
		return Principal{}, time.Time{}, fault.Op(op, err)
	}
	if !live {
		return Principal{}, time.Time{}, errBadCredentials(op)
	}
	u, err := s.activeUser(ctx, op, c.Subject)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	p := Principal{UserID: u.ID, Username: u.Username, PlatformAdmin: u.PlatformAdmin, SessionID: c.SID}
	return p, c.ExpiresAt.Time, nil
}

func (s *Service) authToken(ctx context.Context, op, token string) (Principal, time.Time, error) {
	if !wellFormedToken(token) {
		return Principal{}, time.Time{}, errBadCredentials(op)
	}
	recs, _, err := s.store.Query(ctx, tokensC, hosted.Query{Key: "hash", Prefix: tokenHash(token), Exact: true, Limit: 1})
	if err != nil {
		return Principal{}, time.Time{}, fault.Op(op, err)
	}
	if len(recs) == 0 {
		return Principal{}, time.Time{}, errBadCredentials(op)
	}
	var t Token
	if err := unmarshal(op, recs[0].Data, &t); err != nil {
		return Principal{}, time.Time{}, err
	}
	return s.tokenPrincipal(ctx, op, t)
}

// tokenPrincipal is who API token t acts as: Unauthorized once it has
// expired or its owner is inactive. It returns the token's expiry too.
func (s *Service) tokenPrincipal(ctx context.Context, op string, t Token) (Principal, time.Time, error) {
	if !t.ExpiresAt.IsZero() && !time.Now().Before(t.ExpiresAt) {
		return Principal{}, time.Time{}, errBadCredentials(op)
	}
	u, err := s.activeUser(ctx, op, t.OwnerID)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	p := Principal{UserID: u.ID, Username: u.Username, PlatformAdmin: u.PlatformAdmin, TokenID: t.ID, Scopes: t.Scopes()}
	return p, t.ExpiresAt, nil
}

// current returns who a signed credential naming p.UserID, p.TokenID,
// p.SessionID and p.password (a registry token) stands for now: the user
// active, the API token not revoked nor expired, the session live, the
// password unchanged when it came from a password, and the user's admin
// flag and the token's scopes as they are now. Unauthorized otherwise. A
// warm cache answers without the store; the cache is keyed by token or
// user id and invalidated with the credential cache (userChanged), the
// session by its own (Logout).
func (s *Service) current(ctx context.Context, op string, p Principal) (Principal, error) {
	key := "u:" + p.UserID
	if p.TokenID != "" {
		key = "t:" + p.TokenID
	}
	gen := s.credGen.Load()
	e, ok := s.subjects.get(key)
	if !ok || e.gen != gen {
		var (
			fresh Principal
			until time.Time
		)
		if p.TokenID != "" {
			var t Token
			_, err := hosted.GetJSON(ctx, s.store, tokensC, p.TokenID, &t)
			if fault.Is(err, fault.NotFound) {
				return Principal{}, errBadCredentials(op)
			}
			if err != nil {
				return Principal{}, fault.Op(op, err)
			}
			if fresh, until, err = s.tokenPrincipal(ctx, op, t); err != nil {
				return Principal{}, err
			}
		} else {
			u, err := s.activeUser(ctx, op, p.UserID)
			if err != nil {
				return Principal{}, err
			}
			fresh = Principal{UserID: u.ID, Username: u.Username, PlatformAdmin: u.PlatformAdmin, password: u.PasswordStamp}
		}
		e = credEntry{p: fresh, gen: gen, noted: new(atomic.Int64)}
		s.subjects.add(key, e, until)
	}
	if e.p.UserID != p.UserID || p.TokenID == "" && p.SessionID == "" && p.password != e.p.password {
		return Principal{}, errBadCredentials(op)
	}
	q := e.p
	q.SessionID, q.password = p.SessionID, ""
	return s.stillGood(ctx, op, q, e.noted, time.Now())
}

func (s *Service) authPassword(ctx context.Context, op string, c Credentials) (Principal, error) {
	if err := s.throttle.Allow(c.Username, c.ClientIP); err != nil {
		return Principal{}, fault.Op(op, err)
	}
	d, err := s.checkPassword(ctx, op, c.Username, c.Secret)
	if err == nil {
		s.throttle.Succeeded(c.Username, c.ClientIP)
		return Principal{UserID: d.ID, Username: d.Username, PlatformAdmin: d.PlatformAdmin, password: d.PasswordStamp}, nil
	}
	if !fault.Is(err, fault.Unauthorized) {
		return Principal{}, err
	}
	// Not a local password: maybe a directory's (external.go).
	p, lerr := s.authLDAP(ctx, op, c)
	if lerr == nil {
		s.throttle.Succeeded(c.Username, c.ClientIP)
		return p, nil
	}
	// The local password was wrong whatever the directory answered: an
	// unreachable directory must not lift the limit on guessing it.
	s.throttle.Failed(c.Username, c.ClientIP)
	if !fault.Is(lerr, fault.Unauthorized) {
		return Principal{}, lerr
	}
	return Principal{}, err
}
