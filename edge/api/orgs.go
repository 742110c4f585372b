package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// orgNeed is what a caller must be in an organization for an endpoint.
type orgNeed int

const (
	needView   orgNeed = iota // a member (or a platform admin)
	needManage                // an owner or an admin
	needOwn                   // an owner
)

// orgFor resolves idOrName and checks that p may act on it as need says:
// NotFound when p may not even see it (so that private organizations do
// not reveal themselves), Forbidden when p sees it but lacks the role.
func (h *Handler) orgFor(ctx context.Context, p auth.Principal, idOrName string, need orgNeed) (auth.Org, error) {
	o, err := h.r.Auth.GetOrg(ctx, idOrName)
	if fault.Is(err, fault.NotFound) {
		return o, notFound("organization " + idOrName) // as for one p may not see
	}
	if err != nil {
		return o, err
	}
	if p.Scopes != nil && len(p.Scopes.Organizations) > 0 && !contains(p.Scopes.Organizations, o.ID) {
		return o, notFound("organization " + idOrName)
	}
	if p.PlatformAdmin {
		return o, nil
	}
	m, err := h.r.Auth.OrgMember(ctx, o.ID, p.UserID)
	if fault.Is(err, fault.NotFound) {
		return o, notFound("organization " + idOrName)
	}
	if err != nil {
		return o, err
	}
	switch {
	case need == needOwn && m.Role != auth.OrgOwner:
		return o, forbidden("organization owners only")
	case need == needManage && m.Role != auth.OrgOwner && m.Role != auth.OrgAdmin:
		return o, forbidden("organization owners and admins only")
	}
	return o, nil
}

// pathOrg is the prologue of the endpoints under
// /organizations/{orgId}: the caller as who returns it (h.user, h.manager
// for changes), then orgOfPath.
func (h *Handler) pathOrg(ctx *fasthttp.RequestCtx, who func(*fasthttp.RequestCtx) (auth.Principal, error), need orgNeed) (auth.Principal, auth.Org, error) {
	p, err := who(ctx)
	if err != nil {
		return p, auth.Org{}, err
	}
	o, err := h.orgOfPath(ctx, p, need)
	return p, o, err
}

