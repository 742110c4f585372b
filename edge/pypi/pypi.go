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
	"context"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
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
	// Pages is how many parsed upstream pages, and how many built hosted
	// pages, are held in memory (default 1024 each).
	Pages int
}

// Handler serves the PyPI protocols. It is safe for concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
	// mount is the mount point: its path (Location headers) and public
	// URL (links in pages), set by Mount.
	prefix string
	mount  edge.Mounted
	// pages holds parsed upstream pages by the digest of the cached bytes,
	// so that a hot page is not parsed again.
	pages *lru.Cache[string, *page]
	// built holds hosted pages by project name, valid while the
	// package's serial is the page's. Pages are never changed once built.
	built *lru.Cache[string, *page]
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
	if opts.Pages <= 0 {
		opts.Pages = 1024
	}
	pages, _ := lru.New[string, *page](opts.Pages)
	built, _ := lru.New[string, *page](opts.Pages)
	return &Handler{r: r, up: up, opts: opts, pages: pages, built: built}
}

// origin is where a project resolves.
type origin struct {
	hosted bool
	claim  hosted.Claim
	ref    auth.RepoRef
}

// resolve decides where the normalized project name lives and checks, once,
// that the caller may read it: a claimed name is hosted only (the
// dependency-confusion guard), anything else is the mirror's.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, name string) (origin, error) {
	const op = "pypi.resolve"
	cl, ref, ok, err := h.r.Hosted(context.Background(), Protocol, name)
	if err != nil {
		return origin{}, fault.Op(op, err)
	}
	if ok {
		if _, err := h.r.May(ctx, ref, auth.Read); err != nil {
			return origin{}, err
		}
		return origin{hosted: true, claim: cl, ref: ref}, nil
	}
	if _, err := h.r.MayMirror(ctx, Protocol); err != nil {
		return origin{}, err
	}
	if h.up == nil {
		return origin{}, fault.Newf(op, fault.NotFound, "project %s not found (no upstream index is configured)", name)
	}
	return origin{}, nil
}
