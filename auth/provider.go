package auth

import (
	"context"
	"crypto/cipher"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entrepot/auth/ldap"
	"entrepot/auth/oidc"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// The kinds of external identity provider.
const (
	ProviderLDAP = "ldap"
	ProviderOIDC = "oidc"
)

// Provider is an external identity provider: an LDAP directory or an
// OpenID Connect provider, with the mapping of its users' groups or claims
// to organization and team memberships. Its secret (the LDAP bind password
// or the OIDC client secret) is stored sealed with AES-256-GCM under
// Config.EncryptionKey and is never part of a Provider this package
// returns: SecretSet tells whether one is stored.
type Provider struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Type      string        `json:"type"` // ProviderLDAP or ProviderOIDC
	Enabled   bool          `json:"enabled"`
	LDAP      *ldap.Config  `json:"ldap,omitempty"`
	OIDC      *oidc.Config  `json:"oidc,omitempty"`
	Mapping   []MappingRule `json:"mapping"`
	SecretSet bool          `json:"secretSet"`
	CreatedAt time.Time     `json:"createdAt"`
	UpdatedAt time.Time     `json:"updatedAt"`
}

// MappingRule gives the users a provider signs in a membership: when the
// OIDC claim Claim holds Value (equal, or among the claim's values; any
// true value when Value is empty), or when the LDAP user belongs to the
// group whose DN is Group, the user is a member of Organization (name or
// id) with Role (owner, admin, member; default member) and, when Team is
// set, of that team with TeamRole (maintainer, member; default member).
// Rules are applied again at every sign-in; see SignInExternal.
type MappingRule struct {
	Claim        string `json:"claim,omitempty"`
	Group        string `json:"group,omitempty"`
	Value        string `json:"value,omitempty"`
	Organization string `json:"organization"`
	Role         string `json:"role,omitempty"`
	Team         string `json:"team,omitempty"`
	TeamRole     string `json:"teamRole,omitempty"`
}

// providerDoc is a provider as stored: the secret sealed, out of the
// Provider's fields.
type providerDoc struct {
	Provider
	Sealed string `json:"sealed,omitempty"`
}

// external is the Service's state for identity providers.
type external struct {
	aead  cipher.AEAD
	audit atomic.Pointer[Auditor]
	// list caches the enabled LDAP providers for the password path of
	// Authenticate; nil after a change.
	mu    sync.Mutex
	ldaps []Provider
	until time.Time
	gen   uint64
	// oidc keeps discovered providers.
	oidc oidc.Clients
}

// SetAuditor makes the Service record external sign-ins that happen inside
// Authenticate (LDAP credentials on a package protocol). Safe to call
// while serving; nil stops recording.
func (s *Service) SetAuditor(a *Auditor) { s.ext.audit.Store(a) }

// SetOIDCClient sets the HTTP client OIDC discovery, token and key
// requests use (default: one with a 15s timeout). Call it before serving.
func (s *Service) SetOIDCClient(c *http.Client) { s.ext.oidc.HTTP = c }

func (s *Service) record(e Entry) {
	if a := s.ext.audit.Load(); a != nil {
		a.Record(e)
	}
}

// secret points at the provider's secret field, nil when it has none.
func (p *Provider) secret() *string {
	switch {
	case p.Type == ProviderLDAP && p.LDAP != nil:
		return &p.LDAP.BindPassword
	case p.Type == ProviderOIDC && p.OIDC != nil:
		return &p.OIDC.ClientSecret
	}
	return nil
}

var orgRoles = []string{string(OrgOwner), string(OrgAdmin), string(OrgMember)}

