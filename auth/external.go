package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"entrepot/auth/ldap"
	"entrepot/auth/oidc"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// ExternalIdentity is a user an identity provider vouched for.
type ExternalIdentity struct {
	ProviderID string
	// Subject is the user's stable id at the provider: the OIDC "sub", the
	// LDAP entryUUID (or DN when the directory has none).
	Subject       string
	Username      string // suggested username for a new account
	Email         string
	EmailVerified bool // the provider vouches for Email
	DisplayName   string
	Groups        []string       // LDAP group DNs
	Claims        map[string]any // OIDC ID token claims
}

// identityLink ties a provider's subject to a user; stored under
// providerID/hash(subject). Granted lists the memberships the provider's
// mapping gave, so that a rule that stops matching takes its membership
// back, and memberships given by hand are never touched.
type identityLink struct {
	ProviderID string    `json:"providerId"`
	Subject    string    `json:"subject"`
	UserID     string    `json:"userId"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSignIn time.Time `json:"lastSignIn"`
	Granted    []grant   `json:"granted,omitempty"`
}

// grant is one membership a mapping gave: of an organization (TeamID "")
// or of a team.
type grant struct {
	OrgID  string `json:"orgId"`
	TeamID string `json:"teamId,omitempty"`
	Role   string `json:"role"`
}

func linkID(providerID, subject string) string {
	h := sha256.Sum256([]byte(subject))
	return providerID + "/" + hex.EncodeToString(h[:20])
}

// SignInResult is what SignInExternal did.
type SignInResult struct {
	User        User
	Provisioned bool     // the account was created now
	Linked      bool     // an existing account was linked now (verified email)
	Skipped     []string // mapping rules naming what does not exist
}

// SignInExternal turns a verified external identity into a user:
//
//   - an identity already linked signs in as its user (Unauthorized when
//     that user is deactivated);
//   - otherwise, when the provider vouches for the email (EmailVerified)
//     and an account has that email, the identity is linked to it;
//   - otherwise a new account is created, without a password (its
//     username from the identity, made unique; Conflict when an account
//     already has its unverified email: linking it would let the provider
//     take that account over).
//
// Then the provider's mapping is applied: memberships the rules give are
// set, those an earlier sign-in's rules gave and no rule gives now are
// removed, and memberships made by hand are left alone.
func (s *Service) SignInExternal(ctx context.Context, p Provider, id ExternalIdentity) (SignInResult, error) {
	const op = "auth.SignInExternal"
	if id.Subject == "" {
		return SignInResult{}, fault.New(op, fault.Unauthorized, "the provider named no subject")
	}
	id.ProviderID = p.ID
	var res SignInResult
	lid := linkID(p.ID, id.Subject)
	var link identityLink
	_, err := hosted.GetJSON(ctx, s.store, identitiesC, lid, &link)
	switch {
	case err == nil:
		u, uerr := s.GetUser(ctx, link.UserID)
		if fault.Is(uerr, fault.NotFound) { // the user was deleted: start afresh
			s.store.Delete(ctx, identitiesC, lid)
			link = identityLink{}
			break
		}
		if uerr != nil {
			return res, fault.Op(op, uerr)
		}
		res.User = u
	case !fault.Is(err, fault.NotFound):
		return res, fault.Op(op, err)
	}
	if res.User.ID == "" {
		u, linked, err := s.provision(ctx, op, p, id)
		if err != nil {
			return res, err
		}
		res.User, res.Linked, res.Provisioned = u, linked, !linked
		link = identityLink{ProviderID: p.ID, Subject: id.Subject, UserID: u.ID, CreatedAt: time.Now().UTC()}
		if _, err := hosted.CreateJSON(ctx, s.store, identitiesC, lid, map[string]string{"user": u.ID}, link); err != nil && !fault.Is(err, fault.Conflict) {
			return res, fault.Op(op, err)
		}
	}
	if !res.User.Active {
		return res, errBadCredentials(op)
	}
	granted, skipped, err := s.applyMapping(ctx, p, id, res.User.ID, link.Granted)
	if err != nil {
		return res, fault.Op(op, err)
	}
	res.Skipped = skipped
	_, err = hosted.Update(ctx, s.store, identitiesC, lid, func(l *identityLink, _ map[string]string) error {
		l.LastSignIn, l.Granted = time.Now().UTC(), granted
		return nil
	})
	if err != nil {
		return res, fault.Op(op, err)
	}
	return res, nil
}

// provision links id to the account with its verified email, or creates
// an account for it.
func (s *Service) provision(ctx context.Context, op string, p Provider, id ExternalIdentity) (User, bool, error) {
	email := strings.TrimSpace(id.Email)
	if email != "" && validEmail(op, email) == nil {
		u, err := s.UserByLogin(ctx, email)
		switch {
		case err == nil && id.EmailVerified:
			return u, true, nil
		case err == nil:
			return User{}, false, fault.Newf(op, fault.Conflict,
				"an account with the email %s exists; it is linked only when %s verifies the email", email, p.Name)
		case !fault.Is(err, fault.NotFound):
			return User{}, false, fault.Op(op, err)
		}
	} else {
		// No usable email: a unique placeholder in a reserved domain.
		email = "u" + linkID(p.ID, id.Subject)[len(p.ID)+1:][:16] + "@" + usernameFrom(p.Name, "idp") + ".invalid"
	}
	base := usernameFrom(id.Username, "")
	if base == "" {
		local, _, _ := strings.Cut(id.Email, "@")
		base = usernameFrom(local, "user")
	}
	suffix := usernameFrom(p.Name, "idp")
	for try := 0; try < 6; try++ {
		name := base
		switch {
		case try == 1:
			name = trimName(base, len(suffix)+1) + "-" + suffix
		case try > 1:
			var b [3]byte
			rand.Read(b[:])
			name = trimName(base, 7) + "-" + hex.EncodeToString(b[:])
		}
		u, err := s.CreateUser(ctx, NewUser{Email: email, Username: name, DisplayName: id.DisplayName})
		if err == nil {
			return u, false, nil
		}
		if !fault.Is(err, fault.Conflict) {
			return User{}, false, fault.Op(op, err)
		}
		if _, err := s.UserByLogin(ctx, email); err == nil {
			// Someone took the email meanwhile (or it is a placeholder
			// clash): refuse rather than guess.
			return User{}, false, fault.Newf(op, fault.Conflict, "an account with the email %s exists", email)
		}
	}
	return User{}, false, fault.New(op, fault.Conflict, "no free username for this identity")
}

// usernameFrom makes a valid username of v: lowercased, other characters
// turned into '-', at most MaxNameLen; def when nothing is left.
func usernameFrom(v, def string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(v)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.TrimLeft(b.String(), "-._")
	if len(out) > MaxNameLen {
		out = out[:MaxNameLen]
	}
	if out == "" {
		return def
	}
	return out
}

func trimName(s string, room int) string {
	if len(s)+room > MaxNameLen {
		return s[:MaxNameLen-room]
	}
	return s
}

// matches reports whether rule r selects identity id.
func (r MappingRule) matches(id ExternalIdentity) bool {
	if r.Group != "" {
		want := normDN(r.Group)
		for _, g := range id.Groups {
			if normDN(g) == want {
				return true
			}
		}
		return false
	}
	v, ok := id.Claims[r.Claim]
	if !ok {
		return false
	}
	return claimHas(v, r.Value)
}

// claimHas reports whether a claim's value is want, or holds it (arrays),
// or is true when want is empty.
func claimHas(v any, want string) bool {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if claimHas(e, want) {
				return true
			}
		}
		return false
	case string:
		if want == "" {
			return x != ""
		}
		return x == want
	case bool:
		if want == "" {
			return x
		}
		return fmt.Sprint(x) == want
	case nil:
		return false
	default:
		if want == "" {
			return true
		}
		return fmt.Sprint(x) == want
	}
}

// normDN lowercases a DN and drops the spaces around its separators, so
// that "cn=Devs, ou=Groups" equals "cn=devs,ou=groups".
func normDN(dn string) string {
	parts := strings.Split(strings.ToLower(dn), ",")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		parts[i] = strings.TrimSpace(k) + "=" + strings.TrimSpace(v)
	}
	return strings.Join(parts, ",")
}

var orgRank = map[OrgRole]int{OrgMember: 1, OrgAdmin: 2, OrgOwner: 3}
var teamRank = map[TeamRole]int{TeamMember: 1, TeamMaintainer: 2}

// applyMapping sets the memberships p's rules give id's user and takes
// back those prev (an earlier sign-in's grants) held that no rule gives
// now. It returns the grants in force and the rules it skipped.
func (s *Service) applyMapping(ctx context.Context, p Provider, id ExternalIdentity, userID string, prev []grant) ([]grant, []string, error) {
	orgs := map[string]OrgRole{}   // org id → highest role the rules give
	teams := map[string]TeamRole{} // team id → highest role
	teamOrg := map[string]string{}
	var skipped []string
	for i, r := range p.Mapping {
		if !r.matches(id) {
			continue
		}
		o, err := s.GetOrg(ctx, r.Organization)
		if fault.Is(err, fault.NotFound) {
			skipped = append(skipped, fmt.Sprintf("mapping[%d]: no organization %q", i, r.Organization))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if role := OrgRole(r.Role); orgRank[role] > orgRank[orgs[o.ID]] {
			orgs[o.ID] = role
		}
		if r.Team == "" {
			continue
		}
		t, err := s.teamByName(ctx, o.ID, r.Team)
		if fault.Is(err, fault.NotFound) {
			skipped = append(skipped, fmt.Sprintf("mapping[%d]: no team %q in %s", i, r.Team, o.Name))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if role := TeamRole(r.TeamRole); teamRank[role] > teamRank[teams[t.ID]] {
			teams[t.ID] = role
		}
		teamOrg[t.ID] = o.ID
	}
	had := map[string]bool{} // "org" or "org/team" granted before
	for _, g := range prev {
		had[g.OrgID+"/"+g.TeamID] = true
	}
	var out []grant
	// Organizations first: a team member must be a member of its org.
	for _, orgID := range sortedKeys(orgs) {
		role := orgs[orgID]
		m, err := s.OrgMember(ctx, orgID, userID)
		switch {
		case err == nil && !had[orgID+"/"]:
			continue // a membership made by hand: not the mapping's
		case err == nil && m.Role == role:
		case err == nil || fault.Is(err, fault.NotFound):
			if err := s.SetOrgMember(ctx, orgID, userID, role); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, err
		}
		out = append(out, grant{OrgID: orgID, Role: string(role)})
	}
	for _, teamID := range sortedKeys(teams) {
		role := teams[teamID]
		var cur TeamMembership
		_, err := hosted.GetJSON(ctx, s.store, teamMembersC, orgKey(teamID, userID), &cur)
		switch {
		case err == nil && !had[teamOrg[teamID]+"/"+teamID]:
			continue
		case err == nil && cur.Role == role:
		case err == nil || fault.Is(err, fault.NotFound):
			if err := s.SetTeamMember(ctx, teamID, userID, role); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, err
		}
		out = append(out, grant{OrgID: teamOrg[teamID], TeamID: teamID, Role: string(role)})
	}
	// What the rules gave before and give no more is taken back.
	for _, g := range prev {
		switch {
		case g.TeamID != "":
			if _, ok := teams[g.TeamID]; !ok {
				if err := s.RemoveTeamMember(ctx, g.TeamID, userID); err != nil {
					return nil, nil, err
				}
			}
		default:
			if _, ok := orgs[g.OrgID]; !ok {
				if err := s.RemoveOrgMember(ctx, g.OrgID, userID); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return out, skipped, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// teamByName returns the team of orgID named name, or NotFound.
func (s *Service) teamByName(ctx context.Context, orgID, name string) (Team, error) {
	found, _, err := queryJSON[Team](ctx, s.store, teamsC, hosted.Query{Key: "name", Prefix: orgID + "/" + name, Exact: true, Limit: 1})
	if err != nil {
		return Team{}, err
	}
	if len(found) == 0 {
		return Team{}, fault.Newf("auth.teamByName", fault.NotFound, "team %q not found", name)
	}
	return found[0], nil
}

// OpenSession opens a session for user id, who was verified by other
// means (an identity provider), exactly as Login does after a password:
// Unauthorized when the user is missing or inactive.
func (s *Service) OpenSession(ctx context.Context, userID, clientIP string) (Tokens, error) {
	u, err := s.activeUser(ctx, "auth.OpenSession", userID)
	if err != nil {
		return Tokens{}, err
	}
	return s.openSession(ctx, u.User, clientIP)
}

// ldapIdentity is what a directory entry says, for SignInExternal.
func ldapIdentity(p Provider, e ldap.Entry) ExternalIdentity {
	sub := e.UUID
	if sub == "" {
		sub = normDN(e.DN)
	}
	return ExternalIdentity{
		ProviderID: p.ID, Subject: sub, Username: e.Username, Email: e.Email,
		EmailVerified: p.LDAP.EmailVerified && e.Email != "", DisplayName: e.DisplayName, Groups: e.Groups,
	}
}

// SignInLDAP verifies username and password with LDAP provider id and
// signs the user in (SignInExternal), under the login throttle: NotFound
// for a missing or disabled provider, Unauthorized for bad credentials,
// a *ThrottleError while throttled, Unavailable when the directory
// cannot be reached.
func (s *Service) SignInLDAP(ctx context.Context, providerID, username, password, clientIP string) (SignInResult, error) {
	const op = "auth.SignInLDAP"
	p, err := s.activeProvider(ctx, op, providerID, ProviderLDAP)
	if err != nil {
		return SignInResult{}, err
	}
	if err := s.throttle.Allow(username, clientIP); err != nil {
		return SignInResult{}, fault.Op(op, err)
	}
	e, err := ldap.Verify(ctx, *p.LDAP, username, password)
	if err != nil {
		// Counted whatever the directory answered, an outage included:
		// the limit on guesses never depends on the directory.
		s.throttle.Failed(username, clientIP)
		return SignInResult{}, fault.Op(op, err)
	}
	s.throttle.Succeeded(username, clientIP)
	return s.SignInExternal(ctx, p, ldapIdentity(p, e))
}

// authLDAP is the password path of Authenticate for accounts the local
// check refused: each enabled LDAP provider in name order, the first that
// knows the user deciding. Successful binds are then cached by
// Authenticate like any verified credential, so a burst of package
// requests binds once. Unauthorized when none accepts; Unavailable when
// a directory that might have could not be asked.
func (s *Service) authLDAP(ctx context.Context, op string, c Credentials) (Principal, error) {
	providers, err := s.enabledLDAP(ctx)
	if err != nil {
		return Principal{}, err
	}
	var down error
	for _, p := range providers {
		e, err := ldap.Verify(ctx, *p.LDAP, c.Username, c.Secret)
		switch {
		case errors.Is(err, ldap.ErrNoUser):
			continue
		case errors.Is(err, ldap.ErrBadPassword):
			s.record(Entry{Action: "auth.ldap.basic", Target: p.ID, ClientIP: c.ClientIP, Outcome: "failure",
				Detail: "wrong password for " + c.Username})
			return Principal{}, errBadCredentials(op)
		case err != nil:
			down = err
			continue
		}
		res, err := s.SignInExternal(ctx, p, ldapIdentity(p, e))
		if err != nil {
			s.record(Entry{Action: "auth.ldap.basic", Target: p.ID, ClientIP: c.ClientIP, Outcome: "failure",
				ActorUserID: res.User.ID, Detail: fault.Message(err)})
			if fault.Is(err, fault.Unauthorized) || fault.Is(err, fault.Conflict) {
				return Principal{}, errBadCredentials(op)
			}
			return Principal{}, fault.Op(op, err)
		}
		s.record(Entry{Action: "auth.ldap.basic", Target: p.ID, ClientIP: c.ClientIP, Outcome: "success",
			ActorUserID: res.User.ID, Detail: res.Detail(p.Name)})
		u := res.User
		return Principal{UserID: u.ID, Username: u.Username, PlatformAdmin: u.PlatformAdmin}, nil
	}
	if down != nil {
		return Principal{}, fault.WrapMsg(op, fault.Unavailable, "the directory cannot be reached", down)
	}
	return Principal{}, errBadCredentials(op)
}

// Detail describes a successful external sign-in through the provider
// named provider, for the audit log.
func (r SignInResult) Detail(provider string) string {
	d := "via " + provider
	switch {
	case r.Provisioned:
		d += "; account created"
	case r.Linked:
		d += "; linked by verified email"
	}
	if len(r.Skipped) > 0 {
		d += "; skipped " + strings.Join(r.Skipped, ", ")
	}
	return d
}

func equalConst(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// oidcFlow is the sealed state of one OIDC authorization, kept by the
// browser (a cookie) between authorize and callback.
type oidcFlow struct {
	oidc.Flow
	Provider string `json:"p"`
	Expires  int64  `json:"e"`
}

// oidcFlowTTL bounds how long a user may take at the provider.
const oidcFlowTTL = 10 * time.Minute

// BeginOIDC starts signing in with OIDC provider id: it returns the
// provider's authorization URL (state, nonce, PKCE challenge) and the
// sealed flow the callback needs back. NotFound for a missing or disabled
// provider, Upstream when discovery fails, Unavailable without an
// encryption key.
func (s *Service) BeginOIDC(ctx context.Context, providerID, redirectURL string) (authURL, sealed string, err error) {
	const op = "auth.BeginOIDC"
	p, err := s.activeProvider(ctx, op, providerID, ProviderOIDC)
	if err != nil {
		return "", "", err
	}
	cl, err := s.ext.oidc.Get(ctx, p.ID, *p.OIDC)
	if err != nil {
		return "", "", fault.Op(op, err)
	}
	f := oidcFlow{Flow: oidc.NewFlow(), Provider: p.ID, Expires: time.Now().Add(oidcFlowTTL).Unix()}
	b, _ := json.Marshal(f)
	if sealed, err = s.Seal("oidc-flow", b); err != nil {
		return "", "", fault.Op(op, err)
	}
	return cl.AuthURL(redirectURL, f.Flow), sealed, nil
}

// FinishOIDC completes the flow BeginOIDC started: state must equal the
// sealed flow's, the code is redeemed with its PKCE verifier, and the ID
// token is validated (signature, issuer, audience, expiry, nonce); then
// the user signs in (SignInExternal). Unauthorized for any mismatch or
// invalid token, NotFound for a missing or disabled provider.
func (s *Service) FinishOIDC(ctx context.Context, providerID, redirectURL, code, state, sealed string) (Provider, SignInResult, error) {
	const op = "auth.FinishOIDC"
	p, err := s.activeProvider(ctx, op, providerID, ProviderOIDC)
	if err != nil {
		return Provider{}, SignInResult{}, err
	}
	if sealed == "" {
		return p, SignInResult{}, fault.New(op, fault.Unauthorized, "no sign-in in progress in this browser (flow cookie missing)")
	}
	raw, err := s.Open("oidc-flow", sealed)
	if err != nil {
		return p, SignInResult{}, fault.New(op, fault.Unauthorized, "sign-in flow state is invalid")
	}
	var f oidcFlow
	if err := json.Unmarshal(raw, &f); err != nil || f.Provider != p.ID || time.Now().Unix() > f.Expires {
		return p, SignInResult{}, fault.New(op, fault.Unauthorized, "sign-in flow expired or for another provider; start again")
	}
	if state == "" || !equalConst(state, f.State) {
		return p, SignInResult{}, fault.New(op, fault.Unauthorized, "state mismatch")
	}
	if code == "" {
		return p, SignInResult{}, fault.New(op, fault.Unauthorized, "no authorization code")
	}
	cl, err := s.ext.oidc.Get(ctx, p.ID, *p.OIDC)
	if err != nil {
		return p, SignInResult{}, fault.Op(op, err)
	}
	id, err := cl.Exchange(ctx, redirectURL, code, f.Flow)
	if err != nil {
		return p, SignInResult{}, fault.Op(op, err)
	}
	res, err := s.SignInExternal(ctx, p, ExternalIdentity{
		ProviderID: p.ID, Subject: id.Subject, Username: id.Username, Email: id.Email,
		EmailVerified: id.EmailVerified, DisplayName: id.Name, Claims: id.Claims,
	})
	return p, res, err
}

// ProviderName returns the name of provider id, "" when unknown, for
// audit records.
func (s *Service) ProviderName(ctx context.Context, id string) string {
	d, err := s.providerDoc(ctx, id)
	if err != nil {
		return ""
	}
	return d.Name
}
