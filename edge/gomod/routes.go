package gomod

import "entrepot/edge"

// routes: module paths hold slashes, so one route per method takes the
// whole tree and parse tells the requests apart:
//
//	GET|HEAD {module}/@v/list                 the known versions, one a line
//	GET|HEAD {module}/@latest                 the latest version's info (JSON)
//	GET|HEAD {module}/@v/{version}.info       a version's info (JSON)
//	GET|HEAD {module}/@v/{version}.mod        its go.mod
//	GET|HEAD {module}/@v/{version}.zip        its module zip
//	GET|HEAD sumdb/{name}/supported           200: the checksum database is proxied
//	GET|HEAD sumdb/{name}/latest|lookup/...|tile/...  the checksum database's API
func (h *Handler) routes(g *edge.Group) {
	rt := edge.Route{Protocol: Protocol, Name: "get", Render: render}
	g.Handle("GET", "/{path:*}", rt, h.get)
	g.Handle("HEAD", "/{path:*}", rt, h.get)
}
