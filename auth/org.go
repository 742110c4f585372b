package auth

import (
	"context"
	"slices"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Org is an organization: the owner of repositories and the unit of
// membership. Its name is unique and follows ValidName.
type Org struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DisplayName string    `json:"displayName,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// OrgRole is a member's role in an organization. Owners and admins may do
// everything in it; members get what their teams and direct permissions
// give them.
type OrgRole string

// The organization roles.
const (
	OrgOwner  OrgRole = "owner"
	OrgAdmin  OrgRole = "admin"
	OrgMember OrgRole = "member"
)

// OrgMembership is one user's membership, stored under id orgID/userID so
// that a user is a member at most once.
type OrgMembership struct {
	OrgID  string  `json:"orgId"`
	UserID string  `json:"userId"`
	Role   OrgRole `json:"role"`
}

// Team groups members of an organization and gives them access to some of
// its repositories. Its name is unique within the organization.
type Team struct {
	ID          string    `json:"id"`
	OrgID       string    `json:"orgId"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// TeamRole is a member's role in a team: maintainers may read, write and
// delete in the team's repositories, members read and write.
type TeamRole string

// The team roles.
const (
	TeamMaintainer TeamRole = "maintainer"
	TeamMember     TeamRole = "member"
)

// TeamMembership is stored under id teamID/userID.
type TeamMembership struct {
	TeamID string   `json:"teamId"`
	OrgID  string   `json:"orgId"`
	UserID string   `json:"userId"`
	Role   TeamRole `json:"role"`
}

// TeamRepo gives a team access to a repository of its organization; what
// access follows from each member's TeamRole. Stored under teamID/repoID.
type TeamRepo struct {
	TeamID string `json:"teamId"`
	RepoID string `json:"repoId"`
	OrgID  string `json:"orgId"`
}

func orgKey(orgID, userID string) string { return orgID + "/" + userID }

// CreateOrg creates an organization and, when ownerID is not empty, makes
// that user its owner. Invalid for a bad or reserved name, Conflict when
// the name is taken, NotFound when the owner does not exist.
func (s *Service) CreateOrg(ctx context.Context, o Org, ownerID string) (Org, error) {
	const op = "auth.CreateOrg"
	defer s.permChanged(ctx) // an organization owns the namespaces of its name
	if err := s.ValidName(o.Name); err != nil {
		return Org{}, fault.Op(op, err)
	}
	if ownerID != "" {
		if _, err := s.GetUser(ctx, ownerID); err != nil {
			return Org{}, fault.Op(op, err)
		}
	}
	o.ID, o.CreatedAt = newID(), time.Now().UTC()
	if _, err := hosted.CreateJSON(ctx, s.store, orgsC, o.ID, map[string]string{"name": o.Name}, o); err != nil {
		if fault.Is(err, fault.Conflict) {
			return Org{}, fault.WrapMsg(op, fault.Conflict, "organization name taken", err)
		}
		return Org{}, fault.Op(op, err)
	}
	if ownerID != "" {
		if err := s.SetOrgMember(ctx, o.ID, ownerID, OrgOwner); err != nil {
			s.store.Delete(context.WithoutCancel(ctx), orgsC, o.ID) // best effort: no ownerless org
			return Org{}, fault.Op(op, err)
		}
	}
	return o, nil
}

// GetOrg returns the organization whose id or, failing that, name is
// idOrName; NotFound otherwise.
func (s *Service) GetOrg(ctx context.Context, idOrName string) (Org, error) {
	const op = "auth.GetOrg"
	var o Org
	_, err := hosted.GetJSON(ctx, s.store, orgsC, idOrName, &o)
	if fault.Is(err, fault.NotFound) {
		var found []Org
		found, _, err = queryJSON[Org](ctx, s.store, orgsC, hosted.Query{Key: "name", Prefix: idOrName, Exact: true, Limit: 1})
		if err == nil && len(found) == 0 {
			err = fault.New(op, fault.NotFound, "organization "+idOrName+" not found")
		}
		if err == nil {
			o = found[0]
		}
	}
	return o, fault.Op(op, err)
}

// ListOrgs returns a page of organizations in name order.
func (s *Service) ListOrgs(ctx context.Context, pg Page) ([]Org, string, error) {
	out, next, err := queryJSON[Org](ctx, s.store, orgsC, hosted.Query{Key: "name", After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListOrgs", err)
}

// UpdateOrg changes an organization's display name and description (nil
// leaves one as it is). Names do not change: they are in clients' URLs.
func (s *Service) UpdateOrg(ctx context.Context, id string, displayName, description *string) (Org, error) {
	o, err := hosted.Update(ctx, s.store, orgsC, id, func(o *Org, _ map[string]string) error {
		if displayName != nil {
			o.DisplayName = *displayName
		}
		if description != nil {
			o.Description = *description
		}
		return nil
	})
	return o, fault.Op("auth.UpdateOrg", err)
}

// DeleteOrg deletes organization id. With repositories or teams left it
// is refused with Conflict unless force, which deletes them first (with
// their permissions and memberships), then the members, then the
// organization. Refusing an organization whose repositories hold packages
// is the catalog's check, made by the caller before. Missing: not an error.
// Without transactions a failure part-way leaves the organization in place
// with fewer children; calling again finishes the job.
func (s *Service) DeleteOrg(ctx context.Context, id string, force bool) error {
	const op = "auth.DeleteOrg"
	defer s.permChanged(ctx)
	if !force {
		for _, c := range []hosted.Collection{reposC, teamsC} {
			recs, _, err := s.store.Query(ctx, c, hosted.Query{Key: "org", Prefix: id, Exact: true, Limit: 1})
			if err != nil {
				return fault.Op(op, err)
			}
			if len(recs) > 0 {
				return fault.New(op, fault.Conflict, "organization still has repositories or teams")
			}
		}
	}
	if err := s.eachWhere(ctx, reposC, "org", id, func(r hosted.Record) error { return s.DeleteRepo(ctx, r.ID) }); err != nil {
		return fault.Op(op, err)
	}
	if err := s.eachWhere(ctx, teamsC, "org", id, func(r hosted.Record) error { return s.DeleteTeam(ctx, r.ID) }); err != nil {
		return fault.Op(op, err)
	}
	if err := s.deleteWhere(ctx, orgMembersC, "org", id); err != nil {
		return fault.Op(op, err)
	}
	if err := s.deleteWhere(ctx, invitationsC, "org", id); err != nil {
		return fault.Op(op, err)
	}
	return fault.Op(op, s.store.Delete(ctx, orgsC, id))
}

// SetOrgMember makes userID a member of orgID with role, or changes the
// role of an existing member. NotFound when either does not exist.
func (s *Service) SetOrgMember(ctx context.Context, orgID, userID string, role OrgRole) error {
	const op = "auth.SetOrgMember"
	if !slices.Contains([]OrgRole{OrgOwner, OrgAdmin, OrgMember}, role) {
		return fault.Newf(op, fault.Invalid, "unknown organization role %q", role)
	}
	if err := s.exist(ctx, op, orgsC, orgID); err != nil {
		return err
	}
	if err := s.exist(ctx, op, usersC, userID); err != nil {
		return err
	}
	m := OrgMembership{OrgID: orgID, UserID: userID, Role: role}
	err := s.upsert(ctx, orgMembersC, orgKey(orgID, userID), map[string]string{"org": orgID, "user": userID}, m)
	return fault.Op(op, err)
}

// OrgMember returns userID's membership of orgID, or NotFound.
func (s *Service) OrgMember(ctx context.Context, orgID, userID string) (OrgMembership, error) {
	var m OrgMembership
	_, err := hosted.GetJSON(ctx, s.store, orgMembersC, orgKey(orgID, userID), &m)
	return m, fault.Op("auth.OrgMember", err)
}

// ListOrgMembers returns a page of orgID's members.
func (s *Service) ListOrgMembers(ctx context.Context, orgID string, pg Page) ([]OrgMembership, string, error) {
	out, next, err := queryJSON[OrgMembership](ctx, s.store, orgMembersC, hosted.Query{Key: "org", Prefix: orgID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListOrgMembers", err)
}

// UserOrgs returns a page of userID's organization memberships.
func (s *Service) UserOrgs(ctx context.Context, userID string, pg Page) ([]OrgMembership, string, error) {
	out, next, err := queryJSON[OrgMembership](ctx, s.store, orgMembersC, hosted.Query{Key: "user", Prefix: userID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.UserOrgs", err)
}

// RemoveOrgMember removes userID from orgID and from its teams. Not being a
// member is not an error. (Keeping at least one owner is the caller's
// check: it spans documents.)
func (s *Service) RemoveOrgMember(ctx context.Context, orgID, userID string) error {
	const op = "auth.RemoveOrgMember"
	defer s.permChanged(ctx)
	err := s.eachWhere(ctx, teamMembersC, "user", userID, func(r hosted.Record) error {
		var m TeamMembership
		if err := unmarshal(op, r.Data, &m); err != nil || m.OrgID != orgID {
			return err
		}
		return s.store.Delete(ctx, teamMembersC, r.ID)
	})
	if err != nil {
		return fault.Op(op, err)
	}
	return fault.Op(op, s.store.Delete(ctx, orgMembersC, orgKey(orgID, userID)))
}

// CreateTeam creates a team in orgID. Invalid for a bad name, Conflict
// when the organization has a team of that name, NotFound without the
// organization.
func (s *Service) CreateTeam(ctx context.Context, t Team) (Team, error) {
	const op = "auth.CreateTeam"
	if err := s.ValidName(t.Name); err != nil {
		return Team{}, fault.Op(op, err)
	}
	if err := s.exist(ctx, op, orgsC, t.OrgID); err != nil {
		return Team{}, err
	}
	t.ID, t.CreatedAt = newID(), time.Now().UTC()
	keys := map[string]string{"name": t.OrgID + "/" + t.Name, "org": t.OrgID}
	if _, err := hosted.CreateJSON(ctx, s.store, teamsC, t.ID, keys, t); err != nil {
		if fault.Is(err, fault.Conflict) {
			return Team{}, fault.WrapMsg(op, fault.Conflict, "team name taken", err)
		}
		return Team{}, fault.Op(op, err)
	}
	return t, nil
}

// GetTeam returns team id, or NotFound.
func (s *Service) GetTeam(ctx context.Context, id string) (Team, error) {
	var t Team
	_, err := hosted.GetJSON(ctx, s.store, teamsC, id, &t)
	return t, fault.Op("auth.GetTeam", err)
}

// ListTeams returns a page of orgID's teams.
func (s *Service) ListTeams(ctx context.Context, orgID string, pg Page) ([]Team, string, error) {
	out, next, err := queryJSON[Team](ctx, s.store, teamsC, hosted.Query{Key: "org", Prefix: orgID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListTeams", err)
}

// DeleteTeam deletes team id with its memberships and repository grants.
func (s *Service) DeleteTeam(ctx context.Context, id string) error {
	const op = "auth.DeleteTeam"
	defer s.permChanged(ctx)
	if err := s.deleteWhere(ctx, teamMembersC, "team", id); err != nil {
		return fault.Op(op, err)
	}
	if err := s.deleteWhere(ctx, teamReposC, "team", id); err != nil {
		return fault.Op(op, err)
	}
	return fault.Op(op, s.store.Delete(ctx, teamsC, id))
}

// SetTeamMember adds userID to team teamID with role, or changes its role.
func (s *Service) SetTeamMember(ctx context.Context, teamID, userID string, role TeamRole) error {
	const op = "auth.SetTeamMember"
	if role != TeamMaintainer && role != TeamMember {
		return fault.Newf(op, fault.Invalid, "unknown team role %q", role)
	}
	t, err := s.GetTeam(ctx, teamID)
	if err != nil {
		return fault.Op(op, err)
	}
	if err := s.exist(ctx, op, usersC, userID); err != nil {
		return err
	}
	m := TeamMembership{TeamID: teamID, OrgID: t.OrgID, UserID: userID, Role: role}
	return fault.Op(op, s.upsert(ctx, teamMembersC, orgKey(teamID, userID), map[string]string{"team": teamID, "user": userID}, m))
}

// RemoveTeamMember removes userID from teamID; not a member: not an error.
func (s *Service) RemoveTeamMember(ctx context.Context, teamID, userID string) error {
	defer s.permChanged(ctx)
	return fault.Op("auth.RemoveTeamMember", s.store.Delete(ctx, teamMembersC, orgKey(teamID, userID)))
}

// ListTeamMembers returns a page of teamID's members.
func (s *Service) ListTeamMembers(ctx context.Context, teamID string, pg Page) ([]TeamMembership, string, error) {
	out, next, err := queryJSON[TeamMembership](ctx, s.store, teamMembersC, hosted.Query{Key: "team", Prefix: teamID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListTeamMembers", err)
}

// GrantTeamRepo gives team teamID access to repository repoID, which must
// belong to the team's organization (Invalid otherwise).
func (s *Service) GrantTeamRepo(ctx context.Context, teamID, repoID string) error {
	const op = "auth.GrantTeamRepo"
	t, err := s.GetTeam(ctx, teamID)
	if err != nil {
		return fault.Op(op, err)
	}
	r, err := s.GetRepo(ctx, repoID)
	if err != nil {
		return fault.Op(op, err)
	}
	if r.OrgID != t.OrgID {
		return fault.New(op, fault.Invalid, "the repository belongs to another organization")
	}
	g := TeamRepo{TeamID: teamID, RepoID: repoID, OrgID: t.OrgID}
	return fault.Op(op, s.upsert(ctx, teamReposC, orgKey(teamID, repoID), map[string]string{"team": teamID, "repo": repoID}, g))
}

// RevokeTeamRepo takes repository repoID away from team teamID.
func (s *Service) RevokeTeamRepo(ctx context.Context, teamID, repoID string) error {
	defer s.permChanged(ctx)
	return fault.Op("auth.RevokeTeamRepo", s.store.Delete(ctx, teamReposC, orgKey(teamID, repoID)))
}

// ListTeamRepos returns a page of the repositories team teamID may use.
func (s *Service) ListTeamRepos(ctx context.Context, teamID string, pg Page) ([]TeamRepo, string, error) {
	out, next, err := queryJSON[TeamRepo](ctx, s.store, teamReposC, hosted.Query{Key: "team", Prefix: teamID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListTeamRepos", err)
}

// exist checks that id names a record of c: NotFound otherwise.
func (s *Service) exist(ctx context.Context, op string, c hosted.Collection, id string) error {
	_, err := s.store.Get(ctx, c, id)
	return fault.Op(op, err)
}

// upsert writes v under id whether or not it exists, and invalidates
// permission decisions.
func (s *Service) upsert(ctx context.Context, c hosted.Collection, id string, keys map[string]string, v any) error {
	defer s.permChanged(ctx)
	_, err := hosted.CreateJSON(ctx, s.store, c, id, keys, v)
	if !fault.Is(err, fault.Conflict) {
		return err
	}
	data, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	for try := 0; try < 8; try++ {
		r, err := s.store.Get(ctx, c, id)
		if fault.Is(err, fault.NotFound) {
			if _, err = s.store.Create(ctx, c, hosted.Record{ID: id, Keys: keys, Data: data}); !fault.Is(err, fault.Conflict) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if _, err = s.store.Replace(ctx, c, hosted.Record{ID: id, Keys: keys, Data: data}, r.Rev); !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
			return err
		}
	}
	return fault.New("auth.upsert", fault.Conflict, "too many concurrent writers")
}

// queryJSON runs q and decodes every record's body into a T.
func queryJSON[T any](ctx context.Context, st hosted.Store, c hosted.Collection, q hosted.Query) ([]T, string, error) {
	recs, next, err := st.Query(ctx, c, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		var v T
		if err := unmarshal("auth.query", r.Data, &v); err != nil {
			return nil, "", err
		}
		out = append(out, v)
	}
	return out, next, nil
}

// eachWhere calls fn for every record whose key equals value, page by page.
func (s *Service) eachWhere(ctx context.Context, c hosted.Collection, key, value string, fn func(hosted.Record) error) error {
	after := ""
	for {
		recs, next, err := s.store.Query(ctx, c, hosted.Query{Key: key, Prefix: value, Exact: true, After: after})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// deleteWhere deletes every record whose key equals value.
func (s *Service) deleteWhere(ctx context.Context, c hosted.Collection, key, value string) error {
	return s.eachWhere(ctx, c, key, value, func(r hosted.Record) error { return s.store.Delete(ctx, c, r.ID) })
}
