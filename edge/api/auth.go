package api

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// refreshCookie carries the refresh token for the browser: httpOnly, so no
// script reads it, SameSite=Strict and scoped to the auth endpoints, so
// that it is sent to /auth/refresh and /auth/logout only.
const (
	refreshCookie     = "entrepot_refresh"
	refreshCookiePath = Prefix + "/auth"
)

type loginRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Login    string `json:"login"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

// sessionView is what login and refresh answer.
type sessionView struct {
	AccessToken      string    `json:"accessToken"`
	RefreshToken     string    `json:"refreshToken"`
	TokenType        string    `json:"tokenType"`
	ExpiresIn        int64     `json:"expiresIn"` // seconds, of the access token
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
	User             auth.User `json:"user"`
}

// login: POST /api/v1/auth/login {"email"|"username"|"login","password"}.
func (h *Handler) login(ctx *fasthttp.RequestCtx) error {
	n := noteOf(ctx)
	var req loginRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	login := req.Email
	if login == "" {
		login = req.Username
	}
	if login == "" {
		login = req.Login
	}
	if login == "" || req.Password == "" {
		return invalid("email (or username) and password are required")
	}
	t, err := h.r.Auth.Login(clientCtx(ctx), login, req.Password, h.clientIP(ctx))
	if err != nil {
		// Name the account in the audit log only when it exists: a login
		// field may hold anything, a mistyped password included.
		if u, uerr := h.r.Auth.UserByLogin(edge.Context(ctx), login); uerr == nil {
			n.actor, n.target = u.ID, u.ID
		} else {
			n.detail = "unknown account"
		}
		if fault.Is(err, fault.RateLimited) {
			n.detail = "throttled"
		}
		return err
	}
	n.actor, n.target = t.User.ID, t.User.ID
	return h.session(ctx, t, fasthttp.StatusOK)
}

// session answers a sign-in or a refresh: the pair in JSON, and the
// refresh token again as the cookie.
func (h *Handler) session(ctx *fasthttp.RequestCtx, t auth.Tokens, status int) error {
	h.setRefreshCookie(ctx, t)
	return reply(ctx, status, sessionView{
		AccessToken:      t.AccessToken,
		RefreshToken:     t.RefreshToken,
		TokenType:        "Bearer",
		ExpiresIn:        int64(t.ExpiresIn / time.Second),
		RefreshExpiresAt: t.RefreshExpiresAt,
		User:             t.User,
	})
}

// setRefreshCookie sets the session's refresh token as the cookie.
func (h *Handler) setRefreshCookie(ctx *fasthttp.RequestCtx, t auth.Tokens) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(refreshCookie)
	c.SetValue(t.RefreshToken)
	c.SetPath(refreshCookiePath)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetExpire(t.RefreshExpiresAt)
	c.SetSecure(h.secure(ctx))
	ctx.Response.Header.SetCookie(c)
}

// secure reports whether the client reaches us over https, so that the
// cookie is marked Secure (a plain-http test server would lose it).
func (h *Handler) secure(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsTLS() {
		return true
	}
	if h.r.Base != nil {
		base := h.r.Base.For(ctx)
		return len(base) >= 8 && base[:8] == "https://"
	}
	return false
}

func (h *Handler) clearCookie(ctx *fasthttp.RequestCtx) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(refreshCookie)
	c.SetValue("")
	c.SetPath(refreshCookiePath)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetExpire(fasthttp.CookieExpireDelete)
	c.SetSecure(h.secure(ctx))
	ctx.Response.Header.SetCookie(c)
}

// refresh: POST /api/v1/auth/refresh {"refreshToken"} or the cookie.
// A refresh token presented twice revokes its session (auth.Refresh).
func (h *Handler) refresh(ctx *fasthttp.RequestCtx) error {
	n := noteOf(ctx)
	var req refreshRequest
	if err := h.decodeOptional(ctx, &req); err != nil {
		return err
	}
	tok := req.RefreshToken
	if tok == "" {
		tok = string(ctx.Request.Header.Cookie(refreshCookie))
	}
	if tok == "" {
		return fault.New("api", fault.Unauthorized, "a refresh token is required (body or cookie)")
	}
	t, err := h.r.Auth.Refresh(edge.Context(ctx), tok)
	if err != nil {
		h.clearCookie(ctx)
		n.detail = "refresh refused"
		return err
	}
	// Routine refreshes are not state changes worth a record; failures
	// (a replayed token revokes its session) are.
	n.skip = true
	return h.session(ctx, t, fasthttp.StatusOK)
}

// logout: POST /api/v1/auth/logout, with the access token of the session
// to end. Its access tokens stop working at once.
func (h *Handler) logout(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	if p.SessionID == "" {
		return invalid("logout ends a session: call it with the access token of one")
	}
	noteOf(ctx).target = p.SessionID
	if err := h.r.Auth.Logout(edge.Context(ctx), p.SessionID); err != nil {
		return err
	}
	h.clearCookie(ctx)
	return noContent(ctx)
}

// sessionInfo is a sign-in session as GET /auth/sessions lists it, without
// its refresh token id.
type sessionInfo struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	ExpiresAt  time.Time `json:"expiresAt"`
	ClientIP   string    `json:"clientIp,omitempty"`
	UserAgent  string    `json:"userAgent,omitempty"`
	Current    bool      `json:"current"`
}

// sessions: GET /api/v1/auth/sessions — the caller's live sessions, the
// one of the access token marked current.
func (h *Handler) sessions(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	list, err := h.r.Auth.ListSessions(edge.Context(ctx), p.UserID)
	if err != nil {
		return err
	}
	out := make([]sessionInfo, 0, len(list))
	for _, v := range list {
		out = append(out, sessionInfo{
			ID: v.ID, CreatedAt: v.CreatedAt, LastUsedAt: v.LastUsedAt, ExpiresAt: v.ExpiresAt,
			ClientIP: v.ClientIP, UserAgent: v.UserAgent, Current: v.ID == p.SessionID,
		})
	}
	return reply(ctx, fasthttp.StatusOK, page(out, ""))
}

// endSessions: DELETE /api/v1/auth/sessions — sign out everywhere, the
// calling session included.
func (h *Handler) endSessions(ctx *fasthttp.RequestCtx) error {
	p, err := h.signedIn(ctx)
	if err != nil {
		return err
	}
	noteOf(ctx).target = p.UserID
	n, err := h.r.Auth.EndSessions(edge.Context(ctx), p.UserID, "")
	if err != nil {
		return err
	}
	noteOf(ctx).detail = strconv.Itoa(n) + " sessions ended"
	if p.SessionID != "" {
		h.clearCookie(ctx)
	}
	return noContent(ctx)
}

// endSession: DELETE /api/v1/auth/sessions/{sessionId} — end one of the
// caller's sessions; another user's is not found.
func (h *Handler) endSession(ctx *fasthttp.RequestCtx) error {
	p, err := h.signedIn(ctx)
	if err != nil {
		return err
	}
	id := param(ctx, "sessionId")
	noteOf(ctx).target = id
	if err := h.r.Auth.EndSession(edge.Context(ctx), p.UserID, id); err != nil {
		if fault.Is(err, fault.NotFound) {
			return notFound("session " + id)
		}
		return err
	}
	if id == p.SessionID {
		h.clearCookie(ctx)
	}
	return noContent(ctx)
}

type meView struct {
	User          auth.User    `json:"user"`
	Organizations []memberView `json:"organizations"`
	Method        string       `json:"method"` // session, token or password
	SessionID     string       `json:"sessionId,omitempty"`
	Token         *auth.Token  `json:"token,omitempty"`
}

// me: GET /api/v1/auth/me — the caller, its organizations and how it
// signed in.
func (h *Handler) me(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	u, err := h.r.Auth.GetUser(edge.Context(ctx), p.UserID)
	if err != nil {
		return err
	}
	v := meView{User: u, Organizations: []memberView{}, Method: "password", SessionID: p.SessionID}
	switch {
	case p.TokenID != "":
		v.Method = "token"
		if t, err := h.r.Auth.GetToken(edge.Context(ctx), p.TokenID); err == nil {
			v.Token = &t
		}
	case p.SessionID != "":
		v.Method = "session"
	}
	pg := auth.Page{Limit: h.opts.MaxPage}
	for {
		ms, next, err := h.r.Auth.UserOrgs(edge.Context(ctx), p.UserID, pg)
		if err != nil {
			return err
		}
		for _, m := range ms {
			mv := memberView{OrgID: m.OrgID, UserID: m.UserID, Role: string(m.Role)}
			if o, err := h.r.Auth.GetOrg(edge.Context(ctx), m.OrgID); err == nil {
				mv.OrgName = o.Name
			}
			v.Organizations = append(v.Organizations, mv)
		}
		if next == "" {
			break
		}
		pg.Cursor = next
	}
	return reply(ctx, fasthttp.StatusOK, v)
}
