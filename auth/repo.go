package auth

import (
	"context"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Visibility says who may read a repository without a permission.
type Visibility string

// The visibilities. Private is the default.
const (
	Private Visibility = "private"
	Public  Visibility = "public" // everyone may read, anonymous callers included
)

// Repository is an organization's hosted repository for one protocol. The
// triple (organization, protocol, name) is unique.
type Repository struct {
	ID          string     `json:"id"`
	OrgID       string     `json:"orgId"`
	Name        string     `json:"name"`
	Protocol    string     `json:"protocol"`
	Visibility  Visibility `json:"visibility"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
}

// Ref returns what Authorize needs to know of r.
func (r Repository) Ref() RepoRef {
	return RepoRef{ID: r.ID, OrgID: r.OrgID, Protocol: r.Protocol, Public: r.Visibility == Public}
}

// RepoRole is a user's direct permission on a repository: reader may read,
// developer read and write, maintainer also delete, admin also manage.
type RepoRole string

// The repository roles.
const (
	RepoReader     RepoRole = "reader"
	RepoDeveloper  RepoRole = "developer"
	RepoMaintainer RepoRole = "maintainer"
	RepoAdmin      RepoRole = "admin"
)

// RepoPermission is a direct permission, stored under id repoID/userID.
type RepoPermission struct {
	RepoID string   `json:"repoId"`
	OrgID  string   `json:"orgId"`
	UserID string   `json:"userId"`
	Role   RepoRole `json:"role"`
}

func repoKey(orgID, protocol, name string) string { return orgID + "/" + protocol + "/" + name }

// CreateRepo creates a repository (private unless r.Visibility says
// public). Invalid for a bad or reserved name, an unknown protocol or
// visibility; NotFound without the organization; Conflict when the
// organization has a repository of that name for that protocol.
func (s *Service) CreateRepo(ctx context.Context, r Repository) (Repository, error) {
	const op = "auth.CreateRepo"
	if err := s.ValidName(r.Name); err != nil {
		return Repository{}, fault.Op(op, err)
	}
	if !s.knownProtocol(r.Protocol) {
		return Repository{}, fault.Newf(op, fault.Invalid, "unknown protocol %q", r.Protocol)
	}
	if r.Visibility == "" {
		r.Visibility = Private
	}
	if r.Visibility != Private && r.Visibility != Public {
		return Repository{}, fault.Newf(op, fault.Invalid, "visibility must be public or private, not %q", r.Visibility)
	}
	if _, err := s.store.Get(ctx, orgsC, r.OrgID); err != nil {
		return Repository{}, fault.Op(op, err)
	}
	r.ID, r.CreatedAt = newID(), time.Now().UTC()
	keys := map[string]string{"name": repoKey(r.OrgID, r.Protocol, r.Name), "org": r.OrgID}
	if _, err := hosted.CreateJSON(ctx, s.store, reposC, r.ID, keys, r); err != nil {
		if fault.Is(err, fault.Conflict) {
			return Repository{}, fault.WrapMsg(op, fault.Conflict, "repository name taken", err)
		}
		return Repository{}, fault.Op(op, err)
	}
	s.permChanged(ctx)
	return r, nil
}

// GetRepo returns repository id, or NotFound.
func (s *Service) GetRepo(ctx context.Context, id string) (Repository, error) {
	var r Repository
	_, err := hosted.GetJSON(ctx, s.store, reposC, id, &r)
	return r, fault.Op("auth.GetRepo", err)
}

// RepoByName returns orgID's repository name for protocol, or NotFound.
func (s *Service) RepoByName(ctx context.Context, orgID, protocol, name string) (Repository, error) {
	const op = "auth.RepoByName"
	out, _, err := queryJSON[Repository](ctx, s.store, reposC, hosted.Query{Key: "name", Prefix: repoKey(orgID, protocol, name), Exact: true, Limit: 1})
	if err == nil && len(out) == 0 {
		err = fault.Newf(op, fault.NotFound, "repository %q not found", name)
	}
	if err != nil {
		return Repository{}, fault.Op(op, err)
	}
	return out[0], nil
}

// ListRepos returns a page of orgID's repositories.
func (s *Service) ListRepos(ctx context.Context, orgID string, pg Page) ([]Repository, string, error) {
	out, next, err := queryJSON[Repository](ctx, s.store, reposC, hosted.Query{Key: "org", Prefix: orgID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListRepos", err)
}

// UpdateRepo changes a repository's visibility and description (nil leaves
// one as it is); permission decisions are invalidated at once.
func (s *Service) UpdateRepo(ctx context.Context, id string, visibility *Visibility, description *string) (Repository, error) {
	const op = "auth.UpdateRepo"
	if visibility != nil && *visibility != Private && *visibility != Public {
		return Repository{}, fault.Newf(op, fault.Invalid, "visibility must be public or private, not %q", *visibility)
	}
	defer s.permChanged(ctx)
	r, err := hosted.Update(ctx, s.store, reposC, id, func(r *Repository, _ map[string]string) error {
		if visibility != nil {
			r.Visibility = *visibility
		}
		if description != nil {
			r.Description = *description
		}
		return nil
	})
	return r, fault.Op(op, err)
}

// DeleteRepo deletes repository id with its direct permissions and team
// grants. Refusing a repository that holds packages is the catalog's check,
// made by the caller before. Missing: not an error.
func (s *Service) DeleteRepo(ctx context.Context, id string) error {
	const op = "auth.DeleteRepo"
	defer s.permChanged(ctx)
	if err := s.deleteWhere(ctx, repoPermsC, "repo", id); err != nil {
		return fault.Op(op, err)
	}
	if err := s.deleteWhere(ctx, teamReposC, "repo", id); err != nil {
		return fault.Op(op, err)
	}
	return fault.Op(op, s.store.Delete(ctx, reposC, id))
}

// SetRepoPermission gives userID role on repository repoID directly, or
// changes it.
func (s *Service) SetRepoPermission(ctx context.Context, repoID, userID string, role RepoRole) error {
	const op = "auth.SetRepoPermission"
	if roleActions(role) == 0 {
		return fault.Newf(op, fault.Invalid, "unknown repository role %q", role)
	}
	r, err := s.GetRepo(ctx, repoID)
	if err != nil {
		return fault.Op(op, err)
	}
	if _, err := s.store.Get(ctx, usersC, userID); err != nil {
		return fault.Op(op, err)
	}
	p := RepoPermission{RepoID: repoID, OrgID: r.OrgID, UserID: userID, Role: role}
	return fault.Op(op, s.upsert(ctx, repoPermsC, orgKey(repoID, userID), map[string]string{"repo": repoID, "user": userID}, p))
}

// RepoPermissionOf returns userID's direct permission on repoID,
// NotFound without one.
func (s *Service) RepoPermissionOf(ctx context.Context, repoID, userID string) (RepoPermission, error) {
	var p RepoPermission
	_, err := hosted.GetJSON(ctx, s.store, repoPermsC, orgKey(repoID, userID), &p)
	return p, fault.Op("auth.RepoPermissionOf", err)
}

// RemoveRepoPermission removes userID's direct permission on repoID.
func (s *Service) RemoveRepoPermission(ctx context.Context, repoID, userID string) error {
	defer s.permChanged(ctx)
	return fault.Op("auth.RemoveRepoPermission", s.store.Delete(ctx, repoPermsC, orgKey(repoID, userID)))
}

// ListRepoPermissions returns a page of repoID's direct permissions.
func (s *Service) ListRepoPermissions(ctx context.Context, repoID string, pg Page) ([]RepoPermission, string, error) {
	out, next, err := queryJSON[RepoPermission](ctx, s.store, repoPermsC, hosted.Query{Key: "repo", Prefix: repoID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.ListRepoPermissions", err)
}
