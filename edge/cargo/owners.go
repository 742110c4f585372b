package cargo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// A crate's owners are the members of the organization that holds its
// name: cargo owner --list shows them, --add makes users members, --remove
// takes members out. Changing them changes the organization, so it takes
// an owner or admin of the organization signed in with a session (an API
// token never carries the Manage right), or a platform admin.

// owner is one user as cargo's owner list shows it. cargo wants a number
// for the id; the position in the list serves.
type owner struct {
	ID    uint32 `json:"id"`
	Login string `json:"login"`
	Name  string `json:"name,omitempty"`
}

// listOwners answers GET /cargo/api/v1/crates/NAME/owners.
func (h *Handler) listOwners(ctx *fasthttp.RequestCtx) error {
	name, _ := ctx.UserValue("crate").(string)
	if err := checkName(name); err != nil {
		return err
	}
	cl, _, err := h.hostedCrate(ctx, name, auth.Read)
	if err != nil {
		return err
	}
	users := []owner{}
	pg := auth.Page{}
	for {
		ms, next, err := h.r.Auth.ListOrgMembers(edge.Context(ctx), cl.OrgID, pg)
		if err != nil {
			return err
		}
		for _, m := range ms {
			u, err := h.r.Auth.GetUser(edge.Context(ctx), m.UserID)
			if fault.Is(err, fault.NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			users = append(users, owner{ID: uint32(len(users) + 1), Login: u.Username, Name: u.DisplayName})
		}
		if next == "" {
			break
		}
		pg.Cursor = next
	}
	b, _ := json.Marshal(map[string][]owner{"users": users})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// addOwners answers PUT /cargo/api/v1/crates/NAME/owners with
// {"users":["login",...]}: each becomes a member of the organization
// (an existing member keeps its role).
func (h *Handler) addOwners(ctx *fasthttp.RequestCtx) error {
	return h.changeOwners(ctx, true)
}

// removeOwners answers DELETE /cargo/api/v1/crates/NAME/owners: each user
// leaves the organization. Owners of the organization are not removed
// this way.
func (h *Handler) removeOwners(ctx *fasthttp.RequestCtx) error {
	return h.changeOwners(ctx, false)
}

func (h *Handler) changeOwners(ctx *fasthttp.RequestCtx, add bool) (err error) {
	const op = "cargo.owners"
	name, _ := ctx.UserValue("crate").(string)
	if err := checkName(name); err != nil {
		return err
	}
	cl, p, err := h.hostedCrate(ctx, name, auth.Read)
	if err != nil {
		return err
	}
	action := "org.member.set"
	if !add {
		action = "org.member.remove"
	}
	var logins []string
	defer func() {
		outcome, detail := "success", "via cargo owner of "+name
		if err != nil {
			outcome, detail = "failure", edge.ClientMessage(err, edge.RequestID(ctx))
		}
		h.r.Record(ctx, action, strings.Join(logins, ","), cl.OrgID, outcome, detail)
	}()
	if err := h.mayManageOrg(edge.Context(ctx), p, cl.OrgID); err != nil {
		return err
	}
	raw, err := edge.ReadBody(ctx, 64<<10)
	if err != nil {
		return err
	}
	var req struct {
		Users []string `json:"users"`
	}
	if err := json.Unmarshal(raw, &req); err != nil || len(req.Users) == 0 {
		return fault.New(op, fault.Invalid, `expected {"users":["login",...]}`)
	}
	logins = req.Users
	org, err := h.r.Auth.GetOrg(edge.Context(ctx), cl.OrgID)
	if err != nil {
		return err
	}
	for _, login := range req.Users {
		u, err := h.r.Auth.UserByLogin(edge.Context(ctx), login)
		if fault.Is(err, fault.NotFound) {
			return fault.Newf(op, fault.NotFound, "could not find user with login `%s`", clip(login))
		}
		if err != nil {
			return err
		}
		m, err := h.r.Auth.OrgMember(edge.Context(ctx), cl.OrgID, u.ID)
		member := err == nil
		if err != nil && !fault.Is(err, fault.NotFound) {
			return err
		}
		switch {
		case add && !member:
			if err := h.r.Auth.SetOrgMember(edge.Context(ctx), cl.OrgID, u.ID, auth.OrgMember); err != nil {
				return err
			}
		case !add && member && m.Role == auth.OrgOwner:
			return fault.Newf(op, fault.Forbidden, "%s is an owner of organization %s: owners are managed in the organization's settings", login, org.Name)
		case !add && member:
			if err := h.r.Auth.RemoveOrgMember(edge.Context(ctx), cl.OrgID, u.ID); err != nil {
				return err
			}
		}
	}
	msg := fmt.Sprintf("%s added as owner(s) of crate %s: member(s) of organization %s", strings.Join(req.Users, ", "), name, org.Name)
	if !add {
		msg = fmt.Sprintf("%s removed from the owners of crate %s: no longer member(s) of organization %s", strings.Join(req.Users, ", "), name, org.Name)
	}
	b, _ := json.Marshal(map[string]any{"ok": true, "msg": msg})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// mayManageOrg allows platform admins and the organization's owners and
// admins signed in with a session.
func (h *Handler) mayManageOrg(ctx context.Context, p auth.Principal, orgID string) error {
	const op = "cargo.owners"
	if p.TokenID != "" {
		return fault.New(op, fault.Forbidden, "changing a crate's owners changes the members of its organization, which an API token may not do: use a session token (Bearer ...) of an organization owner or admin, or the organization's settings")
	}
	if p.PlatformAdmin {
		return nil
	}
	m, err := h.r.Auth.OrgMember(ctx, orgID, p.UserID)
	if err == nil && (m.Role == auth.OrgOwner || m.Role == auth.OrgAdmin) {
		return nil
	}
	if err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	return fault.New(op, fault.Forbidden, "only an owner or admin of the crate's organization may change its owners")
}

// search answers GET /cargo/api/v1/crates?q=QUERY&per_page=N (cargo
// search): hosted crates whose normalized name starts with the normalized
// query, among those the caller may read. Mirrored crates are not
// searched: a sparse index has no search.
func (h *Handler) search(ctx *fasthttp.RequestCtx) error {
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	q := normalize(strings.TrimSpace(string(ctx.QueryArgs().Peek("q"))))
	per := 10
	if s := ctx.QueryArgs().Peek("per_page"); len(s) > 0 {
		n, err := strconv.Atoi(string(s))
		if err != nil || n < 1 {
			return fault.New("cargo.search", fault.Invalid, "per_page must be a positive number")
		}
		per = min(n, 100)
	}
	type result struct {
		Name        string `json:"name"`
		MaxVersion  string `json:"max_version"`
		Description string `json:"description"`
	}
	out := []result{}
	allowed := map[string]bool{}
	after := ""
	for len(out) < per {
		pkgs, next, err := h.r.Catalog.ListPackages(edge.Context(ctx), hosted.PackageFilter{Protocol: Protocol, Query: q}, after, per)
		if err != nil {
			return err
		}
		for _, pkg := range pkgs {
			ok, seen := allowed[pkg.RepoID]
			if !seen {
				_, ref, claimed, err := h.r.Hosted(edge.Context(ctx), Protocol, pkg.Name)
				if err != nil {
					return err
				}
				ok = claimed && h.r.Auth.Authorize(edge.Context(ctx), p, ref, auth.Read) == nil
				allowed[pkg.RepoID] = ok
			}
			if !ok || len(out) == per {
				continue
			}
			maxv, err := h.maxVersion(edge.Context(ctx), pkg.Name)
			if err != nil {
				return err
			}
			if maxv != "" {
				out = append(out, result{Name: pkg.DisplayName, MaxVersion: maxv, Description: pkg.Description})
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	b, _ := json.Marshal(map[string]any{"crates": out, "meta": map[string]int{"total": len(out)}})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// maxVersion is the highest version not yanked (or, all being yanked, the
// highest), "" without versions.
func (h *Handler) maxVersion(ctx context.Context, norm string) (string, error) {
	vs, err := h.r.Catalog.Versions(ctx, Protocol, norm, false)
	if err != nil {
		return "", err
	}
	best, bestYanked := "", ""
	for _, v := range vs {
		var e indexEntry
		if json.Unmarshal(v.Meta, &e) != nil {
			continue
		}
		if !v.Yanked && (best == "" || versionLess(best, e.Vers)) {
			best = e.Vers
		}
		if bestYanked == "" || versionLess(bestYanked, e.Vers) {
			bestYanked = e.Vers
		}
	}
	if best == "" {
		return bestYanked, nil
	}
	return best, nil
}
