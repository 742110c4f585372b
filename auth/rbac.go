package auth

import (
	"context"
	"slices"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Action is what a request wants to do to a repository. Actions are bits,
// so that a set of them is an Action too.
type Action uint8

// The actions. Manage covers the repository's settings and permissions.
const (
	Read Action = 1 << iota
	Write
	Delete
	Manage

	allActions = Read | Write | Delete | Manage
)

var actionNames = []struct {
	a    Action
	name string
}{{Read, "read"}, {Write, "write"}, {Delete, "delete"}, {Manage, "manage"}}

// ParseAction returns the action named s; Invalid for an unknown name.
func ParseAction(s string) (Action, error) {
	for _, n := range actionNames {
		if n.name == s {
			return n.a, nil
		}
	}
	return 0, fault.Newf("auth.ParseAction", fault.Invalid, "unknown action %q", s)
}

// String names a single action, or lists a set as "read|write".
func (a Action) String() string {
	s := ""
	for _, n := range actionNames {
		if a&n.a != 0 {
			if s != "" {
				s += "|"
			}
			s += n.name
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// RepoRef is what Authorize needs to know of a repository. The edge builds
// it from the resolved repository (Repository.Ref). Content that no
// organization claims (the upstream proxy) is a RepoRef with no ID and no
// OrgID, Public when anonymous pulls through the proxy are allowed.
type RepoRef struct {
	ID       string
	OrgID    string
	Protocol string
	Public   bool
}

// Scopes are an API token's restrictions. An empty list places no
// restriction on its axis; a token carries Manage only when it names its
// organizations (a management token, Token.Manages), and then on their
// repositories only. Organization scopes restrict organization
// repositories only: unclaimed (proxied) content has no organization.
type Scopes struct {
	Protocols     []string
	Actions       Action
	Organizations []string // organization ids
	ExpiresAt     time.Time
}

// expired reports whether the token behind sc has expired at now.
func (sc *Scopes) expired(now time.Time) bool {
	return !sc.ExpiresAt.IsZero() && !now.Before(sc.ExpiresAt)
}

// permits reports whether the scopes cover action a on r.
func (sc *Scopes) permits(r RepoRef, a Action) bool {
	if a&sc.Actions != a {
		return false
	}
	// Manage is for a management token's own organizations only, never
	// for unclaimed content nor for a token naming no organization.
	if a&Manage != 0 && (r.OrgID == "" || len(sc.Organizations) == 0) {
		return false
	}
	if len(sc.Protocols) > 0 && !slices.Contains(sc.Protocols, r.Protocol) {
		return false
	}
	if len(sc.Organizations) > 0 && r.OrgID != "" && !slices.Contains(sc.Organizations, r.OrgID) {
		return false
	}
	return true
}

// roleActions is what a direct repository role grants; 0 for an unknown
// role.
func roleActions(r RepoRole) Action {
	switch r {
	case RepoReader:
		return Read
	case RepoDeveloper:
		return Read | Write
	case RepoMaintainer:
		return Read | Write | Delete
	case RepoAdmin:
		return allActions
	}
	return 0
}

func teamActions(r TeamRole) Action {
	switch r {
	case TeamMaintainer:
		return Read | Write | Delete
	case TeamMember:
		return Read | Write
	}
	return 0
}

type decisionKey struct{ user, repo, org string }

// decision is a user's resolved actions on one repository, before
// visibility and token scopes, valid while permGen is unchanged.
type decision struct {
	allowed Action
	gen     uint64
}

// Authorize decides whether p may do action a on repo, and answers nil or
// the refusal: Unauthorized when p is anonymous (or its token expired),
// Forbidden when p is authenticated. The edge may turn a Forbidden read
// into a NotFound so as not to reveal a private repository.
//
// Resolution, the union of: platform admin: everything; organization
// owner or admin: everything in the organization; team maintainer: read,
// write, delete on the team's repositories; team member: read, write;
// direct permission: reader read, developer +write, maintainer +delete,
// admin +manage; public repository: read for everyone. A token's scopes
// then intersect (protocol, action, organization, expiry), so a token
// never grants more than its owner has.
//
// Decisions are cached (Config.CacheTTL) and invalidated when any
// membership, team, repository or permission changes through this
// Service. Safe for concurrent use.
func (s *Service) Authorize(ctx context.Context, p Principal, repo RepoRef, a Action) error {
	const op = "auth.Authorize"
	if a == 0 || a&(a-1) != 0 || a&^allActions != 0 {
		return fault.Newf(op, fault.Invalid, "not a single action: %d", a)
	}
	if err := p.ScopesAllow(repo, a); err != nil {
		return fault.Op(op, err)
	}
	allowed, err := s.Permissions(ctx, p, repo)
	if err != nil {
		return fault.Op(op, err)
	}
	if allowed&a != 0 {
		return nil
	}
	if p.Anonymous() {
		return fault.New(op, fault.Unauthorized, "authentication required")
	}
	return fault.Newf(op, fault.Forbidden, "%s not permitted", a)
}

// ScopesAllow is the token half of Authorize: nil when p carries no token
// scopes or they cover a on repo, Unauthorized when the token has
// expired, Forbidden otherwise. Ask it alone about a repository that does
// not exist yet (a first publish into an organization: RepoRef with
// OrgID and Protocol only), where the rest of Authorize has nothing to
// resolve.
func (p Principal) ScopesAllow(repo RepoRef, a Action) error {
	const op = "auth.ScopesAllow"
	if p.Scopes == nil {
		return nil
	}
	if p.Scopes.expired(time.Now()) {
		return fault.New(op, fault.Unauthorized, "token expired")
	}
	if !p.Scopes.permits(repo, a) {
		return fault.Newf(op, fault.Forbidden, "token scopes do not allow %s here", a)
	}
	return nil
}

// Permissions returns the set of actions p's user holds on repo, before
// token scopes (a UI shows it; Authorize applies the scopes).
func (s *Service) Permissions(ctx context.Context, p Principal, repo RepoRef) (Action, error) {
	if p.PlatformAdmin && !p.Anonymous() {
		return allActions, nil
	}
	var set Action
	if repo.Public {
		set = Read
	}
	// No organization: unclaimed, proxied content, public or not. An
	// organization without a repository id asks what the user may do in
	// the organization as a whole (its owners and admins may everything),
	// as a first publish does before the repository exists.
	if p.Anonymous() || (repo.ID == "" && repo.OrgID == "") {
		return set, nil
	}
	key := decisionKey{user: p.UserID, repo: repo.ID, org: repo.OrgID}
	gen := s.permGen.Load() // read before resolving: a change meanwhile makes the entry stale
	if d, ok := s.decisions.get(key); ok && d.gen == gen {
		return set | d.allowed, nil
	}
	granted, err := s.resolve(ctx, p.UserID, repo)
	if err != nil {
		return 0, err
	}
	s.decisions.add(key, decision{allowed: granted, gen: gen}, time.Time{})
	return set | granted, nil
}

// resolve reads userID's grants on repo from the store.
func (s *Service) resolve(ctx context.Context, userID string, repo RepoRef) (Action, error) {
	const op = "auth.resolve"
	var granted Action
	if repo.OrgID != "" {
		var m OrgMembership
		_, err := hosted.GetJSON(ctx, s.store, orgMembersC, orgKey(repo.OrgID, userID), &m)
		switch {
		case err == nil && (m.Role == OrgOwner || m.Role == OrgAdmin):
			return allActions, nil
		case err != nil && !fault.Is(err, fault.NotFound):
			return 0, fault.Op(op, err)
		}
		err = s.eachWhere(ctx, teamMembersC, "user", userID, func(r hosted.Record) error {
			var tm TeamMembership
			if err := unmarshal(op, r.Data, &tm); err != nil || tm.OrgID != repo.OrgID {
				return err
			}
			_, err := s.store.Get(ctx, teamReposC, orgKey(tm.TeamID, repo.ID))
			if err == nil {
				granted |= teamActions(tm.Role)
				return nil
			}
			if fault.Is(err, fault.NotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return 0, fault.Op(op, err)
		}
	}
	var rp RepoPermission
	_, err := hosted.GetJSON(ctx, s.store, repoPermsC, orgKey(repo.ID, userID), &rp)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return 0, fault.Op(op, err)
	}
	if err == nil {
		granted |= roleActions(rp.Role)
	}
	return granted, nil
}
