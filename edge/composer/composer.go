// Package composer serves Composer (PHP) repositories at /composer/: an
// organization's private packages, published by uploading their zip
// archive, and a caching mirror of one Packagist-style repository
// (UPSTREAM_COMPOSER), behind one repository URL of type "composer".
//
// The repository speaks Composer 2's protocol: packages.json names the
// metadata-url, and p2/VENDOR/PACKAGE.json (tagged versions) and
// p2/VENDOR/PACKAGE~dev.json (branches) list a package's versions in the
// minified form, every dist pointing back at the edge. A vendor (acme/*)
// belongs to the organization of the same name: its packages resolve
// against hosted ones only, never upstream, even when a version is missing.
//
// Routes, relative to the mount point, are in routes.go; user-facing
// documentation is README.md.
package composer

import (
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// Protocol is the protocol's name in routes, claims, repositories and
// token scopes.
const Protocol = "composer"

// Options tune a Handler. The zero value is usable.
type Options struct {
	// MaxMetadataSize caps an upstream metadata document (default 64 MiB).
	MaxMetadataSize int64
	// MaxManifestSize caps the composer.json of an upload (default 1 MiB).
	MaxManifestSize int64
	// MaxExpandedSize caps the total uncompressed size of an uploaded
	// archive (default 16 × the upload limit, at least 1 GiB).
	MaxExpandedSize int64
	// MaxEntries caps the number of entries in an uploaded archive
	// (default 100000).
	MaxEntries int
}

// Handler answers the Composer repository's requests. It is safe for
// concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
	// mount is the mount point's public URL, set by Mount.
	mount edge.Mounted

	// docs holds rendered p2 documents: hosted ones keyed by package
	// serial, mirrored ones by the upstream document's digest, both with
	// the base URL they were written for.
	docs *edge.Shelf[[]byte]
	// parsed holds upstream documents parsed for dist look-ups and the
	// upstream's metadata-url, keyed by blob digest.
	parsed *edge.Shelf[any]

	downloads sync.Map // name → *atomic.Int64, notify-batch counts since start
}

// New returns a Handler over r. up is the upstream repository, nil when
// no mirror is configured.
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	if opts.MaxMetadataSize <= 0 {
		opts.MaxMetadataSize = 64 << 20
	}
	if opts.MaxManifestSize <= 0 {
		opts.MaxManifestSize = 1 << 20
	}
	if opts.MaxExpandedSize <= 0 {
		opts.MaxExpandedSize = max(16*r.MaxUpload, 1<<30)
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100000
	}
	h := &Handler{
		r:      r,
		up:     up,
		opts:   opts,
		docs:   edge.NewShelf(r.Budget, "composer.docs", 10*time.Minute, func(b []byte) int { return len(b) }),
		parsed: edge.NewShelf(r.Budget, "composer.parsed", 10*time.Minute, parsedWeight),
	}
	return h
}

// resolve is the request's one decision and permission check on vendor's
// packages (edge.Resolve): a claimed vendor, or one an organization is
// named after, is hosted and never goes upstream (the
// dependency-confusion guard); anything else is the mirror's, NotFound
// when there is none.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, vendor string) (edge.Origin, error) {
	c := edge.Coords{Protocol: Protocol, Namespaces: []string{vendor}, Owner: vendor, Name: vendor, Action: auth.Read,
		Unknown: "no package of vendor %q is hosted here, and no Composer upstream is configured"}
	if h.up != nil {
		c.Upstream = Protocol
	}
	return h.r.Resolve(ctx, c)
}

// param returns a path parameter as a string.
func param(ctx *fasthttp.RequestCtx, name string) string {
	v, _ := ctx.UserValue(name).(string)
	return v
}

// metadata answers p2/VENDOR/PACKAGE.json and ~dev.json.
func (h *Handler) metadata(ctx *fasthttp.RequestCtx) error {
	req, err := parseMetadata(param(ctx, "vendor"), param(ctx, "file"))
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, vendorOf(req.Name))
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedMetadata(ctx, req)
	}
	return h.mirrorMetadata(ctx, req)
}

// provider answers Composer 1's p/VENDOR/PACKAGE.json for a hosted
// package. A mirrored one is Composer 2's only: the upstreams Entrepot
// mirrors serve Composer 1's files from provider listings this edge does
// not keep.
func (h *Handler) provider(ctx *fasthttp.RequestCtx) error {
	req, err := parseProvider(param(ctx, "vendor"), param(ctx, "file"))
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, vendorOf(req.Name))
	if err != nil {
		return err
	}
	if !o.Hosted {
		return fault.Newf("composer.provider", fault.NotFound, "%s is mirrored: its metadata is served to Composer 2 (p2/), Composer 1's provider files are served for hosted packages only", req.Name)
	}
	return h.hostedMetadata(ctx, req)
}

// dist answers a dist archive request.
func (h *Handler) dist(ctx *fasthttp.RequestCtx) error {
	req, err := parseDist(param(ctx, "vendor"), param(ctx, "package"), param(ctx, "ref"), param(ctx, "file"))
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, vendorOf(req.Name))
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedDist(ctx, req)
	}
	return h.mirrorDist(ctx, req)
}

// writeJSON answers a JSON document, with its Last-Modified when known
// (edge.ServeDocument: validators, 304, gzip).
func writeJSON(ctx *fasthttp.RequestCtx, doc []byte, lastModified time.Time) {
	edge.ServeDocument(ctx, doc, edge.DocOptions{ContentType: "application/json", LastModified: lastModified})
}

// parsedWeight is about what a parsed upstream document holds in memory:
// a metadata-url template, or the dists of a package's versions.
func parsedWeight(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case map[string]dist:
		return 64 + 256*len(v)
	}
	return 256
}
