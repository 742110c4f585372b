package api

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// Membership takes consent: an organization's owners and admins invite,
// the invited user accepts (or declines), and only platform admins add
// members directly. The answer to an invitation is the same whether or
// not an account has the username or email it names (auth.Invitation).

// invitationRequest is the body of POST /organizations/{orgId}/invitations:
// one of username and email.
type invitationRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Role     string `json:"role"`
}

// invitationView is an invitation as the API shows it.
type invitationView struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"orgId"`
	OrgName   string    `json:"orgName,omitempty"`
	Invitee   string    `json:"invitee"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invitedBy,omitempty"` // username
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (h *Handler) invitationView(ctx context.Context, o auth.Org, inv auth.Invitation) invitationView {
	return invitationView{ID: inv.ID, OrgID: inv.OrgID, OrgName: o.Name, Invitee: inv.Invitee, Role: string(inv.Role),
		InvitedBy: h.username(ctx, inv.InvitedBy), CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt}
}

// createInvitation: POST /api/v1/organizations/{orgId}/invitations
// {"username" or "email","role"} — owners and admins invite; only owners
// invite owners. 201 with the invitation whether or not the account
// exists; 409 while the invitee has one pending here.
func (h *Handler) createInvitation(ctx *fasthttp.RequestCtx) error {
	p, o, err := h.pathOrg(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	var req invitationRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	invitee := req.Username
	if (req.Username == "") == (req.Email == "") {
		return invalid("name the invitee with one of username and email")
	}
	if req.Email != "" {
		invitee = req.Email
	}
	role := auth.OrgRole(req.Role)
	if role == "" {
		role = auth.OrgMember
	}
	n.detail = "role " + string(role)
	if role == auth.OrgOwner && !p.PlatformAdmin {
		if m, err := h.r.Auth.OrgMember(edge.Context(ctx), o.ID, p.UserID); err != nil || m.Role != auth.OrgOwner {
			return forbidden("only owners may invite owners")
		}
	}
	inv, err := h.r.Auth.Invite(edge.Context(ctx), auth.Invitation{OrgID: o.ID, Invitee: invitee, Role: role, InvitedBy: p.UserID})
	if err != nil {
		return err
	}
	n.target = inv.ID + " " + inv.Invitee
	return reply(ctx, fasthttp.StatusCreated, h.invitationView(edge.Context(ctx), o, inv))
}

// listOrgInvitations: GET /api/v1/organizations/{orgId}/invitations — for
// owners and admins.
func (h *Handler) listOrgInvitations(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.user, needManage)
	if err != nil {
		return err
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.Invitation, string, error) {
		return h.r.Auth.OrgInvitations(edge.Context(ctx), o.ID, pg)
	}, func(inv auth.Invitation) invitationView { return h.invitationView(edge.Context(ctx), o, inv) })
}

// revokeInvitation: DELETE /api/v1/organizations/{orgId}/invitations/{invitationId}.
func (h *Handler) revokeInvitation(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.manager, needManage)
	n := takenNote(ctx)
	n.target = param(ctx, "invitationId")
	if err != nil {
		return err
	}
	inv, err := h.r.Auth.GetInvitation(edge.Context(ctx), param(ctx, "invitationId"))
	if err != nil || inv.OrgID != o.ID {
		return notFound("invitation " + param(ctx, "invitationId"))
	}
	n.target = inv.ID + " " + inv.Invitee
	if err := h.r.Auth.DeleteInvitation(edge.Context(ctx), inv.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

// myInvitations: GET /api/v1/auth/invitations — the invitations addressed
// to the caller's username or email.
func (h *Handler) myInvitations(ctx *fasthttp.RequestCtx) error {
	u, err := h.account(ctx, h.user)
	if err != nil {
		return err
	}
	invs, err := h.r.Auth.InvitationsFor(edge.Context(ctx), u)
	if err != nil {
		return err
	}
	out := make([]invitationView, 0, len(invs))
	for _, inv := range invs {
		o, err := h.r.Auth.GetOrg(edge.Context(ctx), inv.OrgID)
		if fault.Is(err, fault.NotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		out = append(out, h.invitationView(edge.Context(ctx), o, inv))
	}
	return reply(ctx, fasthttp.StatusOK, page(out, ""))
}

// acceptInvitation: POST /api/v1/auth/invitations/{invitationId}/accept —
// the caller joins the organization with the invitation's role. 404 for an
// invitation that is not the caller's.
func (h *Handler) acceptInvitation(ctx *fasthttp.RequestCtx) error {
	u, err := h.account(ctx, h.signedIn)
	if err != nil {
		return err
	}
	inv, err := h.r.Auth.AcceptInvitation(edge.Context(ctx), param(ctx, "invitationId"), u)
	n := noteOf(ctx)
	n.target, n.org = u.ID, inv.OrgID
	if fault.Is(err, fault.NotFound) {
		return notFound("invitation " + param(ctx, "invitationId"))
	}
	if err != nil {
		return err
	}
	n.detail = "invitation " + inv.ID + ", role " + string(inv.Role)
	o, err := h.r.Auth.GetOrg(edge.Context(ctx), inv.OrgID)
	if err != nil {
		return err
	}
	m, err := h.r.Auth.OrgMember(edge.Context(ctx), o.ID, u.ID)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, h.memberView(edge.Context(ctx), o, u.ID, string(m.Role)))
}

// declineInvitation: DELETE /api/v1/auth/invitations/{invitationId}.
func (h *Handler) declineInvitation(ctx *fasthttp.RequestCtx) error {
	u, err := h.account(ctx, h.signedIn)
	if err != nil {
		return err
	}
	inv, err := h.r.Auth.GetInvitation(edge.Context(ctx), param(ctx, "invitationId"))
	if err != nil || !inv.For(u) {
		return notFound("invitation " + param(ctx, "invitationId"))
	}
	n := noteOf(ctx)
	n.target, n.org = inv.ID+" "+inv.Invitee, inv.OrgID
	if err := h.r.Auth.DeleteInvitation(edge.Context(ctx), inv.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

// account returns the user of the principal who (h.user or h.manager)
// returns.
func (h *Handler) account(ctx *fasthttp.RequestCtx, who func(*fasthttp.RequestCtx) (auth.Principal, error)) (auth.User, error) {
	p, err := who(ctx)
	if err != nil {
		return auth.User{}, err
	}
	return h.r.Auth.GetUser(edge.Context(ctx), p.UserID)
}
