package main

import (
	adminui "entrepot/admin-ui"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/edge/cargo"
	"entrepot/edge/composer"
	"entrepot/edge/maven"
	"entrepot/edge/npm"
	"entrepot/edge/oci"
	"entrepot/edge/pypi"
	"entrepot/edge/rubygems"
	"entrepot/upstream"
)

// mount registers every protocol package and the management API on mux,
// explicitly: the set of protocols is closed, so there is no registry of
// modules to discover. ups holds the configured upstream clients, named
// by protocol ("npm", "pypi", ..., "oci/<prefix>").
func mount(mux *edge.Mux, r *edge.Registry, ups map[string]*upstream.Client) {
	adminui.New(adminui.Options{}).Mount(mux.Group(""))
	api.New(r, api.Options{Claims: map[string]api.ClaimRule{cargo.Protocol: cargo.NormalizeClaim, composer.Protocol: composer.NormalizeClaim, maven.Protocol: maven.NormalizeClaim, npm.Protocol: npm.NormalizeClaim, "oci": oci.NormalizeClaim, pypi.Protocol: pypi.NormalizeClaim, rubygems.Protocol: rubygems.NormalizeClaim}}).Mount(mux.Group(api.Prefix))
	cargo.New(r, ups[cargo.Protocol], cargo.Options{}).Mount(mux.Group(""))
	composer.New(r, ups[composer.Protocol], composer.Options{}).Mount(mux.Group("/composer"))
	maven.New(r, ups[maven.Protocol], maven.Options{}).Mount(mux.Group("/maven2"))
	npm.New(r, ups[npm.Protocol], npm.Options{}).Mount(mux.Group("/npm"))
	oci.New(r, oci.Mirrors(ups), oci.Options{}).Mount(mux.Group(""))
	pypi.New(r, ups[pypi.Protocol], pypi.Options{}).Mount(mux.Group("/pypi"))
	rubygems.New(r, ups[rubygems.Protocol], rubygems.Options{}).Mount(mux.Group("/rubygems"))
}
