// Package auth decides who is calling and what they may do.
//
// It holds the accounts (users, argon2id password hashes), sign-in sessions
// with HS256 JWTs (access 15 minutes, refresh 7 days, rotated), API tokens
// (srg_…, stored only as a sha256 hash), the one credential parser every
// protocol handler uses, organizations, teams, repositories and their
// permissions, the RBAC resolution over them, login throttling and the
// audit log, and external identity: LDAP and OpenID Connect providers
// (provider.go; the protocols in auth/ldap and auth/oidc), just-in-time
// provisioning, linking and group/claim mapping (external.go), with
// provider secrets sealed under Config.EncryptionKey (seal.go). It knows
// nothing of the edge's HTTP: the edge turns its errors (classified with
// hosted/fault kinds) into responses and carries redirects and cookies.
//
// Everything is stored through hosted.Store, one document per write: unique
// keys hold uniqueness (lowercased email and username, org name,
// org/protocol/repository name, token hash), membership documents have ids
// such as orgID/userID so that they are unique by construction, and
// read-modify-write goes through hosted.Update's revision check.
//
// Hot path: verified credentials, session liveness and permission decisions
// are held in LRUs with a short TTL (Config.CacheTTL), so an authenticated
// request on a warm cache makes no store round trip. Changes made through
// this Service invalidate them at once in this process (a generation
// counter for users, tokens and permissions; an explicit "revoked" entry
// for sessions) and are reported to Config.Changes, the change feed,
// whose subscriber in every other process sharing the store hands them
// to Changed: they see a change within the feed's bound, and within
// CacheTTL at the latest without one.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Config configures a Service. Only SigningKey is required.
type Config struct {
	// SigningKey is the HS256 key for access and refresh tokens, at least
	// 32 bytes. Every process sharing a store must use the same key.
	SigningKey []byte
	// Issuer is the JWT "iss" claim; default "entrepot".
	Issuer string
	// AccessTTL and RefreshTTL are token lifetimes; defaults 15 minutes and
	// 7 days.
	AccessTTL, RefreshTTL time.Duration
	// Password holds the argon2id parameters of new hashes; zero means
	// DefaultParams. Stored hashes keep their own parameters and are
	// rehashed on the next successful sign-in when these are raised.
	Password Params
	// CacheTTL bounds how long a verified credential, a session's liveness
	// or a permission decision is trusted without the store (default 30s);
	// CacheSize bounds each of those caches (default 10000 entries).
	CacheTTL  time.Duration
	CacheSize int
	// Throttle configures login throttling; zero fields take defaults.
	Throttle ThrottleConfig
	// EncryptionKey is the AES-256 key (32 bytes, AUTH_ENCRYPTION_KEY)
	// that seals identity providers' secrets in the store and sign-in
	// flow state in cookies. Without it, providers holding a secret
	// cannot be saved and OIDC sign-in is unavailable.
	EncryptionKey []byte
	// Protocols are the protocol names a repository or a token scope may
	// name; Reserved are further names that no organization, team or
	// repository may take because a protocol is mounted there (a mount
	// prefix such as "maven2", OCI's "v2"). Every protocol name is
	// reserved too. cmd/entrepot derives both from its protocol table.
	// Without Protocols any name is accepted, for an edge that mounts
	// protocols of its own (the in-process test edge): a scope naming
	// no protocol grants nothing, and the reserved names are then the
	// edge's own only.
	Protocols, Reserved []string
	// Changes receives every change this Service makes that another
	// process's caches may hold (credentials, sessions, permissions), to
	// be recorded in the change feed; its subscribers hand the changes of
	// other processes back to Changed. nil: this process alone.
	Changes hosted.Notifier
}

// Service is the auth core over a hosted.Store. It is safe for concurrent
// use. Create it with New; it holds no goroutine of its own (run
// RunTokenFlusher for batched last-used times).
type Service struct {
	store  hosted.Store
	cfg    Config
	parser *jwt.Parser
	dummy  string // a hash verified for unknown accounts, to equalize timing

	// secret mixes into credential cache keys so that the cache never holds
	// a clear secret nor an unsalted hash of one.
	secret [32]byte

	creds     *ttlCache[[32]byte, credEntry]
	subjects  *ttlCache[string, credEntry] // by "t:"+token id or "u:"+user id (current)
	registry  *ttlCache[[32]byte, *registryClaims]
	sessions  *ttlCache[string, bool]
	decisions *ttlCache[decisionKey, decision]
	credGen   atomic.Uint64 // bumped when a user or a token changes
	sessGen   atomic.Uint64 // bumped when a session is revoked
	permGen   atomic.Uint64 // bumped when a membership, team, repository or permission changes

	throttle *Throttle
	reserved map[string]struct{} // names ValidName refuses

	usedMu sync.Mutex
	used   map[string]time.Time // token id → last use, flushed by FlushTokenUse

	ext external // identity providers, external sign-in (external.go)
}

// The collections this package owns.
var (
	usersC       = hosted.Collection{Name: "auth_users", Unique: []string{"email", "username"}}
	sessionsC    = hosted.Collection{Name: "auth_sessions", Index: []string{"user"}}
	tokensC      = hosted.Collection{Name: "auth_tokens", Unique: []string{"hash"}, Index: []string{"owner"}}
	orgsC        = hosted.Collection{Name: "auth_orgs", Unique: []string{"name"}}
	orgMembersC  = hosted.Collection{Name: "auth_org_members", Index: []string{"org", "user"}}
	teamsC       = hosted.Collection{Name: "auth_teams", Unique: []string{"name"}, Index: []string{"org"}}
	teamMembersC = hosted.Collection{Name: "auth_team_members", Index: []string{"team", "user"}}
	teamReposC   = hosted.Collection{Name: "auth_team_repos", Index: []string{"team", "repo"}}
	reposC       = hosted.Collection{Name: "auth_repos", Unique: []string{"name"}, Index: []string{"org"}}
	repoPermsC   = hosted.Collection{Name: "auth_repo_perms", Index: []string{"repo", "user"}}
	auditC       = hosted.Collection{Name: "auth_audit", Index: []string{"actor", "org", "action"}}
	providersC   = hosted.Collection{Name: "auth_providers", Unique: []string{"name"}}
	identitiesC  = hosted.Collection{Name: "auth_identities", Index: []string{"user"}}
)

