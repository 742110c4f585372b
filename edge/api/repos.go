package api

import (
	"context"
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// mayRepo authorizes action on repo for p. A refusal is NotFound when p
// may not even read the repository, so that private repositories do not
// reveal themselves; Unauthorized stays for anonymous callers.
func (h *Handler) mayRepo(ctx context.Context, p auth.Principal, ref auth.RepoRef, action auth.Action) error {
	err := h.r.Auth.Authorize(ctx, p, ref, action)
	if err == nil || !fault.Is(err, fault.Forbidden) {
		return err
	}
	if action != auth.Read && h.r.Auth.Authorize(ctx, p, ref, auth.Read) == nil {
		return err
	}
	return notFound("repository")
}

// forced reads ?force=true, which only platform admins may give to
// force a deletion (what: "deletion", "release") of what holds packages.
func forced(ctx *fasthttp.RequestCtx, p auth.Principal, what string) (bool, error) {
	force, err := flag(ctx, "force")
	if err == nil && force && (!p.PlatformAdmin || p.TokenID != "") {
		err = forbidden("only platform administrators may force a " + what)
	}
	return force, err
}

// repoFor is the prologue of the endpoints under
// /repositories/{repoId}: the caller as who returns it, and the
// repository of the path once the caller may do action on it.
func (h *Handler) repoFor(ctx *fasthttp.RequestCtx, who func(*fasthttp.RequestCtx) (auth.Principal, error), action auth.Action) (auth.Principal, auth.Repository, error) {
	p, err := who(ctx)
	if err != nil {
		return p, auth.Repository{}, err
	}
	repo, err := h.repoOfPath(ctx, p, action)
	return p, repo, err
}

// repoOfPath is the repository of the path once p may do action on it.
func (h *Handler) repoOfPath(ctx *fasthttp.RequestCtx, p auth.Principal, action auth.Action) (auth.Repository, error) {
	id := param(ctx, "repoId")
	repo, err := h.r.Auth.GetRepo(edge.Context(ctx), id)
	if err != nil {
		if fault.Is(err, fault.NotFound) {
			return repo, unseen(p, action, "repository "+id)
		}
		return repo, err
	}
	n := noteOf(ctx)
	n.target, n.org = repo.ID, repo.OrgID
	if err := h.mayRepo(edge.Context(ctx), p, repo.Ref(), action); err != nil {
		if fault.Is(err, fault.NotFound) {
			return repo, notFound("repository " + id)
		}
		return repo, err
	}
	return repo, nil
}

// unseen is the answer for something that does not exist, as p gets it
// for something that exists but p may not see: an anonymous read is asked
// to authenticate, as it is for a private repository, and anyone else is
// told it is not found.
func unseen(p auth.Principal, action auth.Action, what string) error {
	if p.Anonymous() && action == auth.Read {
		return fault.New("api", fault.Unauthorized, "authentication required")
	}
	return notFound(what)
}

type repoRequest struct {
	Name        string           `json:"name"`
	Protocol    string           `json:"protocol"`
	Visibility  *auth.Visibility `json:"visibility"`
	Description *string          `json:"description"`
}

// listRepos: GET /api/v1/organizations/{orgId}/repositories — those the
// caller may read (a filtered page may come out short).
func (h *Handler) listRepos(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	idOrName := param(ctx, "orgId")
	o, err := h.r.Auth.GetOrg(edge.Context(ctx), idOrName)
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	repos, next, err := h.r.Auth.ListRepos(edge.Context(ctx), o.ID, pg)
	if err != nil {
		return err
	}
	out := make([]auth.Repository, 0, len(repos))
	for _, repo := range repos {
		if h.r.Auth.Authorize(edge.Context(ctx), p, repo.Ref(), auth.Read) == nil {
			out = append(out, repo)
		}
	}
	if len(out) == 0 && next == "" && pg.Cursor == "" {
		// Nothing readable at all: an organization the caller is no part
		// of is not revealed.
		if _, err := h.orgFor(edge.Context(ctx), p, idOrName, needView); err != nil {
			return err
		}
	}
	return reply(ctx, fasthttp.StatusOK, page(out, next))
}

// createRepo: POST /api/v1/organizations/{orgId}/repositories
// {"name","protocol","visibility","description"} — private by default.
func (h *Handler) createRepo(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	var req repoRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	n.target = req.Protocol + "/" + req.Name
	if err := h.r.Auth.ValidName(req.Name); err != nil {
		return err
	}
	if !h.known(req.Protocol) {
		return invalid("protocol must be one of %v", h.names)
	}
	repo := auth.Repository{OrgID: o.ID, Name: req.Name, Protocol: req.Protocol, Visibility: auth.Private, Description: deref(req.Description)}
	if req.Visibility != nil {
		repo.Visibility = *req.Visibility
	}
	repo, err = h.r.Auth.CreateRepo(edge.Context(ctx), repo)
	if err != nil {
		return err
	}
	n.target = repo.ID
	return reply(ctx, fasthttp.StatusCreated, repo)
}

// getRepo: GET /api/v1/repositories/{repoId}.
func (h *Handler) getRepo(ctx *fasthttp.RequestCtx) error {
	_, repo, err := h.repoFor(ctx, h.who, auth.Read)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, repo)
}

