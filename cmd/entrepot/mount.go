package main

import (
	adminui "entrepot/admin-ui"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/upstream"
)

// mount registers the dashboard, the management API and every protocol of
// the table on mux, explicitly: the set of protocols is closed, so there
// is no registry of modules to discover. ups holds the configured
// upstream clients, named by protocol ("npm", "pypi", ...,
// "oci/<prefix>").
func mount(mux *edge.Mux, r *edge.Registry, ups map[string]*upstream.Client) {
	adminui.New(adminui.Options{}).Mount(mux.Group(""))
	api.New(r, apiOptions()).Mount(mux.Group(api.Prefix))
	for _, p := range protocols {
		if p.mount != nil {
			p.mount(r, ups, mux.Group(p.prefix))
		}
	}
}
