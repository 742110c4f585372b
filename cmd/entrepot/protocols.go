package main

import (
	"strings"

	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/edge/cargo"
	"entrepot/edge/composer"
	"entrepot/edge/gomod"
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
	// mount registers the protocol's handler on a Group with prefix.
	// nil: not served yet, the name is only kept valid (token scopes,
	// reserved names).
	mount mountFunc
}

// mountFunc registers a protocol's handler on g; ups holds the upstream
// clients by name ("npm", "oci/<prefix>", ...).
type mountFunc func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group)

// protocols is the protocol table, the one list of the package protocols:
// what is mounted where, the UPSTREAM_ variables, auth's protocol names
// and reserved names, the claim rules and the API's GET /protocols (the
// dashboard's lists) are all derived from it. Adding a protocol is a
// package and a row here.
var protocols = []protocol{
	{name: npm.Protocol, title: "npm", prefix: "/npm", upstream: "UPSTREAM_NPM", claim: npm.NormalizeClaim, mount: withUpstream(npm.Protocol, npm.New, npm.Options{})},
	{name: "oci", title: "OCI", prefix: "", reserves: []string{"v2"}, claim: oci.NormalizeClaim, mount: mountOCI},
	{name: pypi.Protocol, title: "PyPI", prefix: "/pypi", upstream: "UPSTREAM_PYPI", claim: pypi.NormalizeClaim, mount: withUpstream(pypi.Protocol, pypi.New, pypi.Options{})},
	{name: cargo.Protocol, title: "Cargo", prefix: "/cargo", upstream: "UPSTREAM_CARGO", claim: cargo.NormalizeClaim, mount: withUpstream(cargo.Protocol, cargo.New, cargo.Options{})},
	{name: maven.Protocol, title: "Maven", prefix: "/maven2", upstream: "UPSTREAM_MAVEN", claim: maven.NormalizeClaim, mount: withUpstream(maven.Protocol, maven.New, maven.Options{})},
	{name: composer.Protocol, title: "Composer", prefix: "/composer", upstream: "UPSTREAM_COMPOSER", claim: composer.NormalizeClaim, mount: withUpstream(composer.Protocol, composer.New, composer.Options{})},
	{name: rubygems.Protocol, title: "RubyGems", prefix: "/rubygems", upstream: "UPSTREAM_RUBYGEMS", claim: rubygems.NormalizeClaim, mount: withUpstream(rubygems.Protocol, rubygems.New, rubygems.Options{})},
	{name: gomod.Protocol, title: "Go", prefix: "/go", upstream: "UPSTREAM_GO", claim: gomod.NormalizeClaim, mount: mountGo},
}

// mountOCI mounts OCI, which takes every "oci/<prefix>" upstream.
func mountOCI(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
	oci.New(r, oci.Mirrors(ups), oci.Options{}).Mount(g)
}

// mountGo mounts Go modules, which take the "go" upstream and every
// "gosumdb/<name>" checksum database (UPSTREAM_GOSUMDB).
func mountGo(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
	dbs := map[string]*upstream.Client{}
	for n, c := range ups {
		if name, ok := strings.CutPrefix(n, "gosumdb/"); ok {
			dbs[name] = c
		}
	}
	gomod.New(r, ups[gomod.Protocol], gomod.Options{SumDBs: dbs}).Mount(g)
}

// mounter is a protocol's handler.
type mounter interface{ Mount(g *edge.Group) }

// withUpstream is the mount of a protocol whose constructor takes its one
// upstream client, the one named name (nil: no mirror).
func withUpstream[O any, H mounter](name string, newH func(*edge.Registry, *upstream.Client, O) H, opts O) mountFunc {
	return func(r *edge.Registry, ups map[string]*upstream.Client, g *edge.Group) {
		newH(r, ups[name], opts).Mount(g)
	}
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
