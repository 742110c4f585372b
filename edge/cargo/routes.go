package cargo

import (
	"entrepot/edge"
)

// routes is the route table of the cargo protocols.
func (h *Handler) routes(g *edge.Group) {
	rt := func(name string) edge.Route { return edge.Route{Protocol: Protocol, Name: name, Render: h.render} }

	// GET /cargo/index/config.json, /cargo/index/{1,2,3/a,ab/cd}/NAME:
	// the sparse index (config, then one file per crate).
	g.Handle("GET", "/index/{path:*}", rt("index"), h.serveIndex)
	g.Handle("HEAD", "/index/{path:*}", rt("index"), h.serveIndex)

	// PUT /cargo/api/v1/crates/new: cargo publish (length-prefixed JSON
	// metadata, then the length-prefixed .crate file).
	g.Handle("PUT", "/api/v1/crates/new", rt("publish"), h.publish)

	// GET /cargo/api/v1/crates?q=QUERY&per_page=N: cargo search.
	g.Handle("GET", "/api/v1/crates", rt("search"), h.search)

	// GET /cargo/api/v1/crates/NAME/VERSION/download: the .crate file;
	// config.json's dl points here.
	g.Handle("GET", "/api/v1/crates/{crate}/{version}/download", rt("download"), h.download)
	g.Handle("HEAD", "/api/v1/crates/{crate}/{version}/download", rt("download"), h.download)

	// DELETE /cargo/api/v1/crates/NAME/VERSION/yank: cargo yank.
	g.Handle("DELETE", "/api/v1/crates/{crate}/{version}/yank", rt("yank"), h.yank)
	// PUT /cargo/api/v1/crates/NAME/VERSION/unyank: cargo yank --undo.
	g.Handle("PUT", "/api/v1/crates/{crate}/{version}/unyank", rt("unyank"), h.unyank)

	// GET, PUT, DELETE /cargo/api/v1/crates/NAME/owners: cargo owner
	// --list, --add, --remove; owners are the organization's members.
	g.Handle("GET", "/api/v1/crates/{crate}/owners", rt("owners"), h.listOwners)
	g.Handle("PUT", "/api/v1/crates/{crate}/owners", rt("owners"), h.addOwners)
	g.Handle("DELETE", "/api/v1/crates/{crate}/owners", rt("owners"), h.removeOwners)
}
