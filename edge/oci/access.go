package oci

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// target is where a repository name resolves: a hosted repository or a
// pull-through mirror.
type target struct {
	name   string
	mirror *mirror // nil: hosted
	upName string  // the repository's name at the mirror's upstream
	ref    auth.RepoRef
	// org is set for an organization's namespace that nothing claims yet
	// (it has pushed nothing): the first push claims it (claim), and ref
	// names no repository until then.
	org *auth.Org
}

const grantsKey = "oci.grants"

// who authenticates the caller: a registry token issued by /v2/token, or
// any credentials the edge understands (Basic password or srg_ token, a
// session's Bearer JWT). With a registry token, its grants are kept for
// authorize.
// A registry token that is no longer good (its API token revoked, its
// session ended, its user deactivated) is refused like any bad
// credentials: auth re-checks it on every use.
func (h *Handler) who(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, access, registry, err := h.r.WhoRegistry(ctx, h.service(ctx))
	if registry {
		ctx.SetUserValue(grantsKey, access)
	}
	return p, err
}

// scopeActions names the token actions a request needs, for challenges.
func scopeActions(a auth.Action) string {
	switch a {
	case auth.Write:
		return "pull,push"
	case auth.Delete:
		return "delete"
	}
	return "pull"
}

// resolve decides where name lives and authorizes action there, through
// edge.Resolve: the one permission check of a request. A mirror prefix
// wins over an organization of the same name (coords); a hosted name
// resolves only against hosted content (it never goes upstream). A write
// to an organization's namespace that nothing claims yet is checked
// against membership only (Coords.FirstPublish): nothing is created until
// a push lands, where claim authorizes it and claims the namespace. What
// stays here is OCI's own: the challenge, its error codes, and the
// registry token's grants, which narrow writes.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, name string, action auth.Action) (target, error) {
	const op = "oci.resolve"
	ctx.SetUserValue(challengeKey, challenge{scope: "repository:" + name + ":" + scopeActions(action)})
	p, err := h.who(ctx)
	if err != nil {
		return target{}, withCode(codeUnauthorized, err)
	}
	c, m, err := h.coords(name, action)
	if err != nil {
		return target{}, err
	}
	if m != nil && action != auth.Read {
		return target{}, errf(codeDenied, fault.Forbidden, op, "%s is a read-only mirror of %s", m.prefix, m.name())
	}
	o, err := h.r.Resolve(ctx, c)
	switch {
	case err != nil && !o.Hosted && o.Upstream == "": // nothing is there
		switch {
		case !fault.Is(err, fault.NotFound) && !fault.Is(err, fault.Unauthorized):
			return target{}, err
		case p.Anonymous():
			return target{}, errf(codeUnauthorized, fault.Unauthorized, op, "authentication required")
		case action == auth.Write:
			return target{}, h.unknownOrg(name)
		}
		return target{}, withCode(codeNameUnknown, err)
	case err != nil:
		return target{}, authError(err)
	}
	if access, ok := ctx.UserValue(grantsKey).([]auth.RegistryAccess); ok && action != auth.Read {
		// A registry token grants writes only for what it was issued for;
		// reads follow the caller's permissions (a cross-repository mount
		// reads a repository the token may not name).
		if !auth.Allows(access, "repository", name, auth.RegistryAction(action)) {
			ctx.SetUserValue(challengeKey, challenge{scope: "repository:" + name + ":" + scopeActions(action), insufficient: true})
			return target{}, errf(codeUnauthorized, fault.Unauthorized, op, "the token does not grant %s on %s", auth.RegistryAction(action), name)
		}
	}
	return h.target(name, m, o), nil
}

// coords are name's coordinates for edge.Resolve and edge.Locate: under a
// mirror prefix, the mirror's (m); else the first segment, which is
// claimed or an organization's own.
func (h *Handler) coords(name string, a auth.Action) (c edge.Coords, m *mirror, err error) {
	first, rest, _ := strings.Cut(name, "/")
	if m := h.mirrors[first]; m != nil {
		if rest == "" {
			return c, nil, errf(codeNameInvalid, fault.Invalid, "oci.coords", "%s is a mirror prefix: name a repository under it", first)
		}
		return edge.Coords{Protocol: "oci", Upstream: first, Name: name, Action: a}, m, nil
	}
	return edge.Coords{Protocol: "oci", Namespaces: []string{first}, Owner: first, Name: name, Action: a,
		FirstPublish: true, Openly: true, Unknown: "repository %s is not known"}, nil, nil
}