// validate checks a provider document and fills defaults in its mapping.
func (p *Provider) validate(op string) error {
	p.Name = strings.TrimSpace(p.Name)
	if p.Name == "" || len(p.Name) > 100 {
		return fault.New(op, fault.Invalid, "name is required (at most 100 characters)")
	}
	switch p.Type {
	case ProviderLDAP:
		if p.LDAP == nil {
			return fault.New(op, fault.Invalid, "an ldap provider needs its \"ldap\" settings")
		}
		if err := p.LDAP.Validate(); err != nil {
			return fault.Op(op, err)
		}
		p.OIDC = nil
	case ProviderOIDC:
		if p.OIDC == nil {
			return fault.New(op, fault.Invalid, "an oidc provider needs its \"oidc\" settings")
		}
		if err := p.OIDC.Validate(); err != nil {
			return fault.Op(op, err)
		}
		p.LDAP = nil
	default:
		return fault.New(op, fault.Invalid, "type must be \"ldap\" or \"oidc\"")
	}
	if p.Mapping == nil {
		p.Mapping = []MappingRule{}
	}
	for i := range p.Mapping {
		r := &p.Mapping[i]
		switch {
		case r.Organization == "":
			return fault.Newf(op, fault.Invalid, "mapping[%d]: organization is required", i)
		case p.Type == ProviderLDAP && r.Group == "":
			return fault.Newf(op, fault.Invalid, "mapping[%d]: an ldap rule names a group (DN)", i)
		case p.Type == ProviderOIDC && r.Claim == "":
			return fault.Newf(op, fault.Invalid, "mapping[%d]: an oidc rule names a claim", i)
		}
		if r.Role == "" {
			r.Role = string(OrgMember)
		}
		if !slices.Contains(orgRoles, r.Role) {
			return fault.Newf(op, fault.Invalid, "mapping[%d]: role must be owner, admin or member", i)
		}
		if r.Team != "" && r.TeamRole == "" {
			r.TeamRole = string(TeamMember)
		}
		if r.Team != "" && r.TeamRole != string(TeamMember) && r.TeamRole != string(TeamMaintainer) {
			return fault.Newf(op, fault.Invalid, "mapping[%d]: teamRole must be maintainer or member", i)
		}
	}
	return nil
}

// sealSecret moves the clear secret of d into its sealed field.
func (s *Service) sealSecret(op string, d *providerDoc) error {
	sec := d.secret()
	if sec == nil || *sec == "" {
		return nil
	}
	sealed, err := s.Seal("provider:"+d.ID, []byte(*sec))
	if err != nil {
		return fault.Op(op, err)
	}
	d.Sealed, *sec = sealed, ""
	return nil
}

// withSecret returns d's provider with its secret opened, for use.
func (s *Service) withSecret(op string, d providerDoc) (Provider, error) {
	p := d.Provider
	if p.LDAP != nil {
		c := *p.LDAP
		p.LDAP = &c
	}
	if p.OIDC != nil {
		c := *p.OIDC
		p.OIDC = &c
	}
	if d.Sealed == "" {
		return p, nil
	}
	b, err := s.Open("provider:"+d.ID, d.Sealed)
	if err != nil {
		return Provider{}, fault.WrapMsg(op, fault.Internal, "a provider secret does not open: was AUTH_ENCRYPTION_KEY changed?", err)
	}
	if sec := p.secret(); sec != nil {
		*sec = string(b)
	}
	return p, nil
}

// redacted is d's provider as this package returns it: no secret.
func (d providerDoc) redacted() Provider {
	p := d.Provider
	if p.LDAP != nil {
		c := *p.LDAP
		c.BindPassword = ""
		p.LDAP = &c
	}
	if p.OIDC != nil {
		c := *p.OIDC
		c.ClientSecret = ""
		p.OIDC = &c
	}
	p.SecretSet = d.Sealed != ""
	return p
}

// providerChanged drops the cached LDAP provider list, here and, through
// the change feed, in other processes.
func (s *Service) providerChanged(ctx context.Context) {
	s.dropProviders()
	s.notify(ctx, hosted.Change{Kind: hosted.ChangeCredentials})
}

// dropProviders drops the cached LDAP provider list.
func (s *Service) dropProviders() {
	s.ext.mu.Lock()
	s.ext.ldaps, s.ext.until = nil, time.Time{}
	s.ext.gen++
	s.ext.mu.Unlock()
}

