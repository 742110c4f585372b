// Package pypi serves the Python package index protocols under /pypi/:
// the simple repository API (PEP 503 HTML and PEP 691 JSON) that pip and
// uv read, the legacy upload API that twine writes to, and a JSON project
// API in the shape of PyPI's, for hosted projects published by
// organizations and for a caching mirror of one upstream simple index.
//
// Every request takes the same path: parse the URL into a project name (and
// a file), resolve the name (hosted first: a project belongs to the
// organization that first uploaded it, which the upstream must not have,
// or that claimed it; a claimed name never resolves upstream, even for a
// version it lacks), check the caller's permission once, then answer from
// the hosted catalog or from the upstream through the cache.
//
// Hosted files and their core metadata (PEP 658: a wheel's METADATA,
// extracted at upload into a blob of its own) are streamed from the blob
// store; a hosted page is built once per change of its project (the
// package's serial) and kept in memory. Upstream project pages are cached with a TTL and revalidated;
// every file link on them is rewritten to point back at the edge, and
// files are filled once, verified against the sha256 the page promised.
//
// See README.md for the endpoints and client configuration.
package pypi

import (
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/upstream"
)

// Protocol is the protocol name used in claims, repositories, token scopes
// and cache keys.
const Protocol = "pypi"

// Options tune a Handler. The zero value is usable.
type Options struct {
	// MaxPage caps an upstream project page (default 64 MiB): it is parsed
	// in memory to be rewritten.
	MaxPage int64
	// MaxMetadata caps a wheel's METADATA file (default 8 MiB).
	MaxMetadata int64
}

// Handler serves the PyPI protocols. It is safe for concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
	// mount is the mount point: its path (Location headers) and public
	// URL (links in pages), set by Mount.
	mount edge.Mounted
	// pages holds parsed upstream pages by the digest of the cached bytes,
	// so that a hot page is not parsed again.
	pages *edge.Shelf[*page]
	// built holds hosted pages by project name, valid while the
	// package's serial is the page's. Pages are never changed once built.
	built *edge.Shelf[*page]
}

// New returns the PyPI handler over r. up is the upstream simple index's
// client, nil when no mirror is configured (UPSTREAM_PYPI unset).
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	if opts.MaxPage <= 0 {
		opts.MaxPage = 64 << 20
	}
	if opts.MaxMetadata <= 0 {
		opts.MaxMetadata = 8 << 20
	}
	return &Handler{r: r, up: up, opts: opts,
		pages: edge.NewShelf(r.Budget, "pypi.pages", 0, (*page).weight),
		built: edge.NewShelf(r.Budget, "pypi.built", 0, (*page).weight)}
}

// resolve is the request's one decision and permission check on a
// normalized project name (edge.Resolve): a claimed name is hosted only
// (the dependency-confusion guard), anything else is the mirror's.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, name string) (edge.Origin, error) {
	return h.r.Resolve(ctx, h.coords(name, auth.Read))
}

// coords are name's coordinates for edge.Resolve.
func (h *Handler) coords(name string, a auth.Action) edge.Coords {
	c := edge.Coords{Protocol: Protocol, Namespaces: []string{name}, Name: name, Action: a,
		Unknown: "project %s not found (no upstream index is configured)"}
	if h.up != nil {
		c.Upstream = Protocol
	}
	return c
}
