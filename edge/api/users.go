package api

import (
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

type userRequest struct {
	Email         *string `json:"email"`
	Username      *string `json:"username"`
	DisplayName   *string `json:"displayName"`
	Password      *string `json:"password"`
	Active        *bool   `json:"active"`
	PlatformAdmin *bool   `json:"platformAdmin"`
	// CurrentPassword is required when users change their own password.
	CurrentPassword *string `json:"currentPassword"`
}

// listUsers: GET /api/v1/users (platform admins).
func (h *Handler) listUsers(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	return replyPage(h, ctx, func(pg auth.Page) ([]auth.User, string, error) {
		return h.r.Auth.ListUsers(edge.Context(ctx), pg)
	}, asIs[auth.User])
}

// createUser: POST /api/v1/users {"username","email","password",
// "displayName","platformAdmin"} (platform admins).
func (h *Handler) createUser(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	var req userRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Active != nil || req.CurrentPassword != nil {
		return invalid("active and currentPassword are not fields of a new user")
	}
	nu := auth.NewUser{Email: deref(req.Email), Username: deref(req.Username), DisplayName: deref(req.DisplayName), Password: deref(req.Password)}
	if req.PlatformAdmin != nil {
		nu.PlatformAdmin = *req.PlatformAdmin
	}
	noteOf(ctx).target = nu.Username
	u, err := h.r.Auth.CreateUser(edge.Context(ctx), nu)
	if err != nil {
		return err
	}
	noteOf(ctx).target = u.ID
	return reply(ctx, fasthttp.StatusCreated, u)
}

// userFor resolves the user of the path for p: itself, or anyone for a
// platform admin; NotFound otherwise.
func (h *Handler) pathUser(ctx *fasthttp.RequestCtx, p auth.Principal) (auth.User, error) {
	id := param(ctx, "userId")
	if id == "me" {
		id = p.UserID
	}
	u, err := h.userFor(edge.Context(ctx), id)
	if err == nil && u.ID != p.UserID && (!p.PlatformAdmin || p.TokenID != "") {
		return auth.User{}, notFound("user " + id)
	}
	if err == nil {
		noteOf(ctx).target = u.ID
	}
	return u, err
}

// getUser: GET /api/v1/users/{userId} — oneself, or anyone for a platform
// admin.
func (h *Handler) getUser(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	u, err := h.pathUser(ctx, p)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, u)
}

// updateUser: PUT /api/v1/users/{userId} — users change their own email,
// username, display name and password (with currentPassword); platform
// admins change anything of anyone, active and platformAdmin included.
func (h *Handler) updateUser(ctx *fasthttp.RequestCtx) error {
	p, err := h.signedIn(ctx)
	if err != nil {
		return err
	}
	u, err := h.pathUser(ctx, p)
	if err != nil {
		return err
	}
	var req userRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	self := u.ID == p.UserID
	if !p.PlatformAdmin && (req.Active != nil || req.PlatformAdmin != nil) {
		return forbidden("only platform administrators change active and platformAdmin")
	}
	if self && (req.Active != nil && !*req.Active || req.PlatformAdmin != nil && !*req.PlatformAdmin) {
		return fault.New("api", fault.Conflict, "you cannot deactivate yourself or drop your own platform admin role")
	}
	if req.Password != nil && !p.PlatformAdmin {
		// Someone holding a stolen session must not take the account over.
		if req.CurrentPassword == nil {
			return invalid("currentPassword is required to change your password")
		}
		_, err := h.r.Auth.Authenticate(edge.Context(ctx), auth.Credentials{Kind: auth.PasswordCredentials, Username: u.Username, Secret: *req.CurrentPassword, ClientIP: h.clientIP(ctx)})
		if fault.Is(err, fault.Unauthorized) {
			return forbidden("currentPassword is wrong")
		}
		if err != nil {
			return err
		}
	}
	if req.Email != nil && !p.PlatformAdmin && strings.Contains(*req.Email, "@") {
		// An address another account holds must not show through (an
		// email oracle): the change is answered as one made, and not made.
		// See README.md, "Email changes".
		other, err := h.r.Auth.UserByLogin(edge.Context(ctx), strings.TrimSpace(*req.Email))
		switch {
		case err == nil && other.ID != u.ID:
			req.Email = nil
			noteOf(ctx).detail = "email not changed: the address belongs to another account"
		case err != nil && !fault.Is(err, fault.NotFound):
			return err
		}
	}
	upd := auth.UserUpdate{Email: req.Email, Username: req.Username, DisplayName: req.DisplayName, Active: req.Active, PlatformAdmin: req.PlatformAdmin}
	if upd != (auth.UserUpdate{}) {
		if u, err = h.r.Auth.UpdateUser(edge.Context(ctx), u.ID, upd); err != nil {
			return err
		}
	}
	if req.Password != nil {
		// The user's other sessions end; one's own change keeps the
		// session that made it.
		keep := ""
		if self {
			keep = p.SessionID
		}
		if err := h.r.Auth.SetPassword(edge.Context(ctx), u.ID, *req.Password, keep); err != nil {
			return err
		}
		n := noteOf(ctx)
		n.detail = strings.TrimPrefix(n.detail+"; password changed", "; ")
	}
	return reply(ctx, fasthttp.StatusOK, u)
}

// deleteUser: DELETE /api/v1/users/{userId} (platform admins, not
// themselves).
func (h *Handler) deleteUser(ctx *fasthttp.RequestCtx) error {
	p, err := h.admin(ctx)
	if err != nil {
		return err
	}
	u, err := h.pathUser(ctx, p)
	if err != nil {
		return err
	}
	if u.ID == p.UserID {
		return fault.New("api", fault.Conflict, "you cannot delete yourself")
	}
	if err := h.r.Auth.DeleteUser(edge.Context(ctx), u.ID); err != nil {
		return err
	}
	return noContent(ctx)
}
