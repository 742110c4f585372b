// Package oci serves the OCI Distribution API v1.1 at /v2/: hosted
// repositories that docker, podman, skopeo, oras, crane and helm push to
// and pull from, and pull-through mirrors of upstream registries mounted
// under configured prefixes (/v2/hub/library/nginx/... pulls through the
// upstream named "hub").
//
// A repository's first path segment is its organization (acme/team/app
// belongs to acme); a mirror prefix is reserved and wins over an
// organization of the same name. Clients authenticate as with any
// registry: an anonymous request is challenged to fetch a short-lived
// token from /v2/token with Basic credentials (a password or an srg_ API
// token), and then sends "Authorization: Bearer <token>"; Basic
// credentials are accepted directly too.
//
// Storage layout (store.go): manifests, tags, repository blob links and
// upload sessions are records in the metadata store; manifest and blob
// bytes live in the content-addressed blob store under their sha256 (a
// sha512 digest maps to it through its link record); the chunks of
// unfinished uploads are scratch objects of the blob store, so that every
// edge sharing the stores takes any request of any upload (upload.go).
package oci

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/blob"
	"entrepot/upstream"
)

// Options tune the handler. The zero value is ready to use.
type Options struct {
	// MaxBlobSize bounds one blob (layer) upload; default 10 GiB. Layers
	// are streamed to a spool file, never held in memory.
	MaxBlobSize int64
	// MaxManifestSize bounds a manifest; default 4 MiB, the spec's figure.
	MaxManifestSize int64
	// UploadTTL is how long an upload session lives without activity
	// before it is swept with its partial data; default 24 h.
	UploadTTL time.Duration
	// SweepInterval is how often expired sessions are swept; default 10 m.
	SweepInterval time.Duration
	// TokenTTL is the lifetime of the registry tokens /v2/token issues;
	// default 5 minutes.
	TokenTTL time.Duration
	// ChunkMinLength is advertised as OCI-Chunk-Min-Length: the smallest
	// chunk a client should send in a chunked upload (0: no minimum).
	ChunkMinLength int64
	// MaxPage bounds the n of tag and catalog lists; default 1000.
	MaxPage int
}

// Handler serves /v2/. Create it with New and register it with Mount. It
// is safe for concurrent use.
type Handler struct {
	r       *edge.Registry
	mirrors map[string]*mirror
	opts    Options
	// scratch holds the chunks of upload sessions: the blob store's
	// blob.Scratch, which both stores have (nil refuses uploads in
	// sessions).
	scratch blob.Scratch

	stop chan struct{}
	once sync.Once
}

// New returns the handler over r. mirrors holds the pull-through
// upstreams by prefix (see Mirrors); nil or empty means none.
func New(r *edge.Registry, mirrors map[string]*upstream.Client, opts Options) *Handler {
	if opts.MaxBlobSize <= 0 {
		opts.MaxBlobSize = 10 << 30
	}
	if opts.MaxManifestSize <= 0 {
		opts.MaxManifestSize = 4 << 20
	}
	if opts.UploadTTL <= 0 {
		opts.UploadTTL = 24 * time.Hour
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 10 * time.Minute
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 5 * time.Minute
	}
	if opts.MaxPage <= 0 {
		opts.MaxPage = 1000
	}
	h := &Handler{
		r:       r,
		mirrors: map[string]*mirror{},
		opts:    opts,
		stop:    make(chan struct{}),
	}
	h.scratch, _ = r.Blobs.(blob.Scratch)
	for prefix, c := range mirrors {
		h.mirrors[prefix] = newMirror(prefix, c)
	}
	return h
}

// Mirrors picks the OCI upstreams out of the clients cmd/entrepot
// configures ("oci/<prefix>" → prefix).
func Mirrors(ups map[string]*upstream.Client) map[string]*upstream.Client {
	out := map[string]*upstream.Client{}
	for name, c := range ups {
		if p, ok := strings.CutPrefix(name, "oci/"); ok {
			out[p] = c
		}
	}
	return out
}

// Prefixes lists the configured mirror prefixes, sorted.
func (h *Handler) Prefixes() []string {
	var out []string
	for p := range h.mirrors {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Mount registers the routes on g (a Group without prefix: the spec fixes
// /v2/) and starts the sweeper of expired upload sessions, which runs
// until Close.
func (h *Handler) Mount(g *edge.Group) {
	// NAME_UNKNOWN, whichever mirrors there are.
	g.ConcealReads("oci", false)
	for _, rt := range h.routes() {
		next := rt.h
		g.Handle(rt.method, rt.path, edge.Route{Protocol: "oci", Name: rt.name, Render: h.render}, func(ctx *fasthttp.RequestCtx) error {
			// Clients take it as the sign of a v2 registry, errors included.
			ctx.Response.Header.Set("Docker-Distribution-API-Version", "registry/2.0")
			return next(ctx)
		})
	}
	go h.sweepLoop()
}

// Close stops the sweeper.
func (h *Handler) Close() { h.once.Do(func() { close(h.stop) }) }

func (h *Handler) sweepLoop() {
	t := time.NewTicker(h.opts.SweepInterval)
	defer t.Stop()
	// A sweep serves no request: it runs under its own deadline.
	sweep := func(now time.Time) {
		ctx, cancel := context.WithTimeout(context.Background(), h.opts.SweepInterval)
		defer cancel()
		h.Sweep(ctx, now)
	}
	sweep(time.Now())
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			sweep(now)
		}
	}
}