// CreateProvider stores a new provider. Invalid for a bad document,
// Conflict when the name is taken, Unavailable when it holds a secret and
// no encryption key is configured. The answer has no secret.
func (s *Service) CreateProvider(ctx context.Context, p Provider) (Provider, error) {
	const op = "auth.CreateProvider"
	if err := p.validate(op); err != nil {
		return Provider{}, err
	}
	now := time.Now().UTC()
	p.ID, p.CreatedAt, p.UpdatedAt = newID(), now, now
	d := providerDoc{Provider: p}
	if err := s.sealSecret(op, &d); err != nil {
		return Provider{}, err
	}
	d.SecretSet = false
	if _, err := hosted.CreateJSON(ctx, s.store, providersC, d.ID, map[string]string{"name": strings.ToLower(d.Name)}, d); err != nil {
		if fault.Is(err, fault.Conflict) {
			return Provider{}, fault.WrapMsg(op, fault.Conflict, "a provider of that name exists", err)
		}
		return Provider{}, fault.Op(op, err)
	}
	s.providerChanged(ctx)
	return d.redacted(), nil
}

// GetProvider returns provider id without its secret, or NotFound.
func (s *Service) GetProvider(ctx context.Context, id string) (Provider, error) {
	d, err := s.providerDoc(ctx, id)
	return d.redacted(), err
}

func (s *Service) providerDoc(ctx context.Context, id string) (providerDoc, error) {
	var d providerDoc
	_, err := hosted.GetJSON(ctx, s.store, providersC, id, &d)
	if fault.Is(err, fault.NotFound) {
		return d, fault.New("auth.GetProvider", fault.NotFound, "identity provider not found")
	}
	return d, fault.Op("auth.GetProvider", err)
}

// ListProviders returns every provider (enabled or not, without secrets)
// in name order. There are few: no paging.
func (s *Service) ListProviders(ctx context.Context) ([]Provider, error) {
	var out []Provider
	err := s.eachProvider(ctx, func(d providerDoc) { out = append(out, d.redacted()) })
	return out, fault.Op("auth.ListProviders", err)
}

