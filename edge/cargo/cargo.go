// Package cargo serves Rust's registry protocols under /cargo/: a sparse
// index at /cargo/index/ and the web API at /cargo/api/v1/crates, for
// crates published by organizations and for a caching mirror of one
// upstream sparse index (UPSTREAM_CARGO) for every name no organization
// claims.
//
// The index is one merged view: a claimed crate name resolves only against
// the hosted catalog (never upstream, even when a version is missing: the
// dependency-confusion guard), any other name against the upstream through
// the cache. The same index therefore works as an alternate registry
// ([registries.NAME]) and as a crates.io replacement
// ([source.crates-io] replace-with).
//
// Crate names compare as crates.io compares them: case-insensitively, with
// '-' and '_' equivalent. Claims, packages and collisions use the
// normalized name (lowercase, '_'); the index and the API show the name as
// first published.
//
// Every request takes the same path: parse, check the caller's permission
// once, then answer from the catalog and the blob store, or from the
// upstream through the cache. See README.md for the endpoints and client
// configuration.
package cargo

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/upstream"
)

// Protocol is the protocol name used in claims, repositories, token scopes
// and cache keys.
const Protocol = "cargo"

// Options tune a Handler. The zero value is usable.
type Options struct {
	// MaxIndexFile caps an upstream index file (default 64 MiB): it is
	// read whole to find a version's checksum.
	MaxIndexFile int64
}

// Handler serves the cargo protocols. It is safe for concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
	// mount is the mount point's public URL, set by Mount.
	mount edge.Mounted

	// index holds rendered hosted index files by normalized name, valid
	// while the package's serial is unchanged.
	index *edge.Shelf[renderedIndex]

	// private remembers, briefly, whether hosted crates exist that
	// anonymous callers may not read: then the index asks every caller to
	// authenticate.
	dl dlTemplate // the upstream's, from its config.json
	// versions remembers what findVersion found in an upstream index file,
	// by the file's digest and the version: immutable answers.
	versions *expirable.LRU[string, foundVersion]

	privateMu sync.Mutex   // one scan at a time
	privateAt atomic.Int64 // unix nanoseconds of the last scan, 0: none
	private   atomic.Bool
	privateGn atomic.Uint64 // bumped by a publish: a scan begun before it is not kept
}

// New returns the cargo handler over r. up is the upstream sparse index's
// client, nil when no mirror is configured (UPSTREAM_CARGO unset).
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	if opts.MaxIndexFile <= 0 {
		opts.MaxIndexFile = 64 << 20
	}
	h := &Handler{
		r:        r,
		up:       up,
		opts:     opts,
		index:    edge.NewShelf(r.Budget, "cargo.index", time.Hour, func(ri renderedIndex) int { return len(ri.id) + len(ri.body) }),
		versions: expirable.NewLRU[string, foundVersion](16384, nil, time.Hour),
	}
	r.OnChange(h.changed)
	return h
}

// resolve is the request's one decision and permission check on a crate
// name (edge.Resolve): hosted when its normalized form is claimed, else
// the upstream's. Without an upstream an unclaimed name is NotFound.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, name string, a auth.Action) (edge.Origin, error) {
	c := edge.Coords{Protocol: Protocol, Namespaces: []string{normalize(name)}, Name: name, Action: a,
		Unknown: "crate %s not found (no upstream registry is configured)"}
	if h.up != nil {
		c.Upstream = Protocol
	}
	return h.r.Resolve(ctx, c)
}

// Mount registers the routes (routes.go) on g, mounted at /cargo: the
// index and the web API's links are written under g's prefix.
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	h.mount = h.r.Base.Mount(g.Prefix())
	h.routes(g)
}
