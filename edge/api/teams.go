package api

import (
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// teamFor is the prologue of the endpoints under
// /organizations/{orgId}/teams/{teamId}: the caller as who returns it,
// and the team of the path (by id, or by name within the organization)
// once the caller's standing in its organization is as need says.
func (h *Handler) teamFor(ctx *fasthttp.RequestCtx, who func(*fasthttp.RequestCtx) (auth.Principal, error), need orgNeed) (auth.Principal, auth.Org, auth.Team, error) {
	p, o, err := h.pathOrg(ctx, who, need)
	if err != nil {
		return p, o, auth.Team{}, err
	}
	n := noteOf(ctx)
	idOrName := param(ctx, "teamId")
	t, err := h.r.Auth.GetTeam(edge.Context(ctx), idOrName)
	if err == nil && t.OrgID == o.ID {
		n.target = t.Name
		return p, o, t, nil
	}
	if err != nil && !fault.Is(err, fault.NotFound) {
		return p, o, t, err
	}
	pg := auth.Page{Limit: h.opts.MaxPage}
	for {
		ts, next, err := h.r.Auth.ListTeams(edge.Context(ctx), o.ID, pg)
		if err != nil {
			return p, o, auth.Team{}, err
		}
		for _, t := range ts {
			if t.Name == idOrName {
				n.target = t.Name
				return p, o, t, nil
			}
		}
		if next == "" {
			return p, o, auth.Team{}, notFound("team " + idOrName)
		}
		pg.Cursor = next
	}
}

// listTeams: GET /api/v1/organizations/{orgId}/teams.
func (h *Handler) listTeams(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.user, needView)
	if err != nil {
		return err
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.Team, string, error) {
		return h.r.Auth.ListTeams(edge.Context(ctx), o.ID, pg)
	}, asIs[auth.Team])
}

// createTeam: POST /api/v1/organizations/{orgId}/teams {"name","description"}.
func (h *Handler) createTeam(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	n.target = req.Name
	if err := h.r.Auth.ValidName(req.Name); err != nil {
		return err
	}
	t, err := h.r.Auth.CreateTeam(edge.Context(ctx), auth.Team{OrgID: o.ID, Name: req.Name, Description: req.Description})
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusCreated, t)
}

// getTeam: GET /api/v1/organizations/{orgId}/teams/{teamId}.
func (h *Handler) getTeam(ctx *fasthttp.RequestCtx) error {
	_, _, t, err := h.teamFor(ctx, h.user, needView)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, t)
}

// deleteTeam: DELETE /api/v1/organizations/{orgId}/teams/{teamId}.
func (h *Handler) deleteTeam(ctx *fasthttp.RequestCtx) error {
	_, _, t, err := h.teamFor(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	if err := h.r.Auth.DeleteTeam(edge.Context(ctx), t.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

type teamMemberView struct {
	TeamID   string `json:"teamId"`
	OrgID    string `json:"orgId"`
	UserID   string `json:"userId"`
	Username string `json:"username,omitempty"`
	Role     string `json:"role"`
}

// listTeamMembers: GET /api/v1/organizations/{orgId}/teams/{teamId}/members.
func (h *Handler) listTeamMembers(ctx *fasthttp.RequestCtx) error {
	_, _, t, err := h.teamFor(ctx, h.user, needView)
	if err != nil {
		return err
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.TeamMembership, string, error) {
		return h.r.Auth.ListTeamMembers(edge.Context(ctx), t.ID, pg)
	}, func(m auth.TeamMembership) teamMemberView {
		return teamMemberView{TeamID: m.TeamID, OrgID: m.OrgID, UserID: m.UserID, Username: h.username(edge.Context(ctx), m.UserID), Role: string(m.Role)}
	})
}

// setTeamMember: POST /api/v1/organizations/{orgId}/teams/{teamId}/members
// {"userId","role"} — the user must be a member of the organization.
func (h *Handler) setTeamMember(ctx *fasthttp.RequestCtx) error {
	p, o, t, err := h.teamFor(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	var req memberRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = string(auth.TeamMember)
	}
	role := auth.TeamRole(req.Role)
	if role != auth.TeamMaintainer && role != auth.TeamMember {
		return invalid("role must be maintainer or member")
	}
	// A user who does not exist and one who is not a member get one
	// answer.
	u, err := h.memberOf(edge.Context(ctx), p, o, req.UserID)
	if fault.Is(err, fault.NotFound) {
		return invalid("the user is not a member of the organization: add it there first")
	} else if err != nil {
		return err
	}
	n := noteOf(ctx)
	n.target, n.detail = t.Name+"/"+u.ID, "role "+req.Role
	if err := h.r.Auth.SetTeamMember(edge.Context(ctx), t.ID, u.ID, role); err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, teamMemberView{TeamID: t.ID, OrgID: o.ID, UserID: u.ID, Username: u.Username, Role: req.Role})
}

// removeTeamMember: DELETE /api/v1/organizations/{orgId}/teams/{teamId}/members/{userId}.
func (h *Handler) removeTeamMember(ctx *fasthttp.RequestCtx) error {
	p, _, t, err := h.teamFor(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	u, err := h.userAs(edge.Context(ctx), p, param(ctx, "userId"))
	if err != nil {
		return err
	}
	noteOf(ctx).target = t.Name + "/" + u.ID
	if err := h.r.Auth.RemoveTeamMember(edge.Context(ctx), t.ID, u.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

// listTeamRepos: GET /api/v1/organizations/{orgId}/teams/{teamId}/repositories.
func (h *Handler) listTeamRepos(ctx *fasthttp.RequestCtx) error {
	_, _, t, err := h.teamFor(ctx, h.user, needView)
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	grants, next, err := h.r.Auth.ListTeamRepos(edge.Context(ctx), t.ID, pg)
	if err != nil {
		return err
	}
	out := make([]auth.Repository, 0, len(grants))
	for _, g := range grants {
		repo, err := h.r.Auth.GetRepo(edge.Context(ctx), g.RepoID)
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		out = append(out, repo)
	}
	return reply(ctx, fasthttp.StatusOK, page(out, next))
}

// grantTeamRepo: POST /api/v1/organizations/{orgId}/teams/{teamId}/repositories
// {"repositoryId"} — what the grant allows follows each member's team role.
func (h *Handler) grantTeamRepo(ctx *fasthttp.RequestCtx) error {
	_, o, t, err := h.teamFor(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	var req struct {
		RepositoryID string `json:"repositoryId"`
	}
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.RepositoryID == "" {
		return invalid("repositoryId is required")
	}
	repo, err := h.r.Auth.GetRepo(edge.Context(ctx), req.RepositoryID)
	if fault.Is(err, fault.NotFound) || err == nil && repo.OrgID != o.ID {
		return invalid("the organization has no repository %q", req.RepositoryID)
	}
	if err != nil {
		return err
	}
	noteOf(ctx).target = t.Name + "/" + repo.ID
	if err := h.r.Auth.GrantTeamRepo(edge.Context(ctx), t.ID, repo.ID); err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, repo)
}

// revokeTeamRepo: DELETE /api/v1/organizations/{orgId}/teams/{teamId}/repositories/{repoId}.
func (h *Handler) revokeTeamRepo(ctx *fasthttp.RequestCtx) error {
	_, _, t, err := h.teamFor(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	repoID := param(ctx, "repoId")
	noteOf(ctx).target = t.Name + "/" + repoID
	if err := h.r.Auth.RevokeTeamRepo(edge.Context(ctx), t.ID, repoID); err != nil {
		return err
	}
	return noContent(ctx)
}
