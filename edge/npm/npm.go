// Package npm serves the npm registry protocol under /npm/: hosted
// packages published by organizations, and a caching mirror of one
// upstream npm registry for every name no organization claims.
//
// Every request takes the same path: parse the URL into a Name (and a
// version or file), resolve the name (hosted first: a scope belongs to the
// organization of the same name, an unscoped name to the organization
// that first published it, which the upstream must not have, or that
// claimed it; a claimed name never resolves upstream), check
// the caller's permission once, then answer from the hosted catalog or
// from the upstream through the cache.
//
// Packuments are prepared once per change (hosted) or fill (mirrored) and
// per base URL: the JSON, its gzip and its ETag are held in an LRU, so a
// hot GET re-encodes nothing. Tarballs are streamed from the blob store.
//
// The wire format follows what the real npm CLI sends and expects; see
// README.md for the endpoints and client configuration.
package npm

import (
	"bytes"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/singleflight"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// Protocol is the protocol name used in claims, repositories, token scopes
// and cache keys.
const Protocol = "npm"

// Options tune a Handler. The zero value is usable.
type Options struct {
	// MaxPackument caps an upstream packument (default 256 MiB): it is
	// parsed in memory to be rewritten.
	MaxPackument int64
}

// Handler serves the npm protocol. It is safe for concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
	docs *documents
	// mount is the mount point's public URL, set by Mount.
	mount edge.Mounted
	// files remembers hosted tarballs' digests by catalog path, briefly:
	// an unpublish is seen at once through the change feed (changed), and
	// within the TTL without one.
	files *expirable.LRU[string, blob.Digest]
	// index holds what mirrored packuments promise about their tarballs.
	index *edge.Shelf[*index]
	// prep makes one preparation of a cold mirrored document.
	prep singleflight.Group
	// audits holds recent upstream audit answers (audit.go).
	audits *auditCache
}

// New returns the npm handler over r. up is the upstream registry's
// client, nil when no mirror is configured (UPSTREAM_NPM unset).
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	if opts.MaxPackument <= 0 {
		opts.MaxPackument = 256 << 20
	}
	h := &Handler{
		r:      r,
		up:     up,
		opts:   opts,
		docs:   newDocuments(r.Budget),
		files:  expirable.NewLRU[string, blob.Digest](65536, nil, 5*time.Second),
		index:  edge.NewShelf(r.Budget, "npm.index", 0, (*index).weight),
		audits: newAuditCache(),
	}
	r.OnChange(h.changed)
	return h
}

// coords are n's coordinates for edge.Resolve: its scope (which the
// organization of that name owns) and then the name itself may be
// claimed; anything else is the mirror's.
func (h *Handler) coords(n Name, a auth.Action) edge.Coords {
	c := edge.Coords{Protocol: Protocol, Namespaces: []string{n.String()}, Name: n.String(), Action: a,
		Unknown: "%s is not published here and no upstream registry is configured"}
	if n.Scope != "" {
		c.Namespaces, c.Owner = []string{n.ScopeNamespace(), n.String()}, n.Scope
	}
	if h.up != nil {
		c.Upstream = Protocol
	}
	return c
}

// resolve is the request's one decision and permission check on n
// (edge.Resolve). Mirrored content is read-only.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, n Name, a auth.Action) (edge.Origin, error) {
	return h.r.Resolve(ctx, h.coords(n, a))
}

// resolvePath is resolve of the package the path names (nameOf).
func (h *Handler) resolvePath(ctx *fasthttp.RequestCtx, a auth.Action) (Name, edge.Origin, error) {
	n, err := nameOf(ctx)
	if err != nil {
		return n, edge.Origin{}, err
	}
	o, err := h.resolve(ctx, n, a)
	return n, o, err
}

// forget drops what this process remembers of n after a change.
func (h *Handler) forget(n Name) {
	h.r.Forget(Protocol, n.String(), n.ScopeNamespace())
	h.docs.forgetHosted(n.String())
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }

// packument is GET /<name>: resolve, check read once, answer from the
// hosted catalog or the mirror.
func (h *Handler) packument(ctx *fasthttp.RequestCtx) error {
	n, err := nameOf(ctx)
	if err != nil {
		return err
	}
	return h.servePackument(ctx, n)
}

// packumentOrVersion is GET /<a>/<b>: "@scope/name" is a scoped
// packument, "name/1.0.0" (or "name/latest") one version's manifest.
func (h *Handler) packumentOrVersion(ctx *fasthttp.RequestCtx) error {
	first, _ := ctx.UserValue("name").(string)
	second, _ := ctx.UserValue("base").(string)
	if isScope(first) {
		n, err := ParseScopedName(first, second)
		if err != nil {
			return err
		}
		return h.servePackument(ctx, n)
	}
	n, err := ParseName(first)
	if err != nil {
		return err
	}
	return h.serveVersion(ctx, n, second)
}

// scopedVersion is GET /@scope/<name>/<version|tag>.
func (h *Handler) scopedVersion(ctx *fasthttp.RequestCtx) error {
	n, err := nameOf(ctx)
	if err != nil {
		return err
	}
	spec, _ := ctx.UserValue("version").(string)
	return h.serveVersion(ctx, n, spec)
}

// wantsAbbreviated reports whether the client asks for the abbreviated
// packument (npm install does; npm view and the write path do not).
func wantsAbbreviated(ctx *fasthttp.RequestCtx) bool {
	return bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte(typeAbbreviated)) &&
		!ctx.QueryArgs().Has("write")
}

func (h *Handler) servePackument(ctx *fasthttp.RequestCtx, n Name) error {
	o, err := h.resolve(ctx, n, auth.Read)
	if err != nil {
		return err
	}
	abbreviated := wantsAbbreviated(ctx)
	if !o.Hosted {
		return h.proxyPackument(ctx, n, abbreviated)
	}
	d, err := h.hostedDocument(ctx, n, abbreviated)
	if err != nil {
		return err
	}
	d.Serve(ctx)
	return nil
}

func (h *Handler) serveVersion(ctx *fasthttp.RequestCtx, n Name, rawSpec string) error {
	spec, err := url.PathUnescape(rawSpec)
	if err != nil {
		return fault.Newf("npm.serveVersion", fault.NotFound, "version %q not found", rawSpec)
	}
	o, err := h.resolve(ctx, n, auth.Read)
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedVersion(ctx, n, spec)
	}
	return h.proxyVersion(ctx, n, spec)
}

// tarball is GET /<name>/-/<file>.
func (h *Handler) tarball(ctx *fasthttp.RequestCtx) error {
	n, o, err := h.resolvePath(ctx, auth.Read)
	if err != nil {
		return err
	}
	file, _ := ctx.UserValue("file").(string)
	if o.Hosted {
		return h.hostedTarball(ctx, n, file)
	}
	return h.proxyTarball(ctx, n, file)
}