func (s *Service) eachProvider(ctx context.Context, fn func(providerDoc)) error {
	after := ""
	for {
		recs, next, err := s.store.Query(ctx, providersC, hosted.Query{Key: "name", After: after})
		if err != nil {
			return err
		}
		for _, r := range recs {
			var d providerDoc
			if err := unmarshal("auth.ListProviders", r.Data, &d); err != nil {
				return err
			}
			fn(d)
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// UpdateProvider replaces provider id's document with p, keeping its id,
// type, creation time and, when p's secret field is empty, its stored
// secret. NotFound, Invalid (a changed type among others), Conflict for a
// taken name.
func (s *Service) UpdateProvider(ctx context.Context, id string, p Provider) (Provider, error) {
	const op = "auth.UpdateProvider"
	if err := p.validate(op); err != nil {
		return Provider{}, err
	}
	p.ID = id
	fresh := providerDoc{Provider: p}
	if err := s.sealSecret(op, &fresh); err != nil {
		return Provider{}, err
	}
	d, err := hosted.Update(ctx, s.store, providersC, id, func(d *providerDoc, keys map[string]string) error {
		if d.Type != p.Type {
			return fault.New(op, fault.Invalid, "a provider's type cannot change")
		}
		sealed := d.Sealed
		if fresh.Sealed != "" {
			sealed = fresh.Sealed
		}
		created := d.CreatedAt
		*d = fresh
		d.Sealed, d.CreatedAt, d.UpdatedAt, d.SecretSet = sealed, created, time.Now().UTC(), false
		keys["name"] = strings.ToLower(d.Name)
		return nil
	})
	s.providerChanged(ctx)
	switch {
	case fault.Is(err, fault.NotFound):
		return Provider{}, fault.New(op, fault.NotFound, "identity provider not found")
	case fault.Is(err, fault.Conflict):
		return Provider{}, fault.WrapMsg(op, fault.Conflict, "a provider of that name exists", err)
	case err != nil:
		return Provider{}, fault.Op(op, err)
	}
	return d.redacted(), nil
}

// DisableProvider turns provider id off: its users can no longer sign in
// through it (their accounts and links stay, for when it is enabled
// again). NotFound when missing.
func (s *Service) DisableProvider(ctx context.Context, id string) (Provider, error) {
	const op = "auth.DisableProvider"
	d, err := hosted.Update(ctx, s.store, providersC, id, func(d *providerDoc, _ map[string]string) error {
		d.Enabled, d.UpdatedAt = false, time.Now().UTC()
		return nil
	})
	s.dropProviders()
	s.userChanged(ctx) // cached LDAP credentials of its users stop at once (and providers elsewhere)
	if fault.Is(err, fault.NotFound) {
		return Provider{}, fault.New(op, fault.NotFound, "identity provider not found")
	}
	return d.redacted(), fault.Op(op, err)
}

// activeProvider returns enabled provider id of type typ, secret opened.
// A missing, disabled or other-type provider is NotFound.
func (s *Service) activeProvider(ctx context.Context, op, id, typ string) (Provider, error) {
	d, err := s.providerDoc(ctx, id)
	if err == nil && (!d.Enabled || d.Type != typ) {
		err = fault.New(op, fault.NotFound, "identity provider not found")
	}
	if err != nil {
		return Provider{}, fault.Op(op, err)
	}
	return s.withSecret(op, d)
}

// CheckStep is one stage of a provider's connection check.
type CheckStep struct {
	Step   string `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// TestProvider checks that provider id is reachable and configured well
// enough to sign users in: for LDAP, connect (TLS, StartTLS), bind as the
// service account and read the base DNs; for OIDC, discovery and the
// JWKS. ok is false when a step failed: the last one, which says why.
func (s *Service) TestProvider(ctx context.Context, id string) (ok bool, steps []CheckStep, err error) {
	const op = "auth.TestProvider"
	d, err := s.providerDoc(ctx, id)
	if err != nil {
		return false, nil, err
	}
	p, err := s.withSecret(op, d)
	if err != nil {
		return false, nil, err
	}
	ok = true
	add := func(name string, good bool, detail string) {
		steps = append(steps, CheckStep{Step: name, OK: good, Detail: detail})
		ok = ok && good
	}
	switch p.Type {
	case ProviderLDAP:
		for _, st := range ldap.Check(ctx, *p.LDAP) {
			add(st.Name, st.OK, st.Detail)
		}
	case ProviderOIDC:
		for _, st := range oidc.Check(ctx, *p.OIDC, s.ext.oidc.HTTP) {
			add(st.Name, st.OK, st.Detail)
		}
	}
	return ok, steps, nil
}

// enabledLDAP returns the enabled LDAP providers with their secrets, from
// a cache refreshed every CacheTTL and after every change.
func (s *Service) enabledLDAP(ctx context.Context) ([]Provider, error) {
	s.ext.mu.Lock()
	if s.ext.ldaps != nil && time.Now().Before(s.ext.until) {
		l := s.ext.ldaps
		s.ext.mu.Unlock()
		return l, nil
	}
	gen := s.ext.gen
	s.ext.mu.Unlock()
	l := []Provider{}
	err := s.eachProvider(ctx, func(d providerDoc) {
		if !d.Enabled || d.Type != ProviderLDAP || d.LDAP == nil {
			return
		}
		// A secret that does not open (AUTH_ENCRYPTION_KEY changed) leaves
		// the provider out: its connection check says why.
		if p, err := s.withSecret("auth.enabledLDAP", d); err == nil {
			l = append(l, p)
		}
	})
	if err != nil {
		return nil, fault.Op("auth.enabledLDAP", err)
	}
	s.ext.mu.Lock()
	if s.ext.gen == gen {
		s.ext.ldaps, s.ext.until = l, time.Now().Add(s.cfg.CacheTTL)
	}
	s.ext.mu.Unlock()
	return l, nil
}
