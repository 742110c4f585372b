package api

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/auth/ldap"
	"entrepot/auth/oidc"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// External identity: the providers platform admins manage, LDAP sign-in
// and the OIDC authorization code flow. The protocols and the accounts are
// auth's (auth.Service's providers, auth/ldap, auth/oidc); this file
// carries requests, cookies and redirects.

// oidcCookie holds the sealed state of an OIDC sign-in between authorize
// and callback. SameSite=Lax: the callback is a top-level navigation from
// the provider's site, which a Strict cookie would miss.
const (
	oidcCookie     = "entrepot_oidc"
	oidcCookiePath = Prefix + "/auth/oauth"
)

// idpTimeout bounds a sign-in's or a check's calls to a directory or a
// provider.
const idpTimeout = 20 * time.Second

// providerRequest is the body of POST and PUT /admin/auth/providers.
type providerRequest struct {
	Name    string             `json:"name"`
	Type    string             `json:"type"`
	Enabled *bool              `json:"enabled"`
	LDAP    *ldap.Config       `json:"ldap"`
	OIDC    *oidc.Config       `json:"oidc"`
	Mapping []auth.MappingRule `json:"mapping"`
}

func (r providerRequest) provider(enabled bool) auth.Provider {
	if r.Enabled != nil {
		enabled = *r.Enabled
	}
	return auth.Provider{Name: r.Name, Type: r.Type, Enabled: enabled, LDAP: r.LDAP, OIDC: r.OIDC, Mapping: r.Mapping}
}

// listProviders: GET /api/v1/admin/auth/providers — every provider,
// without secrets.
func (h *Handler) listProviders(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	ps, err := h.r.Auth.ListProviders(edge.Context(ctx))
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, page(ps, ""))
}

// createProvider: POST /api/v1/admin/auth/providers.
func (h *Handler) createProvider(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	var req providerRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	n := noteOf(ctx)
	n.detail = req.Type + " " + req.Name
	p, err := h.r.Auth.CreateProvider(edge.Context(ctx), req.provider(true))
	if err != nil {
		return err
	}
	n.target = p.ID
	return reply(ctx, fasthttp.StatusCreated, p)
}

// getProvider: GET /api/v1/admin/auth/providers/{providerId}.
func (h *Handler) getProvider(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	p, err := h.r.Auth.GetProvider(edge.Context(ctx), param(ctx, "providerId"))
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, p)
}

// updateProvider: PUT /api/v1/admin/auth/providers/{providerId} — the
// whole document; an empty secret keeps the stored one, an absent
// "enabled" keeps the current state.
func (h *Handler) updateProvider(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	id := param(ctx, "providerId")
	noteOf(ctx).target = id
	cur, err := h.r.Auth.GetProvider(edge.Context(ctx), id)
	if err != nil {
		return err
	}
	var req providerRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Type == "" {
		req.Type = cur.Type
	}
	p, err := h.r.Auth.UpdateProvider(edge.Context(ctx), id, req.provider(cur.Enabled))
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, p)
}

// deleteProvider: DELETE /api/v1/admin/auth/providers/{providerId} —
// disables it: its users' accounts and links stay.
func (h *Handler) deleteProvider(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	id := param(ctx, "providerId")
	noteOf(ctx).target = id
	if _, err := h.r.Auth.DisableProvider(edge.Context(ctx), id); err != nil {
		return err
	}
	return noContent(ctx)
}

type providerCheck struct {
	OK    bool             `json:"ok"`
	Steps []auth.CheckStep `json:"steps"`
}

// testProvider: POST /api/v1/admin/auth/providers/{providerId}/test — a
// real connection check; 200 whatever its outcome, which "ok" and the
// failed step tell.
func (h *Handler) testProvider(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	id := param(ctx, "providerId")
	n := noteOf(ctx)
	n.target = id
	c, cancel := context.WithTimeout(edge.Context(ctx), idpTimeout)
	defer cancel()
	ok, steps, err := h.r.Auth.TestProvider(c, id)
	if err != nil {
		return err
	}
	if !ok && len(steps) > 0 {
		last := steps[len(steps)-1]
		n.detail = "check failed at " + last.Step + ": " + last.Detail
	}
	return reply(ctx, fasthttp.StatusOK, providerCheck{OK: ok, Steps: steps})
}

// providerView is a provider as anyone may see it: what the sign-in page
// needs.
type providerView struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // oidc, ldap
	Type     string `json:"type"` // the same
	Name     string `json:"name"`
	LoginURL string `json:"loginUrl"` // POST (ldap) or navigate to (oidc)
}

