// Package api is Entrepot's REST management API, mounted under /api/v1:
// sign-in and sessions, users, organizations with their members, teams and
// namespace claims, repositories and their permissions, hosted packages, API tokens, the
// audit log and the platform settings.
//
// Every endpoint is one row of the route table (routes.go). The router
// registrations and the OpenAPI document served at /api/v1/openapi.json
// are both built from that table, so that neither can drift from the other.
//
// The API is built on the auth package, which decides who is calling and
// what they may do; this package turns requests into calls of auth.Service
// and hosted.Catalog and their answers into JSON. Its conventions:
//
//   - Errors are {"error":{"code","message","requestId"}} (edge.RenderJSON):
//     401 without (valid) credentials, 403 without the permission, 404 for
//     what the caller may not see, 422 for invalid input, 409 for conflicts,
//     429 with Retry-After while sign-in is throttled.
//   - Lists answer {"items":[...],"nextCursor":"..."} and take limit and
//     cursor; the cursor is opaque.
//   - An organization's name works wherever its id is asked; a user's
//     username works wherever a user id is asked.
//   - Managing needs a signed-in session (a Bearer access token from
//     /auth/login) or a management token: an API token (srg_) whose
//     actions hold manage, which a platform admin or an organization's
//     owner creates for named organizations; it manages those only
//     (repositories, teams, members, claims, invitations, tokens for
//     them), never the platform, accounts or other organizations, and
//     every call made with it is audited with its id (actorTokenId).
//     Every API call with a token re-reads it from the store, so that
//     revocation is immediate on every edge. Other tokens only read and
//     delete packages within their scopes, and Basic credentials, which
//     a browser replays on its own (CSRF), only read (GET /auth/me).
//   - A request body is JSON and says so (Content-Type application/json,
//     parameters allowed): anything else is 415, so that no cross-site
//     form can post to the API without a CORS preflight.
//   - Every state change, and every sign-in, is written to the audit log.
package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/policy"
	"entrepot/hosted"
	"entrepot/hosted/cleanup"
	"entrepot/hosted/fault"
)

// Prefix is the path the API is mounted under: Mount expects a Group with
// this prefix.
const Prefix = "/api/v1"

// Options tunes the API. The zero value is ready to use.
type Options struct {
	// BodyLimit bounds a request's JSON body; default 1 MiB.
	BodyLimit int64
	// DefaultPage and MaxPage bound list pages; defaults 100 and
	// hosted.MaxPage.
	DefaultPage, MaxPage int
	// Claims holds, by protocol, the rules of explicit namespace claims
	// (POST /organizations/{orgId}/claims): cmd/entrepot passes each
	// protocol package's NormalizeClaim. A protocol without a rule takes
	// no explicit claims.
	Claims map[string]ClaimRule
	// Protocols are the package protocols, as cmd/entrepot's protocol
	// table lists them: what repositories, claims and package filters
	// may name (the OpenAPI document's enums), and what GET /protocols
	// tells the dashboard.
	Protocols []Protocol
	// Cleanup keeps and applies the repositories' cleanup policies
	// (/repositories/{repoId}/cleanup); nil answers those routes 503.
	Cleanup *cleanup.Runner
	// Policy keeps the supply-chain policy rules (/policies); nil answers
	// those routes 503.
	Policy *policy.Engine
}

// Protocol is one package protocol as the API tells it (GET /protocols).
type Protocol struct {
	Name  string `json:"name"`  // as repositories, token scopes and claims name it: "npm"
	Title string `json:"title"` // as people read it: "npm", "PyPI"
	// Prefix is the path it is mounted under ("/npm", "" for OCI's /v2),
	// or will be while Served is false (a protocol not served yet).
	Prefix string `json:"prefix"`
	Served bool   `json:"served"`
}

// Handler serves the management API. Create it with New and register it
// with Mount. It is safe for concurrent use.
type Handler struct {
	r        *edge.Registry
	opts     Options
	names    []string // of opts.Protocols
	settings *settings
	routes   []route
	openapi  []byte
}

// New returns the API over r. It loads the platform settings from the
// metadata store and applies them to r (anonymous mirror reads); a store
// that cannot be read leaves the defaults in force, logged.
func New(r *edge.Registry, opts Options) *Handler {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 1 << 20
	}
	if opts.MaxPage <= 0 || opts.MaxPage > hosted.MaxPage {
		opts.MaxPage = hosted.MaxPage
	}
	if opts.DefaultPage <= 0 || opts.DefaultPage > opts.MaxPage {
		opts.DefaultPage = min(100, opts.MaxPage)
	}
	h := &Handler{r: r, opts: opts}
	for _, p := range opts.Protocols {
		h.names = append(h.names, p.Name)
	}
	if r.Auth != nil {
		r.Auth.SetAuditor(r.Audit) // external sign-ins inside Authenticate (LDAP Basic credentials)
	}
	h.settings = newSettings(r)
	if r.Catalog != nil {
		r.OnChange(h.settings.changed)
	}
	h.routes = h.table()
	h.openapi = mustJSON(h.openAPI())
	return h
}

