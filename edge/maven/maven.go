// Package maven serves a Maven 2 repository under /maven2/: artifacts
// deployed by organizations (releases, immutable, and SNAPSHOTs, with
// timestamped builds) and a caching mirror of one upstream Maven
// repository for every groupId no organization claims.
//
// Every request takes the same path: parse the URL into coordinates (a
// file of a version, or a maven-metadata.xml, or a checksum of either),
// resolve the groupId (hosted first: a claim on a groupId covers it and
// every groupId below it, and a claimed groupId never resolves upstream;
// a first deploy claims its exact groupId, unless the upstream has it),
// check the caller's permission once, then answer from the hosted catalog
// or from the upstream through the cache.
//
// Hosted maven-metadata.xml is never stored: it is generated from the
// stored files on every request, so that concurrent deploys cannot lose a
// version, and what clients upload is checked and set aside. Checksums
// (md5, sha1, sha256, sha512) are computed at upload, for hosted and
// mirrored files alike.
//
// The wire format follows what Maven's resolver sends and expects; see
// README.md for the endpoints and client configuration.
package maven

import (
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// Protocol is the protocol name used in claims, repositories, token scopes
// and cache keys.
const Protocol = "maven"

// Options tune a Handler. The zero value is usable.
type Options struct {
	// MaxDocument caps a POM or maven-metadata.xml, which are read into
	// memory to be checked (default 8 MiB).
	MaxDocument int64
	// WithdrawWindow is how long after an upload a checksum that
	// contradicts it, sent by the same user, withdraws the file as
	// corrupted in transit (default 1h). Later, a contradicting checksum is
	// only refused: a writer must not be able to delete a release.
	WithdrawWindow time.Duration
}

// Handler serves the Maven repository protocol. It is safe for concurrent
// use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
}

// New returns the Maven handler over r. up is the upstream repository's
// client, nil when no mirror is configured (UPSTREAM_MAVEN unset).
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	if opts.MaxDocument <= 0 {
		opts.MaxDocument = 8 << 20
	}
	if opts.WithdrawWindow <= 0 {
		opts.WithdrawWindow = time.Hour
	}
	return &Handler{r: r, up: up, opts: opts}
}

// where are c's coordinates for edge.Resolve: a claim on any groupId
// prefix of the path (the longest wins) makes it hosted, and then it
// never goes upstream, even when the file is missing: that is the
// dependency-confusion guard.
func (h *Handler) where(c Coords, a auth.Action) edge.Coords {
	w := edge.Coords{Protocol: Protocol, Namespaces: c.Groups(), Name: c.Target, Action: a,
		Unknown: "%s is not hosted here and no upstream repository is configured"}
	if h.up != nil {
		w.Upstream = Protocol
	}
	return w
}

// coords parses the request's path below the mount.
func coords(ctx *fasthttp.RequestCtx) (Coords, error) {
	p, _ := ctx.UserValue("path").(string)
	return Parse(strings.TrimPrefix(p, "/"))
}

// get answers GET and HEAD: parse, resolve, authorize once, serve.
func (h *Handler) get(ctx *fasthttp.RequestCtx) error {
	c, err := coords(ctx)
	if err != nil {
		return err
	}
	o, err := h.r.Resolve(ctx, h.where(c, auth.Read))
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.serveHosted(ctx, c)
	}
	return h.serveProxy(ctx, c)
}

// put answers PUT: a deployed file, a checksum, or metadata to reconcile.
// Deploys go to hosted repositories only, never upstream. A file is
// published through edge.Publish (putFile); a checksum or metadata of a
// hosted groupId needs May; a checksum or metadata under a groupId
// nobody claims stores nothing and needs no write permission.
func (h *Handler) put(ctx *fasthttp.RequestCtx) error {
	const op = "maven.put"
	c, err := coords(ctx)
	if err != nil {
		return err
	}
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	if p.Anonymous() {
		return fault.New(op, fault.Unauthorized, "authentication required to deploy")
	}
	if c.Kind != Metadata && c.Checksum == "" {
		return h.putFile(ctx, c)
	}
	// Where the path lives decides how the deploy is authorized: a
	// groupId nothing claims is no error here.
	o, err := h.r.Locate(edge.Context(ctx), h.where(c, auth.Write))
	if err != nil && !fault.Is(err, fault.NotFound) {
		return err
	}
	if o.Hosted {
		if _, err := h.r.May(ctx, o.Ref, auth.Write); err != nil {
			return err
		}
	}
	switch {
	case c.Kind == Metadata && c.Checksum == "":
		return h.putMetadata(ctx, c)
	case c.Kind == Metadata:
		// The client's checksum of its own metadata, which is set
		// aside: the server's document has checksums of its own.
		if _, err := edge.ReadBody(ctx, 1<<10); err != nil {
			return err
		}
		ctx.SetStatusCode(fasthttp.StatusCreated)
		return nil
	}
	return h.putChecksum(ctx, c, p, o.Hosted)
}
