package api

import (
	"context"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// ClaimRule turns the namespace an organization asks to claim into the
// form its protocol keys claims by (an npm scope or unscoped name, a PEP
// 503-normalized project, a normalized crate name, a gem name, a Maven
// groupId, a Composer vendor, an OCI first segment). org is the
// organization's name, for protocols whose namespaces are organization
// names. A namespace the organization may not claim is an Invalid error.
// Each protocol package exports its rule as NormalizeClaim; cmd/entrepot
// passes them in Options.Claims, so that this package imports no
// protocol.
type ClaimRule func(org, namespace string) (string, error)

// claimRequest is the body of POST /organizations/{orgId}/claims.
type claimRequest struct {
	Protocol  string `json:"protocol"`
	Namespace string `json:"namespace"`
}

// claimID is a claim's place in its organization's list, and its cursor.
func claimID(cl hosted.Claim) string { return cl.Protocol + ":" + cl.Namespace }

// listClaims: GET /api/v1/organizations/{orgId}/claims — the namespaces
// the organization holds, for its members.
func (h *Handler) listClaims(ctx *fasthttp.RequestCtx) error {
	_, o, err := h.pathOrg(ctx, h.user, needView)
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	cls, err := h.r.Catalog.Claims(edge.Context(ctx), o.ID)
	if err != nil {
		return err
	}
	sort.Slice(cls, func(i, j int) bool { return claimID(cls[i]) < claimID(cls[j]) })
	i := sort.Search(len(cls), func(i int) bool { return claimID(cls[i]) > pg.Cursor })
	cls = cls[i:]
	next := ""
	if len(cls) > pg.Limit {
		cls = cls[:pg.Limit]
		next = claimID(cls[len(cls)-1])
	}
	return reply(ctx, fasthttp.StatusOK, page(cls, next))
}

// createClaim: POST /api/v1/organizations/{orgId}/claims
// {"protocol","namespace"} — claims a namespace for the organization's
// default repository of the protocol (created private if need be), so
// that it resolves only against hosted packages from now on, before any
// publish. 201 with the claim; 200 when the organization holds it
// already; 409 when another organization does.
func (h *Handler) createClaim(ctx *fasthttp.RequestCtx) error {
	p, o, err := h.pathOrg(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	var req claimRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	n.target = req.Protocol + ":" + req.Namespace
	rule := h.opts.Claims[req.Protocol]
	if rule == nil {
		return invalid("protocol must be one of %v", h.claimProtocols())
	}
	if req.Namespace == "" {
		return invalid("namespace is required")
	}
	ns, err := rule(o.Name, req.Namespace)
	if err != nil {
		return fault.Op("api.createClaim", err)
	}
	n.target = req.Protocol + ":" + ns
	switch cl, err := h.r.Catalog.ClaimOf(edge.Context(ctx), req.Protocol, ns); {
	case err == nil && cl.OrgID == o.ID:
		n.detail = "held already"
		return reply(ctx, fasthttp.StatusOK, cl)
	case err == nil:
		return claimedElsewhere(ns)
	case !fault.Is(err, fault.NotFound):
		return err
	}
	// A claim hides whatever the upstream serves under the name from every
	// user of this server, so taking one explicitly is a platform
	// decision; organizations take names on publish, where
	// edge.Registry.ClaimForPublish refuses names the upstream has.
	if !p.PlatformAdmin {
		return fault.New("api.createClaim", fault.Forbidden, "only a platform admin can claim a namespace explicitly; publishing claims a name the upstream registry does not have")
	}
	repo, err := h.r.HostedRepo(edge.Context(ctx), o.ID, req.Protocol)
	if err != nil {
		return err
	}
	cl, err := h.r.Catalog.Claim(edge.Context(ctx), hosted.Claim{Protocol: req.Protocol, Namespace: ns, OrgID: o.ID, RepoID: repo.ID})
	if fault.Is(err, fault.Conflict) { // a racing claim or publish of another organization
		return claimedElsewhere(ns)
	}
	if err != nil {
		return err
	}
	h.r.Forget(req.Protocol, ns)
	return reply(ctx, fasthttp.StatusCreated, cl)
}

func claimedElsewhere(ns string) error {
	return fault.Newf("api", fault.Conflict, "%s is claimed by another organization", ns)
}

// claimProtocols lists the protocols that take explicit claims: those
// with a rule.
func (h *Handler) claimProtocols() []string {
	return slices.Sorted(maps.Keys(h.opts.Claims))
}

// releaseClaim: DELETE /api/v1/organizations/{orgId}/claims/{protocol}/{namespace}[?force=true]
// — the namespace (URL-escaped) resolves upstream again. Refused while
// the organization holds packages under it, unless a platform admin
// forces it, which deletes them.
func (h *Handler) releaseClaim(ctx *fasthttp.RequestCtx) error {
	p, o, err := h.pathOrg(ctx, h.manager, needManage)
	if err != nil {
		return err
	}
	n := noteOf(ctx)
	protocol, ns := param(ctx, "protocol"), param(ctx, "namespace")
	// The namespace as the client wrote it ("Foo.Bar") names the claim
	// its normal form keys ("foo-bar"); a namespace the rule refuses is
	// looked up as it is, so that any claim can be released.
	if rule := h.opts.Claims[protocol]; rule != nil {
		if norm, err := rule(o.Name, ns); err == nil {
			ns = norm
		}
	}
	n.target = protocol + ":" + ns
	force, err := forced(ctx, p, "release")
	if err != nil {
		return err
	}
	cl, err := h.r.Catalog.ClaimOf(edge.Context(ctx), protocol, ns)
	if fault.Is(err, fault.NotFound) || err == nil && cl.OrgID != o.ID {
		return notFound("claim " + protocol + ":" + ns)
	}
	if err != nil {
		return err
	}
	pkgs, err := h.packagesUnder(edge.Context(ctx), o.ID, protocol, ns)
	if err != nil {
		return err
	}
	if len(pkgs) > 0 {
		if !force {
			return fault.Newf("api", fault.Conflict, "the organization still holds %d package(s) under %s, such as %s: delete them first, or have a platform administrator force the release (?force=true)", len(pkgs), ns, pkgs[0].Name)
		}
		for _, pk := range pkgs {
			if err := h.r.Catalog.DeletePackage(edge.Context(ctx), pk.Protocol, pk.Name); err != nil {
				return err
			}
		}
		n.detail = "forced: packages deleted"
	}
	if err := h.r.Catalog.Release(edge.Context(ctx), protocol, ns); err != nil {
		return err
	}
	h.r.Forget(protocol, ns)
	return noContent(ctx)
}

// packagesUnder lists the organization's packages of protocol that the
// claim on ns holds.
func (h *Handler) packagesUnder(ctx context.Context, orgID, protocol, ns string) ([]hosted.Package, error) {
	var out []hosted.Package
	f := hosted.PackageFilter{OrgID: orgID, Protocol: protocol, Query: ns}
	after := ""
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(ctx, f, after, h.opts.MaxPage)
		if err != nil {
			return nil, err
		}
		for _, pk := range pkgs {
			if holds(protocol, ns, pk.Name) {
				out = append(out, pk)
			}
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// holds reports whether a claim on ns covers the hosted package name, as
// the protocols resolve names (the namespaces they ask edge.Registry.Hosted
// about): a name holds itself (PyPI, Cargo and RubyGems names, unscoped
// npm names); a namespace holds the names below it after a '/' (an npm
// scope "@acme/pkg" in edge/npm, a Composer vendor "acme/pkg" in
// edge/composer, an OCI first segment "acme/app" in edge/oci); a Maven
// groupId holds its artifacts "com.acme:lib" and those of the groupIds
// below it, "com.acme.tools:lib" (maven.Coords.Groups).
func holds(protocol, ns, name string) bool {
	ns, name = hosted.FoldClaim(protocol, ns), hosted.FoldClaim(protocol, name)
	if name == ns || strings.HasPrefix(name, ns+"/") {
		return true
	}
	if protocol == "maven" {
		group, _, _ := strings.Cut(name, ":")
		return group == ns || strings.HasPrefix(group, ns+".")
	}
	return false
}

// releaseRepoClaims releases the claims of orgID held by repository
// repoID, which is being deleted.
func (h *Handler) releaseRepoClaims(ctx context.Context, orgID, repoID string) (int, error) {
	cls, err := h.r.Catalog.Claims(ctx, orgID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, cl := range cls {
		if cl.RepoID != repoID {
			continue
		}
		if err := h.r.Catalog.Release(ctx, cl.Protocol, cl.Namespace); err != nil && !fault.Is(err, fault.NotFound) {
			return n, err
		}
		h.r.Forget(cl.Protocol, cl.Namespace)
		n++
	}
	return n, nil
}

// releaseClaims releases every claim of an organization being deleted,
// so that its names do not stay hidden from the upstream for good.
func (h *Handler) releaseClaims(ctx context.Context, orgID string) (int, error) {
	cls, err := h.r.Catalog.Claims(ctx, orgID)
	if err != nil {
		return 0, err
	}
	for i, cl := range cls {
		if err := h.r.Catalog.Release(ctx, cl.Protocol, cl.Namespace); err != nil {
			return i, err
		}
		h.r.Forget(cl.Protocol, cl.Namespace)
	}
	return len(cls), nil
}