// New returns a Service over store. It fails with Invalid when the signing
// key is shorter than 32 bytes or the password parameters are out of range.
func New(store hosted.Store, cfg Config) (*Service, error) {
	const op = "auth.New"
	if len(cfg.SigningKey) < 32 {
		return nil, fault.New(op, fault.Invalid, "signing key must be at least 32 bytes")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "entrepot"
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 7 * 24 * time.Hour
	}
	if cfg.Password == (Params{}) {
		cfg.Password = DefaultParams()
	}
	if err := cfg.Password.check(); err != nil {
		return nil, fault.Op(op, err)
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 30 * time.Second
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 10000
	}
	cfg.SigningKey = append([]byte(nil), cfg.SigningKey...)
	cfg.Protocols = slices.Clone(cfg.Protocols)
	encKey := cfg.EncryptionKey
	cfg.EncryptionKey = nil // held by the AEAD only
	var err error
	s := &Service{
		store: store,
		cfg:   cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(5*time.Second),
		),
		creds:     newTTLCache[[32]byte, credEntry](cfg.CacheSize, cfg.CacheTTL),
		subjects:  newTTLCache[string, credEntry](cfg.CacheSize, cfg.CacheTTL),
		registry:  newTTLCache[[32]byte, *registryClaims](cfg.CacheSize, cfg.CacheTTL),
		sessions:  newTTLCache[string, bool](cfg.CacheSize, cfg.CacheTTL),
		decisions: newTTLCache[decisionKey, decision](cfg.CacheSize, cfg.CacheTTL),
		throttle:  NewSharedThrottle(store, cfg.SigningKey, cfg.Throttle),
		reserved:  reservedNames(cfg),
		used:      map[string]time.Time{},
	}
	rand.Read(s.secret[:])
	if s.ext.aead, err = newAEAD(encKey); err != nil {
		return nil, err
	}
	dummy, err := HashPassword(rand.Text(), cfg.Password)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	s.dummy = dummy
	return s, nil
}

// Throttle returns the login throttle, for tests and for the edge's
// metrics.
func (s *Service) Throttle() *Throttle { return s.throttle }

// Page asks for one page of a list: Cursor is "" for the first page or the
// cursor the previous page returned; Limit 0 means hosted.MaxPage.
type Page struct {
	Cursor string
	Limit  int
}

// newID returns a random 96-bit id in hex: unguessable, and free of "/" so
// that it can be joined into composite ids.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// credKey derives a credential cache key: a hash of the service's secret,
// the credential's kind and its parts, never the secret itself. It is on
// every authenticated request, so the input is assembled in a stack
// buffer and hashed in one call: no allocation for credentials of usual
// length.
func (s *Service) credKey(kind CredentialKind, parts ...string) [32]byte {
	var buf [512]byte
	b := append(buf[:0], s.secret[:]...)
	b = append(b, byte(kind))
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return sha256.Sum256(b)
}

// userChanged invalidates every cached credential: a user was deactivated,
// deleted, lost or gained platform admin, changed password, or a token was
// revoked. Such changes are rare; a coarse generation keeps the hot path to
// one comparison. Other processes hear of it through the change feed.
func (s *Service) userChanged(ctx context.Context) {
	s.credGen.Add(1)
	s.notify(ctx, hosted.Change{Kind: hosted.ChangeCredentials})
}

// permChanged invalidates every cached permission decision, here and,
// through the change feed, in other processes.
func (s *Service) permChanged(ctx context.Context) {
	s.permGen.Add(1)
	s.notify(ctx, hosted.Change{Kind: hosted.ChangeAccess})
}

func (s *Service) notify(ctx context.Context, c hosted.Change) {
	if s.cfg.Changes != nil {
		s.cfg.Changes.Notify(ctx, c)
	}
}

// Changed drops what the caches hold of c, a change made by this or
// another process (the change feed's subscriber): every credential on a
// user or token change, the session that ended, every permission
// decision on an access change, everything on hosted.ChangeAll. Safe for
// concurrent use.
func (s *Service) Changed(c hosted.Change) {
	switch c.Kind {
	case hosted.ChangeCredentials:
		s.credGen.Add(1)
		s.dropProviders()
	case hosted.ChangeSession:
		s.endSession(c.Subject)
	case hosted.ChangeAccess:
		s.permGen.Add(1)
	case hosted.ChangeAll:
		s.credGen.Add(1)
		s.permGen.Add(1)
		s.sessGen.Add(1)
		s.sessions.purge()
		s.registry.purge()
		s.dropProviders()
	}
}

// Generation changes whenever this Service changes an organization, a
// membership, a team, a repository or a permission: a cache of answers
// derived from them (the edge's organization look-ups) is stale once it
// moves. Safe for concurrent use.
func (s *Service) Generation() uint64 { return s.permGen.Load() }

func unmarshal(op string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fault.Wrap(op, fault.Internal, err)
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return b, fault.Wrap("auth.marshal", fault.Internal, err)
}