// target is what the request handlers keep of name's origin o.
func (h *Handler) target(name string, m *mirror, o edge.Origin) target {
	t := target{name: name, ref: o.Ref, org: o.Org}
	if m != nil {
		_, rest, _ := strings.Cut(name, "/")
		t.mirror, t.upName = m, m.upstreamName(rest)
	}
	return t
}

// unknownOrg answers a push to a namespace no organization has.
func (h *Handler) unknownOrg(name string) error {
	first, _, _ := strings.Cut(name, "/")
	return errf(codeNameUnknown, fault.NotFound, "oci.locate", "organization %q does not exist: the first segment of a repository name is its organization", first)
}

// role tells whether p administers org (an owner or admin of it, or a
// platform admin) and whether p belongs to it (or is a platform admin).
func (h *Handler) role(ctx context.Context, p auth.Principal, org auth.Org) (admin, member bool, err error) {
	if p.Anonymous() {
		return false, false, nil
	}
	if p.PlatformAdmin {
		return true, true, nil
	}
	m, err := h.r.Auth.OrgMember(ctx, org.ID, p.UserID)
	if fault.Is(err, fault.NotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return m.Role == auth.OrgOwner || m.Role == auth.OrgAdmin, true, nil
}

// firstPushRef is what token scopes are checked against in an
// organization's namespace before its first push creates a repository.
func firstPushRef(org auth.Org) auth.RepoRef { return auth.RepoRef{OrgID: org.ID, Protocol: "oci"} }

// mayPush is the authorization of a push into a namespace nothing claims
// yet (t.org set), before any of its bytes is read or stored:
// edge.Registry.MayPublish, the check claim makes again when the push
// lands (membership of the organization and the write on its OCI
// repository), without claiming anything, so that a push refused then is
// refused now and a push that fails claims nothing. In a claimed
// namespace resolve has authorized the write already.
func (h *Handler) mayPush(ctx *fasthttp.RequestCtx, t target) error {
	if t.org == nil {
		return nil
	}
	first, _, _ := strings.Cut(t.name, "/")
	return authError(h.r.MayPublish(ctx, "oci", *t.org, first))
}

// claim is the permission check of a push that lands in a namespace
// nothing claims yet (t.org set), right before what it pushed becomes
// visible: edge.Registry.ClaimForPublish makes sure the caller belongs to
// the organization and may write to its OCI repository (created private
// then), and claims the namespace for it. OCI namespaces are hosted only
// (mirror prefixes are reserved), so no upstream is asked. t then names
// the repository. In a claimed namespace claim does nothing.
func (h *Handler) claim(ctx *fasthttp.RequestCtx, t *target) error {
	if t.org == nil {
		return nil
	}
	first, _, _ := strings.Cut(t.name, "/")
	_, ref, err := h.r.ClaimForPublish(ctx, edge.ClaimRequest{Protocol: "oci", Namespace: first, Org: *t.org})
	if err != nil {
		return authError(err)
	}
	t.ref, t.org = ref, nil
	return nil
}

// authError gives an authorization failure its code.
func authError(err error) error {
	switch fault.KindOf(err) {
	case fault.Unauthorized:
		return withCode(codeUnauthorized, err)
	case fault.Forbidden:
		return withCode(codeDenied, err)
	case fault.NotFound:
		return withCode(codeNameUnknown, err)
	}
	return err
}

// locate finds where name lives without authorizing or creating
// anything (edge.Locate). An organization's namespace that nothing claims
// yet (it has pushed nothing) is found, with t.org set; found is false
// when the name is neither claimed, nor an organization's, nor mirrored.
// For a write, an unknown organization is a NotFound that says so.
func (h *Handler) locate(ctx context.Context, p auth.Principal, name string, write bool) (target, bool, error) {
	c, m, err := h.coords(name, auth.Read)
	if err != nil {
		return target{}, false, err
	}
	o, err := h.r.Locate(ctx, c)
	switch {
	case fault.Is(err, fault.NotFound):
		if write && !p.Anonymous() {
			return target{}, false, h.unknownOrg(name)
		}
		return target{}, false, nil
	case err != nil:
		return target{}, false, err
	}
	return h.target(name, m, o), true, nil
}

// base answers GET /v2/: 200 for a caller with valid credentials, 401
// with the challenge otherwise.
func (h *Handler) base(ctx *fasthttp.RequestCtx) error {
	p, err := h.who(ctx)
	if err != nil {
		return withCode(codeUnauthorized, err)
	}
	if p.Anonymous() {
		return errf(codeUnauthorized, fault.Unauthorized, "oci.base", "authentication required")
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString("{}")
	return nil
}

// token answers GET (and POST) /v2/token: it authenticates the caller's
// Basic credentials (none: anonymous) and issues a registry token with the
// subset of each requested scope the caller holds.
func (h *Handler) token(ctx *fasthttp.RequestCtx) error {
	const op = "oci.token"
	var scopes []string
	args := ctx.QueryArgs()
	if ctx.IsPost() {
		body, err := edge.ReadBody(ctx, 64<<10)
		if err != nil {
			return err
		}
		form := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(form)
		form.ParseBytes(body)
		args = form
		if err := h.formLogin(ctx, form); err != nil {
			return err
		}
	}
	for _, v := range args.PeekMulti("scope") {
		scopes = append(scopes, strings.Fields(string(v))...)
	}
	p, err := h.r.Who(ctx)
	if err != nil {
		// docker login reports exactly this.
		return withCode(codeUnauthorized, err)
	}
	var access []auth.RegistryAccess
	for _, s := range scopes {
		sc, ok := ParseScope(s)
		if !ok {
			continue
		}
		if g := h.grant(ctx, p, sc); len(g.Actions) > 0 {
			access = append(access, g)
		}
	}
	// The audience is this registry, whatever service the client names.
	tok, exp, err := h.r.Auth.IssueRegistryToken(p, h.service(ctx), access, h.opts.TokenTTL)
	if err != nil {
		return fault.Op(op, err)
	}
	now := time.Now().UTC()
	b, _ := json.Marshal(map[string]any{
		"token": tok, "access_token": tok,
		"expires_in": int(exp.Sub(now).Round(time.Second) / time.Second),
		"issued_at":  now.Format(time.RFC3339),
	})
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// formLogin authenticates the OAuth2 password grant of POST /v2/token.
func (h *Handler) formLogin(ctx *fasthttp.RequestCtx, body *fasthttp.Args) error {
	const op = "oci.formLogin"
	if h.r.HasCredentials(ctx) {
		return nil
	}
	if string(body.Peek("grant_type")) != "password" {
		return nil
	}
	if _, err := h.r.SignIn(ctx, string(body.Peek("username")), string(body.Peek("password"))); err != nil {
		return withCode(codeUnauthorized, fault.Op(op, err))
	}
	return nil
}

// grant returns the part of sc that p holds.
func (h *Handler) grant(ctx *fasthttp.RequestCtx, p auth.Principal, sc Scope) auth.RegistryAccess {
	g := auth.RegistryAccess{Type: sc.Type, Name: sc.Name, Actions: []string{}}
	if sc.Type == "registry" {
		if sc.Name == "catalog" && !p.Anonymous() {
			g.Actions = append(g.Actions, "*")
		}
		return g
	}
	want := map[string]bool{}
	for _, a := range sc.Actions {
		if a == "*" {
			want["pull"], want["push"], want["delete"] = true, true, true
		} else {
			want[a] = true
		}
	}
	bg := edge.Context(ctx)
	t, found, err := h.locate(bg, p, sc.Name, want["push"])
	if err != nil || !found {
		return g
	}
	if t.org != nil {
		// Nothing is pushed there yet, and no repository exists to
		// authorize against: members may push (the push is authorized
		// when it lands, see claim), administrators may do anything;
		// non-members get nothing.
		admin, member, err := h.role(bg, p, *t.org)
		if err != nil || !member {
			return g
		}
		for _, a := range []struct {
			name string
			act  auth.Action
		}{{"pull", auth.Read}, {"push", auth.Write}, {"delete", auth.Delete}} {
			if want[a.name] && (admin || a.act != auth.Delete) && p.ScopesAllow(firstPushRef(*t.org), a.act) == nil {
				g.Actions = append(g.Actions, a.name)
			}
		}
		return g
	}
	for _, a := range []struct {
		name string
		act  auth.Action
	}{{"pull", auth.Read}, {"push", auth.Write}, {"delete", auth.Delete}} {
		if !want[a.name] {
			continue
		}
		var err error
		if t.mirror != nil {
			if a.act != auth.Read {
				continue
			}
			_, err = h.r.MayMirror(ctx, "oci")
		} else {
			err = h.r.Auth.Authorize(bg, p, t.ref, a.act)
		}
		if err == nil {
			g.Actions = append(g.Actions, a.name)
		}
	}
	return g
}
