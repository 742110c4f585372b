package auth

import (
	"context"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entrepot/hosted/fault"
)

// RegistryAccess is one grant of an OCI registry token, as the Docker
// token protocol writes it: the actions ("pull", "push", "delete", "*")
// allowed on one resource (Type "repository", Name "acme/app"; or Type
// "registry", Name "catalog").
type RegistryAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// RegistryAction is the Docker token protocol's name of a: "pull",
// "push" or "delete".
func RegistryAction(a Action) string {
	switch a {
	case Write:
		return "push"
	case Delete:
		return "delete"
	}
	return "pull"
}

// Allows reports whether the grants in access include action on the
// resource typ/name.
func Allows(access []RegistryAccess, typ, name, action string) bool {
	for _, a := range access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// registryClaims are the claims of a registry token: sub is the user id
// ("" for an anonymous caller), aud the registry service, typ "registry"
// (so that it is never taken for a session's access token, nor one of
// those for it), tid and sid the API token or the session it was issued
// from, which must still be alive whenever it is used, pws the stamp of
// the password it was issued for, which must still be current. What the
// user may do is not frozen in it: every use reads the user, the token's
// scopes and RBAC again, and the grants only narrow that.
type registryClaims struct {
	jwt.RegisteredClaims
	Typ      string           `json:"typ"`
	TokenID  string           `json:"tid,omitempty"`
	SID      string           `json:"sid,omitempty"`
	Password string           `json:"pws,omitempty"` // the user's PasswordStamp, issued from a password
	Access   []RegistryAccess `json:"access"`
}

const typRegistry = "registry"

// IssueRegistryToken signs a short-lived token for the OCI registry
// service (its audience) that stands for p and carries access, the grants
// the caller decided p holds. The token is signed with the service's
// signing key; it is not an access token of the management API. ttl <= 0
// means 5 minutes. It returns the token and its expiry.
func (s *Service) IssueRegistryToken(p Principal, service string, access []RegistryAccess, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	now := time.Now().UTC()
	exp := now.Add(ttl)
	if access == nil {
		access = []RegistryAccess{}
	}
	c := registryClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: p.UserID, ID: newID(),
			Audience: jwt.ClaimStrings{service},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		Typ: typRegistry, TokenID: p.TokenID, SID: p.SessionID, Password: p.password, Access: access,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.cfg.SigningKey)
	if err != nil {
		return "", time.Time{}, fault.Wrap("auth.IssueRegistryToken", fault.Internal, err)
	}
	return tok, exp, nil
}

// VerifyRegistryToken checks a token made by IssueRegistryToken for
// service (signature, issuer, expiry, type, audience) and returns the
// principal it stands for now (anonymous when it was issued to nobody)
// and its grants. Unauthorized for a bad token, and as soon as what it
// was issued from is gone: the user deactivated or deleted, the API
// token revoked or expired, the session ended, the password it was
// issued for changed. The user's platform admin flag and the API token's
// scopes are read again, so Authorize decides on current rights, and the
// grants only narrow them (Allows). The checks come from the same
// short-TTL caches as Authenticate's, which changes through this Service
// invalidate at once. Safe for concurrent use.
func (s *Service) VerifyRegistryToken(ctx context.Context, token, service string) (Principal, []RegistryAccess, error) {
	const op = "auth.VerifyRegistryToken"
	key := s.credKey(registryKind, service, token)
	c, ok := s.registry.get(key)
	if !ok {
		var err error
		if c, err = s.parseRegistry(op, token, service); err != nil {
			return Principal{}, nil, err
		}
		// The signature and claims never change: only the token's own
		// expiry bounds the entry. What it stands for is checked below.
		s.registry.add(key, c, c.ExpiresAt.Time)
	}
	if c.Subject == "" {
		return Principal{}, c.Access, nil
	}
	p, err := s.current(ctx, op, Principal{UserID: c.Subject, TokenID: c.TokenID, SessionID: c.SID, password: c.Password})
	if err != nil {
		return Principal{}, nil, err
	}
	return p, c.Access, nil
}

// registryKind keys verified registry tokens in the credential key space,
// apart from every CredentialKind.
const registryKind CredentialKind = 255

// parseRegistry verifies a registry token's signature, issuer, times, type
// and audience.
func (s *Service) parseRegistry(op, token, service string) (*registryClaims, error) {
	var c registryClaims
	_, err := s.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.cfg.SigningKey, nil })
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Unauthorized, "invalid or expired registry token", err)
	}
	if c.Typ != typRegistry || c.ID == "" || !slices.Contains(c.Audience, service) {
		return nil, fault.New(op, fault.Unauthorized, "invalid or expired registry token")
	}
	return &c, nil
}
