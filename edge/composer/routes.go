package composer

import "entrepot/edge"

// Mount registers the repository's routes on g (mounted at /composer).
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	h.mount = h.r.Base.Mount(g.Prefix())
	rt := func(name string) edge.Route { return edge.Route{Protocol: Protocol, Name: name, Render: render} }
	for _, m := range []string{"GET", "HEAD"} {
		// GET /composer/packages.json: the repository root (metadata-url,
		// notify-batch, search, available-packages).
		g.Handle(m, "/packages.json", rt("root"), h.root)
		// GET /composer/p2/{vendor}/{package}.json and {package}~dev.json:
		// a package's tagged and development versions, minified.
		g.Handle(m, "/p2/{vendor}/{file}", rt("p2"), h.metadata)
		// GET /composer/p/{vendor}/{package}.json (or {package}$hash.json):
		// Composer 1's provider file, for hosted packages.
		g.Handle(m, "/p/{vendor}/{file}", rt("p"), h.provider)
		// GET /composer/dist/{vendor}/{package}/{ref}/{version}.{type}: a
		// version's dist archive, hosted or mirrored.
		g.Handle(m, "/dist/{vendor}/{package}/{ref}/{file:*}", rt("dist"), h.dist)
	}
	// GET /composer/search.json?q=QUERY&type=TYPE: `composer search`.
	g.Handle("GET", "/search.json", rt("search"), h.search)
	// POST /composer/downloads: notify-batch, Composer's download counts.
	g.Handle("POST", "/downloads", rt("notify"), h.notify)
	// PUT /composer/packages/{vendor}/{package}?version=X: publish the zip
	// archive in the body.
	g.Handle("PUT", "/packages/{vendor}/{package}", rt("publish"), h.publish)
	// POST /composer/packages/{vendor}/{package}: the same, as a
	// multipart form (a "package" file and an optional "version" field).
	g.Handle("POST", "/packages/{vendor}/{package}", rt("publish_form"), h.publishForm)
}