// Mount registers every route of the table on g, a Group with Prefix.
func (h *Handler) Mount(g *edge.Group) {
	for _, rt := range h.routes {
		g.Handle(rt.method, rt.path, edge.Route{Protocol: "api", Name: rt.name}, h.adapt(rt))
	}
}

// known reports whether protocol is one of Options.Protocols; without
// them, as auth does, any name is.
func (h *Handler) known(protocol string) bool {
	return protocol != "" && (h.names == nil || contains(h.names, protocol))
}

// principalKey holds the caller once the API authenticated it, for audit.
const principalKey = "api.principal"

// adapt wraps a route's handler with what every API endpoint shares:
// invalid input answered as 422, the Bearer challenge on 401, Retry-After
// on 429, and the audit record of a state change.
func (h *Handler) adapt(rt route) edge.HandlerFunc {
	return func(ctx *fasthttp.RequestCtx) error {
		err := jsonBody(ctx)
		if err == nil {
			err = rt.h(ctx)
		}
		if rt.audit != "" {
			h.audit(ctx, rt.audit, err)
		}
		if err == nil {
			return nil
		}
		var se *edge.StatusError
		switch k := fault.KindOf(err); {
		case errors.As(err, &se):
		case k == fault.Invalid:
			err = edge.WithStatus(fasthttp.StatusUnprocessableEntity, err)
		case k == fault.Unauthorized:
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="entrepot"`)
		}
		return err
	}
}

// jsonBody refuses a request body that is not declared as JSON. A
// browser sends a cross-site form (urlencoded, multipart, text/plain)
// without asking the server first; JSON it can only send after a CORS
// preflight, which the API never grants.
func jsonBody(ctx *fasthttp.RequestCtx) error {
	// A length, or -1 for chunked; no length at all (-2) is no body.
	if n := ctx.Request.Header.ContentLength(); n == 0 || n < -1 {
		return nil
	}
	ct := string(ctx.Request.Header.ContentType())
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	return edge.WithStatus(fasthttp.StatusUnsupportedMediaType,
		fault.Newf("api", fault.Invalid, "the request body must be JSON, sent with Content-Type: application/json (got %q)", ct))
}

// who returns the caller, anonymous included; bad credentials are
// Unauthorized.
func (h *Handler) who(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, err := h.r.Who(ctx)
	if err != nil {
		return p, err
	}
	if p.TokenID != "" {
		if p, err = h.current(ctx, p); err != nil {
			return p, err
		}
	}
	ctx.SetUserValue(principalKey, p)
	return p, nil
}

// current re-reads an API token and its owner from the store. The
// package protocols trust their credential cache and the change feed;
// the management API does not, so that a revoked or narrowed token, or a
// deactivated owner, stops managing at once on every edge.
func (h *Handler) current(ctx *fasthttp.RequestCtx, p auth.Principal) (auth.Principal, error) {
	t, err := h.r.Auth.GetToken(edge.Context(ctx), p.TokenID)
	if fault.Is(err, fault.NotFound) || err == nil && t.OwnerID != p.UserID {
		return auth.Principal{}, fault.New("api", fault.Unauthorized, "the API token was revoked")
	}
	if err != nil {
		return auth.Principal{}, err
	}
	if !t.ExpiresAt.IsZero() && !time.Now().Before(t.ExpiresAt) {
		return auth.Principal{}, fault.New("api", fault.Unauthorized, "the API token has expired")
	}
	u, err := h.r.Auth.GetUser(edge.Context(ctx), t.OwnerID)
	if fault.Is(err, fault.NotFound) || err == nil && !u.Active {
		return auth.Principal{}, fault.New("api", fault.Unauthorized, "the API token's owner is not active")
	}
	if err != nil {
		return auth.Principal{}, err
	}
	p.Username, p.PlatformAdmin, p.Scopes = u.Username, u.PlatformAdmin, t.Scopes()
	return p, nil
}

// user returns the authenticated caller: Unauthorized when anonymous.
func (h *Handler) user(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, err := h.who(ctx)
	if err == nil && p.Anonymous() {
		err = fault.New("api", fault.Unauthorized, "authentication required")
	}
	return p, err
}

// manager returns the caller when it may manage things at all: signed in
// with a session, or holding a management token (one whose actions hold
// manage), which orgFor and Authorize then confine to the token's
// organizations. Other API tokens never manage, and a password sent as
// Basic credentials is what a browser replays to any site that asks
// (CSRF): both are Forbidden here.
func (h *Handler) manager(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, err := h.user(ctx)
	switch {
	case err != nil:
	case p.TokenID != "" && (p.Scopes == nil || p.Scopes.Actions&auth.Manage == 0):
		err = fault.New("api", fault.Forbidden, "this API token cannot manage: sign in (POST /api/v1/auth/login), or create a token with the manage action for your organizations")
	case p.TokenID == "" && p.SessionID == "":
		err = fault.New("api", fault.Forbidden, "Basic credentials cannot manage; sign in (POST /api/v1/auth/login) and use the access token")
	}
	return p, err
}

// signedIn returns the caller when it has a signed-in session: what
// changes an account, its sessions or memberships, creates
// organizations, or administers the platform takes one. A management
// token manages its organizations only, so it is Forbidden here.
func (h *Handler) signedIn(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, err := h.manager(ctx)
	if err == nil && p.TokenID != "" {
		err = fault.New("api", fault.Forbidden, "API tokens manage organizations only; sign in (POST /api/v1/auth/login) and use the access token")
	}
	return p, err
}

// admin returns the caller when it is a platform admin with a session.
func (h *Handler) admin(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, err := h.signedIn(ctx)
	if err == nil && !p.PlatformAdmin {
		err = fault.New("api", fault.Forbidden, "platform administrators only")
	}
	return p, err
}

// param returns the path parameter name, unescaped: the router matches
// the raw path, so that an escaped '/' stays inside one parameter (package
// ids).
func param(ctx *fasthttp.RequestCtx, name string) string {
	v, _ := ctx.UserValue(name).(string)
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}

// query returns the query argument name.
func query(ctx *fasthttp.RequestCtx, name string) string {
	return string(ctx.QueryArgs().Peek(name))
}

// flag reports whether the query argument name is true.
func flag(ctx *fasthttp.RequestCtx, name string) (bool, error) {
	v := query(ctx, name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fault.Newf("api", fault.Invalid, "%s must be true or false", name)
	}
	return b, nil
}

// invalid is an Invalid error (answered 422).
func invalid(format string, args ...any) error {
	return fault.Newf("api", fault.Invalid, format, args...)
}

func notFound(what string) error {
	return fault.Newf("api", fault.NotFound, "%s not found", what)
}

func forbidden(msg string) error { return fault.New("api", fault.Forbidden, msg) }

// decode reads the JSON body into v, refusing an empty body, unknown
// fields, trailing data and bodies over the limit.
func (h *Handler) decode(ctx *fasthttp.RequestCtx, v any) error {
	b, err := edge.ReadBody(ctx, h.opts.BodyLimit)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return invalid("a JSON body is required")
	}
	return decodeJSON(b, v)
}

// decodeOptional is decode for a body that may be absent.
func (h *Handler) decodeOptional(ctx *fasthttp.RequestCtx, v any) error {
	b, err := edge.ReadBody(ctx, h.opts.BodyLimit)
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return err
	}
	return decodeJSON(b, v)
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return invalid("invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := d.Token(); err != io.EOF {
		return invalid("invalid JSON body: data after the document")
	}
	return nil
}

// reply writes v as JSON with status.
func reply(ctx *fasthttp.RequestCtx, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fault.Wrap("api.reply", fault.Internal, err)
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(b)
	return nil
}

// noContent answers 204.
func noContent(ctx *fasthttp.RequestCtx) error {
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// list is the answer of every list endpoint.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func page[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, NextCursor: encodeCursor(next)}
}

// replyPage answers a list endpoint: one page from load, each item shown
// as view makes it.
func replyPage[T, V any](h *Handler, ctx *fasthttp.RequestCtx, load func(auth.Page) ([]T, string, error), view func(T) V) error {
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	items, next, err := load(pg)
	if err != nil {
		return err
	}
	out := make([]V, 0, len(items))
	for _, it := range items {
		out = append(out, view(it))
	}
	return reply(ctx, fasthttp.StatusOK, page(out, next))
}

// asIs is the view of items shown as they are.
func asIs[T any](v T) T { return v }

// username names a user for a view; "" when the user is gone.
func (h *Handler) username(ctx context.Context, id string) string {
	if u, err := h.r.Auth.GetUser(ctx, id); err == nil {
		return u.Username
	}
	return ""
}

// pageOf reads limit and cursor. Cursors are the store's, base64url
// encoded: they may hold bytes that do not travel well in a URL.
func (h *Handler) pageOf(ctx *fasthttp.RequestCtx) (auth.Page, error) {
	pg := auth.Page{Limit: h.opts.DefaultPage}
	if s := query(ctx, "limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.opts.MaxPage {
			return pg, invalid("limit must be a number from 1 to %d", h.opts.MaxPage)
		}
		pg.Limit = n
	}
	if s := query(ctx, "cursor"); s != "" {
		c, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(c) == 0 {
			return pg, invalid("invalid cursor")
		}
		pg.Cursor = string(c)
	}
	return pg, nil
}

func encodeCursor(c string) string {
	if c == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(c))
}

// clientIP is the address login throttling and the audit log see.
func (h *Handler) clientIP(ctx *fasthttp.RequestCtx) string { return h.r.ClientIP(ctx) }

// clientCtx is the context of a sign-in: it carries the client's
// User-Agent, which the session records.
func clientCtx(ctx *fasthttp.RequestCtx) context.Context {
	return auth.WithUserAgent(edge.Context(ctx), strings.ToValidUTF8(string(ctx.UserAgent()), ""))
}