// providers: GET /api/v1/auth/providers — the enabled providers, public
// fields only.
func (h *Handler) providers(ctx *fasthttp.RequestCtx) error {
	ps, err := h.r.Auth.ListProviders(edge.Context(ctx))
	if err != nil {
		return err
	}
	out := []providerView{}
	for _, p := range ps {
		if !p.Enabled {
			continue
		}
		v := providerView{ID: p.ID, Kind: p.Type, Type: p.Type, Name: p.Name}
		if p.Type == auth.ProviderLDAP {
			v.LoginURL = Prefix + "/auth/ldap/" + url.PathEscape(p.ID) + "/login"
		} else {
			v.LoginURL = Prefix + "/auth/oauth/" + url.PathEscape(p.ID) + "/authorize"
		}
		out = append(out, v)
	}
	return reply(ctx, fasthttp.StatusOK, page(out, ""))
}

type ldapLoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// ldapLogin: POST /api/v1/auth/ldap/{providerId}/login
// {"username","password"} — answers like /auth/login (the same JSON and
// refresh cookie).
func (h *Handler) ldapLogin(ctx *fasthttp.RequestCtx) error {
	n := noteOf(ctx)
	id := param(ctx, "providerId")
	n.target = id
	var req ldapLoginRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return invalid("username and password are required")
	}
	c, cancel := context.WithTimeout(edge.Context(ctx), idpTimeout)
	defer cancel()
	res, err := h.r.Auth.SignInLDAP(c, id, req.Username, req.Password, h.clientIP(ctx))
	if err != nil {
		n.detail = "ldap user " + req.Username + ": " + fault.Message(err)
		if fault.Is(err, fault.RateLimited) {
			n.detail = "ldap user " + req.Username + ": throttled"
		}
		if fault.Is(err, fault.Conflict) {
			return fault.WrapMsg("api.ldapLogin", fault.Unauthorized, "invalid credentials", err)
		}
		return err
	}
	n.actor = res.User.ID
	n.detail = res.Detail(h.r.Auth.ProviderName(edge.Context(ctx), id))
	t, err := h.r.Auth.OpenSession(clientCtx(ctx), res.User.ID, h.clientIP(ctx))
	if err != nil {
		return err
	}
	return h.session(ctx, t, fasthttp.StatusOK)
}

// callbackURL is the redirect URI the OIDC provider must know for
// provider id.
func (h *Handler) callbackURL(ctx *fasthttp.RequestCtx, id string) string {
	base := ""
	if h.r.Base != nil {
		base = h.r.Base.For(ctx)
	}
	return base + Prefix + "/auth/oauth/" + url.PathEscape(id) + "/callback"
}

// oauthAuthorize: GET /api/v1/auth/oauth/{providerId}/authorize — starts
// the authorization code flow: the sealed flow in a cookie, and a
// redirect to the provider.
func (h *Handler) oauthAuthorize(ctx *fasthttp.RequestCtx) error {
	id := param(ctx, "providerId")
	c, cancel := context.WithTimeout(edge.Context(ctx), idpTimeout)
	defer cancel()
	to, sealed, err := h.r.Auth.BeginOIDC(c, id, h.callbackURL(ctx, id))
	if err != nil {
		return err
	}
	h.setOIDCCookie(ctx, sealed, 10*time.Minute)
	ctx.Response.Header.Set("Location", to)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(fasthttp.StatusFound)
	return nil
}

func (h *Handler) setOIDCCookie(ctx *fasthttp.RequestCtx, v string, ttl time.Duration) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(oidcCookie)
	c.SetValue(v)
	c.SetPath(oidcCookiePath)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	if ttl > 0 {
		c.SetMaxAge(int(ttl / time.Second))
	} else {
		c.SetExpire(fasthttp.CookieExpireDelete)
	}
	c.SetSecure(h.secure(ctx))
	ctx.Response.Header.SetCookie(c)
}

