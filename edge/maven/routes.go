package maven

import "entrepot/edge"

// Mount registers the repository's routes on g, the group of the mount
// point (/maven2). Maven's layout is one tree of paths, so one route per
// method takes them all and Parse tells them apart:
//
//	GET|HEAD {group}/{artifact}/{version}/{artifact}-{version}[-{classifier}].{ext}[.md5|.sha1|.sha256|.sha512]
//	                                            an artifact (also .asc), or its checksum
//	GET|HEAD {group}/{artifact}/maven-metadata.xml[.sha1|...]
//	                                            artifact-level metadata (versions, latest, release)
//	GET|HEAD {group}/{artifact}/{version}-SNAPSHOT/maven-metadata.xml[.sha1|...]
//	                                            snapshot metadata (timestamped builds)
//	PUT      any of the above                   deploy a file, a checksum, or metadata to reconcile
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	rt := func(name string) edge.Route { return edge.Route{Protocol: Protocol, Name: name, Render: Render} }
	g.Handle("GET", "/{path:*}", rt("get"), h.get)
	g.Handle("HEAD", "/{path:*}", rt("get"), h.get)
	g.Handle("PUT", "/{path:*}", rt("deploy"), h.put)
}