// updateRepo: PUT /api/v1/repositories/{repoId} {"visibility","description"}.
func (h *Handler) updateRepo(ctx *fasthttp.RequestCtx) error {
	_, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	var req repoRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != repo.Name || req.Protocol != "" && req.Protocol != repo.Protocol {
		return invalid("a repository's name and protocol cannot change")
	}
	if req.Visibility != nil {
		noteOf(ctx).detail = "visibility " + string(*req.Visibility)
	}
	repo, err = h.r.Auth.UpdateRepo(edge.Context(ctx), repo.ID, req.Visibility, req.Description)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, repo)
}

// deleteRepo: DELETE /api/v1/repositories/{repoId}[?force=true] — refused
// while it holds packages, unless a platform admin forces it.
func (h *Handler) deleteRepo(ctx *fasthttp.RequestCtx) error {
	p, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	force, err := forced(ctx, p, "deletion")
	if err != nil {
		return err
	}
	f := hosted.PackageFilter{OrgID: repo.OrgID, Protocol: repo.Protocol}
	held, err := h.holdsPackages(edge.Context(ctx), f, repo.ID)
	if err != nil {
		return err
	}
	if held {
		if !force {
			return fault.New("api", fault.Conflict, "the repository still holds packages: delete them first, or have a platform administrator force the deletion (?force=true)")
		}
		if err := h.deletePackages(edge.Context(ctx), f, repo.ID); err != nil {
			return err
		}
		noteOf(ctx).detail = "forced: packages deleted"
	}
	if err := h.r.Auth.DeleteRepo(edge.Context(ctx), repo.ID); err != nil {
		return err
	}
	// Released after the repository is gone, so that a failed deletion
	// keeps its names; a claim naming no repository would hide its name
	// from the upstream for good.
	if _, err := h.releaseRepoClaims(edge.Context(ctx), repo.OrgID, repo.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

// holdsPackages reports whether any package matching f is in repoID.
func (h *Handler) holdsPackages(ctx context.Context, f hosted.PackageFilter, repoID string) (bool, error) {
	after := ""
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(ctx, f, after, h.opts.MaxPage)
		if err != nil {
			return false, err
		}
		for _, pk := range pkgs {
			if pk.RepoID == repoID {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		after = next
	}
}

type permissionView struct {
	RepoID   string `json:"repoId"`
	OrgID    string `json:"orgId"`
	UserID   string `json:"userId"`
	Username string `json:"username,omitempty"`
	Role     string `json:"role"`
}

// listRepoPermissions: GET /api/v1/repositories/{repoId}/permissions
// (those who manage the repository).
func (h *Handler) listRepoPermissions(ctx *fasthttp.RequestCtx) error {
	_, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.RepoPermission, string, error) {
		return h.r.Auth.ListRepoPermissions(edge.Context(ctx), repo.ID, pg)
	}, func(pm auth.RepoPermission) permissionView {
		return permissionView{RepoID: pm.RepoID, OrgID: pm.OrgID, UserID: pm.UserID, Username: h.username(edge.Context(ctx), pm.UserID), Role: string(pm.Role)}
	})
}

// setRepoPermission: POST /api/v1/repositories/{repoId}/permissions
// {"userId","role"}.
func (h *Handler) setRepoPermission(ctx *fasthttp.RequestCtx) error {
	p, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	var req memberRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	role := auth.RepoRole(req.Role)
	switch role {
	case auth.RepoReader, auth.RepoDeveloper, auth.RepoMaintainer, auth.RepoAdmin:
	default:
		return invalid("role must be reader, developer, maintainer or admin")
	}
	u, err := h.grantee(edge.Context(ctx), p, repo.OrgID, req.UserID)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	n.target, n.detail = repo.ID+"/"+u.ID, "role "+req.Role
	if err := h.r.Auth.SetRepoPermission(edge.Context(ctx), repo.ID, u.ID, role); err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, permissionView{RepoID: repo.ID, OrgID: repo.OrgID, UserID: u.ID, Username: u.Username, Role: req.Role})
}

// removeRepoPermission: DELETE /api/v1/repositories/{repoId}/permissions/{userId}.
func (h *Handler) removeRepoPermission(ctx *fasthttp.RequestCtx) error {
	p, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	id := param(ctx, "userId")
	u, err := h.userAs(edge.Context(ctx), p, id)
	if err != nil {
		return err
	}
	// A user without a permission here answers as a missing one, so that
	// no username shows through (permissions themselves are listed to
	// whoever may remove them).
	if !p.PlatformAdmin {
		if _, err := h.r.Auth.RepoPermissionOf(edge.Context(ctx), repo.ID, u.ID); fault.Is(err, fault.NotFound) {
			return notFound("user " + id)
		} else if err != nil {
			return err
		}
	}
	noteOf(ctx).target = repo.ID + "/" + u.ID
	if err := h.r.Auth.RemoveRepoPermission(edge.Context(ctx), repo.ID, u.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

// grantee resolves the user a repository permission is given to, for p:
// a non-admin gives permissions only to members of the repository's
// organization (others join by invitation first, auth/invite.go, so that
// nobody is granted anything without consent), and a user outside it
// answers as a missing one, so that no username shows through.
func (h *Handler) grantee(ctx context.Context, p auth.Principal, orgID, idOrLogin string) (auth.User, error) {
	u, err := h.userAs(ctx, p, idOrLogin)
	if err != nil || p.PlatformAdmin {
		return u, err
	}
	if _, err := h.r.Auth.OrgMember(ctx, orgID, u.ID); fault.Is(err, fault.NotFound) {
		return auth.User{}, notFound("user " + idOrLogin)
	} else if err != nil {
		return auth.User{}, err
	}
	return u, nil
}