// oauthCallback: GET /api/v1/auth/oauth/{providerId}/callback — the
// provider's answer: state checked against the cookie, code redeemed with
// the PKCE verifier, ID token validated; then a session (the refresh
// cookie) and a redirect to the dashboard, whose POST /auth/refresh gets
// the access token.
func (h *Handler) oauthCallback(ctx *fasthttp.RequestCtx) error {
	n := noteOf(ctx)
	id := param(ctx, "providerId")
	n.target = id
	sealed := string(ctx.Request.Header.Cookie(oidcCookie))
	h.setOIDCCookie(ctx, "", 0) // one use, whatever happens
	if e := query(ctx, "error"); e != "" {
		msg := "the provider refused the sign-in: " + clip(e, 64)
		if d := query(ctx, "error_description"); d != "" {
			msg += " (" + clip(d, 200) + ")"
		}
		return fault.New("api.oauthCallback", fault.Unauthorized, msg)
	}
	c, cancel := context.WithTimeout(edge.Context(ctx), idpTimeout)
	defer cancel()
	p, res, err := h.r.Auth.FinishOIDC(c, id, h.callbackURL(ctx, id), query(ctx, "code"), query(ctx, "state"), sealed)
	if err != nil {
		n.actor = res.User.ID
		if fault.Is(err, fault.Conflict) {
			return fault.WrapMsg("api.oauthCallback", fault.Unauthorized, fault.Message(err), err)
		}
		return err
	}
	n.actor = res.User.ID
	n.detail = res.Detail(p.Name)
	t, err := h.r.Auth.OpenSession(clientCtx(ctx), res.User.ID, h.clientIP(ctx))
	if err != nil {
		return err
	}
	h.setRefreshCookie(ctx, t)
	base := ""
	if h.r.Base != nil {
		base = h.r.Base.For(ctx)
	}
	ctx.Response.Header.Set("Location", base+"/")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(fasthttp.StatusFound)
	return nil
}

// clip bounds a provider-supplied string and keeps it printable.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// idpSchemas are the OpenAPI schemas of this file's endpoints.
func idpSchemas(o func([]string, obj) obj, enum func(...string) obj) obj {
	str, boolean := obj{"type": "string"}, obj{"type": "boolean"}
	tm := obj{"type": "string", "format": "date-time"}
	ldapCfg := o([]string{"url", "baseDn"}, obj{
		"url": obj{"type": "string", "description": "ldap://host:389 or ldaps://host:636"}, "bindDn": str,
		"bindPassword": obj{"type": "string", "description": "write-only: stored encrypted, never returned"},
		"baseDn":       str, "userFilter": obj{"type": "string", "description": "with {username}; default (uid={username})"},
		"usernameAttribute": str, "emailAttribute": str, "displayNameAttribute": str,
		"groupBaseDn": str, "groupFilter": obj{"type": "string", "description": "with {dn}; default (|(member={dn})(uniqueMember={dn}))"},
		"startTls": boolean, "caCert": obj{"type": "string", "description": "PEM"}, "insecureSkipVerify": boolean,
		"emailVerified": obj{"type": "boolean", "description": "the directory's emails are verified: link to existing accounts by email"},
	})
	oidcCfg := o([]string{"issuer", "clientId"}, obj{
		"issuer": str, "clientId": str,
		"clientSecret":  obj{"type": "string", "description": "write-only: stored encrypted, never returned"},
		"scopes":        obj{"type": "array", "items": str},
		"usernameClaim": obj{"type": "string", "description": "default preferred_username"},
	})
	rule := o([]string{"organization"}, obj{
		"claim": obj{"type": "string", "description": "OIDC claim name"}, "value": str,
		"group":        obj{"type": "string", "description": "LDAP group DN"},
		"organization": str, "role": enum("owner", "admin", "member"), "team": str, "teamRole": enum("maintainer", "member"),
	})
	mapping := obj{"type": "array", "items": rule}
	return obj{
		"Provider": o([]string{"id", "kind", "type", "name", "loginUrl"}, obj{
			"id": str, "kind": enum("oidc", "ldap"), "type": enum("oidc", "ldap"), "name": str,
			"loginUrl": obj{"type": "string", "description": "POST {username,password} here (ldap), or send the browser here (oidc)"},
		}),
		"LDAPLoginRequest": o([]string{"username", "password"}, obj{"username": str, "password": str}),
		"ProviderRequest": o([]string{"name", "type"}, obj{
			"name": str, "type": enum("ldap", "oidc"), "enabled": boolean, "ldap": ldapCfg, "oidc": oidcCfg, "mapping": mapping,
		}),
		"ProviderDocument": o([]string{"id", "name", "type", "enabled", "mapping"}, obj{
			"id": str, "name": str, "type": enum("ldap", "oidc"), "enabled": boolean, "ldap": ldapCfg, "oidc": oidcCfg,
			"mapping": mapping, "secretSet": obj{"type": "boolean", "description": "a bind password or client secret is stored"},
			"createdAt": tm, "updatedAt": tm,
		}),
		"ProviderCheck": o([]string{"ok", "steps"}, obj{
			"ok": boolean,
			"steps": obj{"type": "array", "items": o([]string{"step", "ok"}, obj{
				"step": str, "ok": boolean, "detail": str,
			})},
		}),
	}
}