// orgOfPath is the organization of the path ({orgId}) once p may act on
// it as need says (orgFor), noted for the audit record.
func (h *Handler) orgOfPath(ctx *fasthttp.RequestCtx, p auth.Principal, need orgNeed) (auth.Org, error) {
	o, err := h.orgFor(edge.Context(ctx), p, param(ctx, "orgId"), need)
	noteOf(ctx).org = o.ID
	return o, err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// userAs is userFor for p: only platform admins look users up by email,
// so that an email tells anyone else nothing (the answer is NotFound,
// found or not, and no lookup is made).
func (h *Handler) userAs(ctx context.Context, p auth.Principal, idOrLogin string) (auth.User, error) {
	if !p.PlatformAdmin && strings.Contains(idOrLogin, "@") {
		return auth.User{}, notFound("user " + idOrLogin)
	}
	return h.userFor(ctx, idOrLogin)
}

// userFor resolves a user id, or failing that a username or email.
func (h *Handler) userFor(ctx context.Context, idOrLogin string) (auth.User, error) {
	if idOrLogin == "" {
		return auth.User{}, invalid("userId is required")
	}
	u, err := h.r.Auth.GetUser(ctx, idOrLogin)
	if fault.Is(err, fault.NotFound) {
		u, err = h.r.Auth.UserByLogin(ctx, idOrLogin)
		if fault.Is(err, fault.NotFound) {
			err = notFound("user " + idOrLogin)
		}
	}
	return u, err
}

type orgRequest struct {
	Name        string  `json:"name"`
	DisplayName *string `json:"displayName"`
	Description *string `json:"description"`
	// Owner is the user made owner; default the caller. Naming another
	// user takes a platform admin.
	Owner string `json:"owner"`
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// listOrgs: GET /api/v1/organizations — every organization for a platform
// admin, the caller's own otherwise.
func (h *Handler) listOrgs(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	if p.PlatformAdmin {
		orgs, next, err := h.r.Auth.ListOrgs(edge.Context(ctx), pg)
		if err != nil {
			return err
		}
		return reply(ctx, fasthttp.StatusOK, page(orgs, next))
	}
	ms, next, err := h.r.Auth.UserOrgs(edge.Context(ctx), p.UserID, pg)
	if err != nil {
		return err
	}
	orgs := make([]auth.Org, 0, len(ms))
	for _, m := range ms {
		if p.Scopes != nil && len(p.Scopes.Organizations) > 0 && !contains(p.Scopes.Organizations, m.OrgID) {
			continue
		}
		o, err := h.r.Auth.GetOrg(edge.Context(ctx), m.OrgID)
		if fault.Is(err, fault.NotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		orgs = append(orgs, o)
	}
	return reply(ctx, fasthttp.StatusOK, page(orgs, next))
}

// createOrg: POST /api/v1/organizations {"name","displayName","description"}
// — the caller becomes its owner.
func (h *Handler) createOrg(ctx *fasthttp.RequestCtx) error {
	p, err := h.signedIn(ctx)
	if err != nil {
		return err
	}
	var req orgRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	noteOf(ctx).target = req.Name
	if !p.PlatformAdmin && !h.settings.get().UserOrganizations {
		return forbidden("only platform administrators may create organizations here")
	}
	if err := h.r.Auth.ValidName(req.Name); err != nil {
		return err
	}
	owner := p.UserID
	if req.Owner != "" {
		// Anyone but a platform admin names only itself: the answer
		// tells nothing about whether another account exists.
		u, err := h.userAs(edge.Context(ctx), p, req.Owner)
		if (err != nil || u.ID != p.UserID) && !p.PlatformAdmin {
			return forbidden("only platform administrators may make someone else the owner")
		}
		if err != nil {
			return err
		}
		owner = u.ID
	}
	o, err := h.r.Auth.CreateOrg(edge.Context(ctx), auth.Org{Name: req.Name, DisplayName: deref(req.DisplayName), Description: deref(req.Description)}, owner)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	n.target, n.org = o.Name, o.ID
	return reply(ctx, fasthttp.StatusCreated, o)
}

// getOrg: GET /api/v1/organizations/{orgId}.
func (h *Handler) getOrg(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.user, needView)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, o)
}

// updateOrg: PUT /api/v1/organizations/{orgId} {"displayName","description"}.
// Names never change: they are in clients' URLs.
func (h *Handler) updateOrg(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.manager, needManage)
	takenNote(ctx).target = o.Name
	if err != nil {
		return err
	}
	var req orgRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Name != "" && req.Name != o.Name {
		return invalid("an organization cannot be renamed")
	}
	if req.Owner != "" {
		return invalid("owner is set through the members endpoints")
	}
	o, err = h.r.Auth.UpdateOrg(edge.Context(ctx), o.ID, req.DisplayName, req.Description)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, o)
}

// deleteOrg: DELETE /api/v1/organizations/{orgId}[?force=true] — refused
// while it holds packages, unless a platform admin forces it (which
// deletes the packages too). Its namespace claims are released.
func (h *Handler) deleteOrg(ctx *fasthttp.RequestCtx) error {
	p, o, err := h.pathOrg(ctx, h.signedIn, needOwn)
	n := takenNote(ctx)
	n.target = o.Name
	if err != nil {
		return err
	}
	force, err := forced(ctx, p, "deletion")
	if err != nil {
		return err
	}
	pkgs, _, err := h.r.Catalog.ListPackages(edge.Context(ctx), hosted.PackageFilter{OrgID: o.ID}, "", 1)
	if err != nil {
		return err
	}
	if len(pkgs) > 0 {
		if !force {
			return fault.New("api", fault.Conflict, "the organization still holds packages: delete them first, or have a platform administrator force the deletion (?force=true)")
		}
		if err := h.deletePackages(edge.Context(ctx), hosted.PackageFilter{OrgID: o.ID}, ""); err != nil {
			return err
		}
		n.detail = "forced: packages deleted"
	}
	// Its claims go before it does: a claim left behind would keep its
	// names from the upstream for good, and a failure here leaves the
	// organization in place for a retry.
	released, err := h.releaseClaims(edge.Context(ctx), o.ID)
	if released > 0 {
		n.detail = strings.TrimPrefix(n.detail+"; "+strconv.Itoa(released)+" claim(s) released", "; ")
	}
	if err != nil {
		return err
	}
	if err := h.r.Auth.DeleteOrg(edge.Context(ctx), o.ID, true); err != nil {
		return err
	}
	return noContent(ctx)
}

