package pypi

import "entrepot/edge"

// Mount registers the PyPI routes on g, which the caller mounts at /pypi.
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	h.mount = h.r.Base.Mount(g.Prefix())
	rt := func(name string) edge.Route { return edge.Route{Protocol: Protocol, Name: name, Render: Render} }

	// GET /pypi/simple/: the projects the caller may read (PEP 503/691);
	// GET /pypi/simple/<project>/: the project page, HTML or JSON on
	// Accept; /pypi/simple/<project> and non-normalized names redirect to
	// the normalized, slashed form.
	g.Handle("GET", "/simple/{path:*}", rt("simple"), h.simple)

	// GET /pypi/files/<project>/<file>: a distribution file (Range, ETag);
	// <file>.metadata: its core metadata (PEP 658).
	g.Handle("GET", "/files/{project}/{file}", rt("file"), h.file)
	g.Handle("HEAD", "/files/{project}/{file}", rt("file"), h.file)

	// POST /pypi/ and /pypi/legacy/: the legacy upload API (twine, uv).
	g.Handle("POST", "/", rt("upload"), h.upload)
	g.Handle("POST", "/legacy/", rt("upload"), h.upload)

	// GET /pypi/pypi/<project>/json and /pypi/pypi/<project>/<version>/json:
	// PyPI's JSON project API.
	g.Handle("GET", "/pypi/{project}/json", rt("json_project"), h.jsonProject)
	g.Handle("GET", "/pypi/{project}/{version}/json", rt("json_release"), h.jsonRelease)

	// POST /pypi/manage/<project>/<version>/yank (optional JSON
	// {"reason": "..."}) and .../unyank: PEP 592 yanking.
	g.Handle("POST", "/manage/{project}/{version}/yank", rt("yank"), h.yank(true))
	g.Handle("POST", "/manage/{project}/{version}/unyank", rt("unyank"), h.yank(false))
	// DELETE /pypi/manage/<project>/<version>: delete a release; its file
	// names stay taken forever.
	g.Handle("DELETE", "/manage/{project}/{version}", rt("delete_release"), h.deleteRelease)
	// DELETE /pypi/manage/<project>: delete every release of a project; the
	// organization keeps the name.
	g.Handle("DELETE", "/manage/{project}", rt("delete_project"), h.deleteProject)
}
