package npm

import (
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
)

// Mount registers the npm endpoints on g (mounted at /npm). The router
// matches the raw path, so a scoped name arrives either as one segment
// ("@acme%2fpkg", how npm asks for packuments) or as two ("@acme/pkg", how
// tarball URLs are written); every route that takes a name has both
// forms, and nameOf tells them apart.
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	h.mount = h.r.Base.Mount(g.Prefix())
	route := func(name string) edge.Route { return edge.Route{Protocol: Protocol, Name: name, Render: Render} }
	both := func(method, path, name string, fn edge.HandlerFunc) {
		g.Handle(method, "/{name}"+path, route(name), fn)
		g.Handle(method, "/{name}/{base}"+path, route(name), fn)
	}

	// GET /-/whoami → {"username":"..."} (npm whoami)
	g.Handle("GET", "/-/whoami", route("whoami"), h.whoami)
	// PUT /-/user/org.couchdb.user:<name> {name,password} → {"ok":true,"token":"srg_…"}
	// (npm login --auth-type=legacy, and the fallback of npm login)
	g.Handle("PUT", "/-/user/{user}", route("login"), h.login)
	// DELETE /-/user/token/<token> (npm logout): revokes the caller's token
	logout := route("logout")
	logout.Redact = true // the path carries the token
	g.Handle("DELETE", "/-/user/token/{token}", logout, h.logout)
	// GET /-/ping (npm ping) → {}
	g.Handle("GET", "/-/ping", route("ping"), h.ping)
	// POST /-/npm/v1/security/advisories/bulk and /-/npm/v1/security/audits/quick
	// (npm audit, and npm install's audit): passed to the upstream without
	// the names that resolve here; "no advisories" when it has no audit
	g.Handle("POST", auditBulk, route("audit"), h.auditBulk)
	g.Handle("POST", auditQuick, route("audit"), h.auditQuick)
	// GET /-/v1/search?text=&size=&from= (npm search), hosted packages only
	g.Handle("GET", "/-/v1/search", route("search"), h.search)

	// GET /-/package/<name>/dist-tags → {"latest":"1.0.0",...} (npm dist-tag ls)
	g.Handle("GET", "/-/package/{name}/dist-tags", route("dist_tags"), h.distTags)
	g.Handle("GET", "/-/package/{name}/{base}/dist-tags", route("dist_tags"), h.distTags)
	// PUT /-/package/<name>/dist-tags/<tag> "1.0.0" (npm dist-tag add)
	g.Handle("PUT", "/-/package/{name}/dist-tags/{tag}", route("dist_tag_set"), h.setDistTag)
	g.Handle("PUT", "/-/package/{name}/{base}/dist-tags/{tag}", route("dist_tag_set"), h.setDistTag)
	// DELETE /-/package/<name>/dist-tags/<tag> (npm dist-tag rm)
	g.Handle("DELETE", "/-/package/{name}/dist-tags/{tag}", route("dist_tag_rm"), h.removeDistTag)
	g.Handle("DELETE", "/-/package/{name}/{base}/dist-tags/{tag}", route("dist_tag_rm"), h.removeDistTag)

	// GET /<name> → the packument, full or abbreviated by Accept (install,
	// npm view); GET /<name>/<version|tag> → one version's manifest. The
	// two-segment form is a scoped packument when the first starts with '@'.
	g.Handle("GET", "/{name}", route("packument"), h.packument)
	g.Handle("HEAD", "/{name}", route("packument"), h.packument)
	g.Handle("GET", "/{name}/{base}", route("packument"), h.packumentOrVersion)
	g.Handle("HEAD", "/{name}/{base}", route("packument"), h.packumentOrVersion)
	g.Handle("GET", "/{name}/{base}/{version}", route("version"), h.scopedVersion)

	// GET /<name>/-/<file>.tgz → the tarball
	both("GET", "/-/{file}", "tarball", h.tarball)
	both("HEAD", "/-/{file}", "tarball", h.tarball)

	// PUT /<name> with _attachments: npm publish; without: npm deprecate
	// (the packument with "deprecated" set or cleared)
	g.Handle("PUT", "/{name}", route("publish"), h.put)
	g.Handle("PUT", "/{name}/{base}", route("publish"), h.put)
	// PUT /<name>/-rev/<rev>: npm unpublish <name>@<version> (the packument
	// without the version)
	both("PUT", "/-rev/{rev}", "unpublish_version", h.unpublishVersions)
	// DELETE /<name>/-rev/<rev>: npm unpublish <name> (every version)
	both("DELETE", "/-rev/{rev}", "unpublish", h.unpublishPackage)
	// DELETE /<name>/-/<file>.tgz/-rev/<rev>: the tarball, after the version
	both("DELETE", "/-/{file}/-rev/{rev}", "unpublish_tarball", h.unpublishTarball)
}

// nameOf reads the package name of a request from the route's segments.
func nameOf(ctx *fasthttp.RequestCtx) (Name, error) {
	name, _ := ctx.UserValue("name").(string)
	if base, ok := ctx.UserValue("base").(string); ok {
		return ParseScopedName(name, base)
	}
	return ParseName(name)
}

// isScope reports whether a raw first segment is a bare scope ("@acme"),
// so that the next segment is the rest of the name.
func isScope(raw string) bool {
	return strings.HasPrefix(raw, "@") && !strings.Contains(strings.ToLower(raw), "%2f")
}
