// Package gomod serves Go modules under /go/: a GOPROXY (go help
// goproxy) that mirrors one upstream module proxy (UPSTREAM_GO), with
// the module path case encoding undone before anything is looked up,
// and a proxy of the checksum databases configured (UPSTREAM_GOSUMDB),
// so that a client whose only egress is this server still verifies
// every module against the checksum database.
//
// A module path prefix claimed by an organization (a claim of protocol
// "go", e.g. go.acme.example) never resolves upstream: its modules are
// hosted here or not found (the dependency-confusion guard).
//
// What is kept forever once verified: a canonical version's .info, .mod
// and .zip (the zip checked against golang.org/x/mod/zip's rules: file
// names under the module@version prefix, no zip-slip, size limits), and
// the checksum database's tiles. @v/list, @latest, non-canonical .info
// queries and the checksum database's latest tree are kept for the
// metadata TTL and served stale while the upstream fails.
package gomod

import (
	"entrepot/edge"
	"entrepot/upstream"
)

// Protocol is the protocol name: of routes, claims, repositories, tokens
// and the upstream client.
const Protocol = "go"

// Options tune the handler; the zero value is usable.
type Options struct {
	// SumDBs are the checksum database proxies by name (UPSTREAM_GOSUMDB's
	// name=url entries): only these names are served under /sumdb/.
	SumDBs map[string]*upstream.Client
}

// Handler serves the protocol. It is safe for concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
}

// New returns the handler. up is the upstream module proxy, nil when no
// mirror is configured.
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	return &Handler{r: r, up: up, opts: opts}
}

// Mount registers the routes under the group's prefix (/go).
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	h.routes(g)
}
