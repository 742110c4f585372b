package main

import (
	"strings"

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

// protocol is one row of the protocol table: everything the program
// knows of a package protocol outside its package.
type protocol struct {
	name  string // as repositories, token scopes, claims and metrics name it
	title string // as people read it (the dashboard)
	// prefix is the mount point; "" mounts at the root (OCI, whose paths
	// start with /v2 by specification). Its first segment is reserved:
	// no organization, team or repository may take it.
	prefix string
	// reserves are further names no organization may take, those of
	// paths the protocol serves outside its prefix.
	reserves []string
	// upstream is the variable holding the protocol's one upstream URL
	// (no mirror when unset); "" when it has none, or its own setting
	// (UPSTREAM_OCI's prefix=url list, in config.go).
	upstream string
	claim    api.ClaimRule // explicit namespace claims; nil takes none
	// mount registers the protocol's handler on g (a Group with prefix);
	// ups holds the upstream clients by name. nil: not served yet, the
	// name is only kept valid (token scopes, reserved names).
	mount func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group)
}

// protocols is the protocol table, the one list of the package protocols:
// what is mounted where, the UPSTREAM_ variables, auth's protocol names
// and reserved names, the claim rules and the API's GET /protocols (the
// dashboard's lists) are all derived from it. Adding a protocol is a
// package and a row here.
var protocols = []protocol{
	{name: npm.Protocol, title: "npm", prefix: "/npm", upstream: "UPSTREAM_NPM", claim: npm.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			npm.New(r, ups[npm.Protocol], npm.Options{}).Mount(g)
		}},
	{name: "oci", title: "OCI", prefix: "", reserves: []string{"v2"}, claim: oci.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			oci.New(r, oci.Mirrors(ups), oci.Options{}).Mount(g)
		}},
	{name: pypi.Protocol, title: "PyPI", prefix: "/pypi", upstream: "UPSTREAM_PYPI", claim: pypi.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			pypi.New(r, ups[pypi.Protocol], pypi.Options{}).Mount(g)
		}},
	{name: cargo.Protocol, title: "Cargo", prefix: "/cargo", upstream: "UPSTREAM_CARGO", claim: cargo.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			cargo.New(r, ups[cargo.Protocol], cargo.Options{}).Mount(g)
		}},
	{name: maven.Protocol, title: "Maven", prefix: "/maven2", upstream: "UPSTREAM_MAVEN", claim: maven.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			maven.New(r, ups[maven.Protocol], maven.Options{}).Mount(g)
		}},
	{name: composer.Protocol, title: "Composer", prefix: "/composer", upstream: "UPSTREAM_COMPOSER", claim: composer.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			composer.New(r, ups[composer.Protocol], composer.Options{}).Mount(g)
		}},
	{name: rubygems.Protocol, title: "RubyGems", prefix: "/rubygems", upstream: "UPSTREAM_RUBYGEMS", claim: rubygems.NormalizeClaim,
		mount: func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
			rubygems.New(r, ups[rubygems.Protocol], rubygems.Options{}).Mount(g)
		}},
	// Go modules: the next protocol; its name is valid in token scopes
	// and reserved already.
	{name: "go", title: "Go", prefix: "/go"},
}

// protocolNames are the table's names, in its order: auth's protocols.
func protocolNames() []string {
	out := make([]string, len(protocols))
	for i, p := range protocols {
		out[i] = p.name
	}
	return out
}

// reservedNames are the names the protocols hold besides their own: the
// first segment of each mount point and the names they reserve.
func reservedNames() []string {
	var out []string
	for _, p := range protocols {
		if seg, _, _ := strings.Cut(strings.TrimPrefix(p.prefix, "/"), "/"); seg != "" && seg != p.name {
			out = append(out, seg)
		}
		out = append(out, p.reserves...)
	}
	return out
}

// apiOptions are the API's options from the table: the claim rules and
// the protocol list of GET /protocols.
func apiOptions() api.Options {
	o := api.Options{Claims: map[string]api.ClaimRule{}}
	for _, p := range protocols {
		if p.claim != nil {
			o.Claims[p.name] = p.claim
		}
		o.Protocols = append(o.Protocols, api.Protocol{Name: p.name, Title: p.title, Prefix: p.prefix, Served: p.mount != nil})
	}
	return o
}
