package main

import (
	adminui "entrepot/admin-ui"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/edge/policy"
	"entrepot/hosted/cleanup"
	"entrepot/upstream"
)

// mount registers the dashboard, the management API and every protocol of
// the table on mux, explicitly: the set of protocols is closed, so there
// is no registry of modules to discover. ups holds the configured
// upstream clients, named by protocol ("npm", "pypi", ...,
// "oci/<prefix>"); cl applies the cleanup policies the API sets (nil:
// none); pol keeps the supply-chain policy rules (nil: none).
func mount(mux *edge.Mux, r *edge.Registry, ups map[string]*upstream.Client, cl *cleanup.Runner, pol *policy.Engine) {
	adminui.New(adminui.Options{}).Mount(mux.Group(""))
	o := apiOptions()
	o.Cleanup = cl
	o.Policy = pol
	api.New(r, o).Mount(mux.Group(api.Prefix))
	for _, p := range protocols {
		if p.mount != nil {
			p.mount(r, ups, mux.Group(p.prefix))
		}
	}
}