// deletePackages deletes every package matching f (of repository repoID,
// when not empty).
func (h *Handler) deletePackages(ctx context.Context, f hosted.PackageFilter, repoID string) error {
	after := ""
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(ctx, f, after, h.opts.MaxPage)
		if err != nil {
			return err
		}
		for _, pk := range pkgs {
			if repoID != "" && pk.RepoID != repoID {
				continue
			}
			if err := h.r.Catalog.DeletePackage(ctx, pk.Protocol, pk.Name); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// memberView is an organization membership as the API shows it.
type memberView struct {
	OrgID    string `json:"orgId"`
	OrgName  string `json:"orgName,omitempty"`
	UserID   string `json:"userId"`
	Username string `json:"username,omitempty"`
	Role     string `json:"role"`
}

type memberRequest struct {
	UserID string `json:"userId"`
	Role   string `json:"role"`
}

// listMembers: GET /api/v1/organizations/{orgId}/members.
func (h *Handler) listMembers(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.user, needView)
	if err != nil {
		return err
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.OrgMembership, string, error) {
		return h.r.Auth.ListOrgMembers(edge.Context(ctx), o.ID, pg)
	}, func(m auth.OrgMembership) memberView {
		return h.memberView(edge.Context(ctx), o, m.UserID, string(m.Role))
	})
}

func (h *Handler) memberView(ctx context.Context, o auth.Org, userID, role string) memberView {
	return memberView{OrgID: o.ID, OrgName: o.Name, UserID: userID, Username: h.username(ctx, userID), Role: role}
}

// addMember: POST /api/v1/organizations/{orgId}/members {"userId","role"}
// adds a member or changes its role: platform admins only, since joining
// takes the user's consent otherwise (invitations.go).
func (h *Handler) addMember(ctx *fasthttp.RequestCtx) error {
	var req memberRequest
	return h.setMember(ctx, true, func() (string, string, error) {
		err := h.decode(ctx, &req)
		return req.UserID, req.Role, err
	})
}

// updateMember: PUT /api/v1/organizations/{orgId}/members/{userId} {"role"}
// changes the role of a member; only platform admins may name a user who
// is not one.
func (h *Handler) updateMember(ctx *fasthttp.RequestCtx) error {
	var req struct {
		Role string `json:"role"`
	}
	return h.setMember(ctx, false, func() (string, string, error) {
		err := h.decode(ctx, &req)
		return param(ctx, "userId"), req.Role, err
	})
}

func (h *Handler) setMember(ctx *fasthttp.RequestCtx, adding bool, read func() (user, role string, err error)) error {
	p, o, err := h.pathOrg(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	if adding && !p.PlatformAdmin {
		return forbidden("only platform administrators add members directly: invite the user instead (POST /api/v1/organizations/" + o.Name + "/invitations); they join when they accept")
	}
	userID, role, err := read()
	if err != nil {
		return err
	}
	r := auth.OrgRole(role)
	switch r {
	case auth.OrgOwner, auth.OrgAdmin, auth.OrgMember:
	default:
		return invalid("role must be owner, admin or member")
	}
	var u auth.User
	if adding {
		u, err = h.userFor(edge.Context(ctx), userID)
	} else {
		u, err = h.memberOf(edge.Context(ctx), p, o, userID)
	}
	if err != nil {
		return err
	}
	n.target, n.detail = u.ID, "role "+role
	if err := h.mayChangeOwner(edge.Context(ctx), p, o, u.ID, r); err != nil {
		return err
	}
	if err := h.r.Auth.SetOrgMember(edge.Context(ctx), o.ID, u.ID, r); err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, h.memberView(edge.Context(ctx), o, u.ID, role))
}

