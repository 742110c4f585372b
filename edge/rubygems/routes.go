package rubygems

import "entrepot/edge"

func (h *Handler) routes(g *edge.Group) {
	rt := func(name string) edge.Route { return edge.Route{Protocol: Protocol, Name: name, Render: render} }
	get := func(path, name string, f edge.HandlerFunc) {
		g.Handle("GET", path, rt(name), f)
		g.Handle("HEAD", path, rt(name), f)
	}

	// POST /api/v1/gems — gem push: the raw .gem, key in Authorization.
	g.Handle("POST", "/api/v1/gems", rt("push"), h.push)
	// DELETE /api/v1/gems/yank — gem yank: gem_name, version[, platform].
	g.Handle("DELETE", "/api/v1/gems/yank", rt("yank"), h.yank)
	// PUT /api/v1/gems/unyank — the reverse, with the same parameters.
	g.Handle("PUT", "/api/v1/gems/unyank", rt("unyank"), h.unyank)
	// GET /api/v1/gems/{name}.json — the latest version, rubygems.org's shape.
	get("/api/v1/gems/{file}", "gem_json", h.gemJSON)
	// GET /api/v1/gems/{name}/owners.json|.yaml — gem owner: the owning organization.
	get("/api/v1/gems/{name}/{what}", "owners", h.owners)
	g.Handle("POST", "/api/v1/gems/{name}/{what}", rt("owners"), h.ownersChange)
	g.Handle("DELETE", "/api/v1/gems/{name}/{what}", rt("owners"), h.ownersChange)
	// GET /api/v1/versions/{name}.json — every version, rubygems.org's shape.
	get("/api/v1/versions/{file}", "versions_json", h.versionsJSON)

	// GET /versions — compact index: every gem, its versions and info MD5.
	get("/versions", "versions", h.versions)
	// GET /names — compact index: every gem name.
	get("/names", "names", h.names)
	// GET /info/{gem} — compact index: one gem's versions, dependencies, checksums.
	get("/info/{name}", "info", h.info)

	// GET /quick/Marshal.4.8/{name}-{version}[-{platform}].gemspec.rz
	get("/quick/Marshal.4.8/{file}", "gemspec", h.gemspec)
	// GET /gems/{name}-{version}[-{platform}].gem
	get("/gems/{file}", "gem", h.gem)

	// GET /specs.4.8.gz, /latest_specs.4.8.gz, /prerelease_specs.4.8.gz — legacy indexes.
	get("/specs.4.8.gz", "specs", h.specs(specsAll))
	get("/latest_specs.4.8.gz", "specs", h.specs(specsLatest))
	get("/prerelease_specs.4.8.gz", "specs", h.specs(specsPrerelease))
}
