package main

import (
	"entrepot/edge"
	"entrepot/upstream"
)

// mount registers every protocol package and the management API on mux,
// explicitly: the set of protocols is closed, so there is no registry of
// modules to discover. ups holds the configured upstream clients, named
// by protocol ("npm", "pypi", ..., "oci/<prefix>").
func mount(mux *edge.Mux, r *edge.Registry, ups map[string]*upstream.Client) {
}
