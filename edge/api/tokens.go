package api

import (
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

type tokenRequest struct {
	Name          string     `json:"name"`
	Protocols     []string   `json:"protocols"`
	Actions       []string   `json:"actions"`
	Organizations []string   `json:"organizations"`
	ExpiresAt     *time.Time `json:"expiresAt"`
}

// createdToken is the one answer that holds a token's secret.
type createdToken struct {
	auth.Token
	Secret string `json:"token"`
}

// listTokens: GET /api/v1/tokens — the caller's tokens (a platform admin
// may ask for another user's with ?user=).
func (h *Handler) listTokens(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	owner := p.UserID
	if s := query(ctx, "user"); s != "" {
		u, err := h.userFor(edge.Context(ctx), s)
		if err != nil {
			return err
		}
		if u.ID != p.UserID && (!p.PlatformAdmin || p.TokenID != "") {
			return notFound("user " + s)
		}
		owner = u.ID
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.Token, string, error) {
		return h.r.Auth.ListTokens(edge.Context(ctx), owner, pg)
	}, asIs[auth.Token])
}

// createToken: POST /api/v1/tokens {"name","protocols","actions",
// "organizations","expiresAt"} — answers the token with its srg_ secret,
// shown this once. actions may hold manage (a management token) when the
// caller is a platform admin or an owner of every organization named.
// A management token may create tokens too, within its own scopes.
func (h *Handler) createToken(ctx *fasthttp.RequestCtx) error {
	p, err := h.manager(ctx)
	if err != nil {
		return err
	}
	var req tokenRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	nt := auth.NewToken{Name: req.Name, Protocols: req.Protocols, Actions: req.Actions, Organizations: req.Organizations}
	if req.ExpiresAt != nil {
		nt.ExpiresAt = *req.ExpiresAt
	}
	if p.TokenID != "" {
		if err := h.narrower(ctx, p, &nt); err != nil {
			return err
		}
	}
	t, secret, err := h.r.Auth.CreateToken(edge.Context(ctx), p.UserID, nt)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	n.target, n.detail = t.ID, "name "+t.Name
	return reply(ctx, fasthttp.StatusCreated, createdToken{Token: t, Secret: secret})
}

// revokeToken: DELETE /api/v1/tokens/{tokenId} — one's own, or anyone's
// for a platform admin. A token may revoke itself.
func (h *Handler) revokeToken(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	id := param(ctx, "tokenId")
	noteOf(ctx).target = id
	t, err := h.r.Auth.GetToken(edge.Context(ctx), id)
	if fault.Is(err, fault.NotFound) || err == nil && t.OwnerID != p.UserID && !p.PlatformAdmin {
		return notFound("token " + id)
	}
	if err != nil {
		return err
	}
	if p.TokenID != "" && p.TokenID != t.ID {
		return forbidden("an API token may revoke only itself; sign in to manage other tokens")
	}
	if err := h.r.Auth.RevokeToken(edge.Context(ctx), t.ID); err != nil {
		return err
	}
	return noContent(ctx)
}

// narrower confines a token that a management token p creates to p's own
// scopes: some of its organizations (all when none are named), its
// protocols, and no later expiry. A token minted by a token must never
// outlive or outreach it.
func (h *Handler) narrower(ctx *fasthttp.RequestCtx, p auth.Principal, nt *auth.NewToken) error {
	sc := p.Scopes
	if len(nt.Organizations) == 0 {
		nt.Organizations = sc.Organizations
	}
	for _, o := range nt.Organizations {
		org, err := h.r.Auth.GetOrg(edge.Context(ctx), o)
		if err != nil || !contains(sc.Organizations, org.ID) {
			return forbidden("a token created with a token names only that token's organizations")
		}
	}
	if len(sc.Protocols) > 0 {
		if len(nt.Protocols) == 0 {
			nt.Protocols = sc.Protocols
		}
		for _, pr := range nt.Protocols {
			if !contains(sc.Protocols, pr) {
				return forbidden("a token created with a token names only that token's protocols")
			}
		}
	}
	if !sc.ExpiresAt.IsZero() && (nt.ExpiresAt.IsZero() || nt.ExpiresAt.After(sc.ExpiresAt)) {
		nt.ExpiresAt = sc.ExpiresAt
	}
	return nil
}