// memberOf resolves a member of o for p, with one answer for a user who
// is not a member and one who does not exist.
func (h *Handler) memberOf(ctx context.Context, p auth.Principal, o auth.Org, idOrLogin string) (auth.User, error) {
	if idOrLogin == "me" {
		idOrLogin = p.UserID
	}
	u, err := h.userAs(ctx, p, idOrLogin)
	if err == nil {
		_, err = h.r.Auth.OrgMember(ctx, o.ID, u.ID)
	}
	if fault.Is(err, fault.NotFound) {
		return auth.User{}, notFound("member " + idOrLogin)
	}
	return u, err
}

// mayChangeOwner checks the rules around owners: only owners (and
// platform admins) make or unmake owners, and the last owner stays.
// newRole "" means removal.
func (h *Handler) mayChangeOwner(ctx context.Context, p auth.Principal, o auth.Org, userID string, newRole auth.OrgRole) error {
	cur, err := h.r.Auth.OrgMember(ctx, o.ID, userID)
	if err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	wasOwner := err == nil && cur.Role == auth.OrgOwner
	if newRole != auth.OrgOwner && !wasOwner {
		return nil
	}
	if !p.PlatformAdmin {
		m, err := h.r.Auth.OrgMember(ctx, o.ID, p.UserID)
		if err != nil || m.Role != auth.OrgOwner {
			return forbidden("only owners may make or unmake owners")
		}
	}
	if wasOwner && newRole != auth.OrgOwner {
		owners, err := h.countOwners(ctx, o.ID, 2)
		if err != nil {
			return err
		}
		if owners < 2 {
			return fault.New("api", fault.Conflict, "an organization keeps at least one owner")
		}
	}
	return nil
}

func (h *Handler) countOwners(ctx context.Context, orgID string, max int) (int, error) {
	n := 0
	pg := auth.Page{Limit: h.opts.MaxPage}
	for {
		ms, next, err := h.r.Auth.ListOrgMembers(ctx, orgID, pg)
		if err != nil {
			return 0, err
		}
		for _, m := range ms {
			if m.Role == auth.OrgOwner {
				if n++; n == max {
					return n, nil
				}
			}
		}
		if next == "" {
			return n, nil
		}
		pg.Cursor = next
	}
}

// removeMember: DELETE /api/v1/organizations/{orgId}/members/{userId} —
// owners and admins remove anyone (owners: only owners), members
// themselves.
func (h *Handler) removeMember(ctx *fasthttp.RequestCtx) error {
	p, err := h.manager(ctx)
	if err != nil {
		return err
	}
	need := needManage
	self, err := h.userAs(edge.Context(ctx), p, param(ctx, "userId"))
	if param(ctx, "userId") == "me" || err == nil && self.ID == p.UserID {
		need = needView // leaving
	}
	o, err := h.orgOfPath(ctx, p, need)
	if err != nil {
		return err
	}
	u, err := h.memberOf(edge.Context(ctx), p, o, param(ctx, "userId"))
	noteOf(ctx).target = u.ID
	if err != nil {
		return err
	}
	if err := h.mayChangeOwner(edge.Context(ctx), p, o, u.ID, ""); err != nil {
		return err
	}
	if err := h.r.Auth.RemoveOrgMember(edge.Context(ctx), o.ID, u.ID); err != nil {
		return err
	}
	return noContent(ctx)
}
