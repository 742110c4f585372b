package rubygems

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// resolve is the request's one decision and permission check on the gem
// names, right after parsing (edge.Resolve): the first claimed name is
// hosted (and never goes upstream, even if the version is missing: the
// dependency-confusion guard); no claim means the upstream, when there is
// one.
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, names ...string) (edge.Origin, error) {
	c := edge.Coords{Protocol: Protocol, Namespaces: names, Name: names[0], Action: auth.Read,
		Unknown: "This rubygem could not be found: %s is not hosted here and no upstream is configured (UPSTREAM_RUBYGEMS)"}
	if h.up != nil {
		c.Upstream = Protocol
	}
	return h.r.Resolve(ctx, c)
}

// info is GET /info/{name}.
func (h *Handler) info(ctx *fasthttp.RequestCtx) error {
	name, err := parseName(ctx.UserValue("name").(string))
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, name)
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedInfo(ctx, name)
	}
	e, err := h.upstreamDoc(edge.Context(ctx), "info/"+name)
	if err != nil {
		return err
	}
	return serveDoc(ctx, h.r.Blobs, e.Digest, e.Meta["md5"], "text/plain; charset=utf-8")
}

// gem is GET /gems/{file}.gem.
func (h *Handler) gem(ctx *fasthttp.RequestCtx) error {
	file := ctx.UserValue("file").(string)
	full, cs, err := parseFile(file, ".gem")
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, names(cs)...)
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedGem(ctx, full)
	}
	e, err := h.upstreamGem(edge.Context(ctx), full, cs)
	if err != nil {
		return err
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, Immutable: true})
}

// gemspec is GET /quick/Marshal.4.8/{file}.gemspec.rz.
func (h *Handler) gemspec(ctx *fasthttp.RequestCtx) error {
	file := ctx.UserValue("file").(string)
	full, cs, err := parseFile(file, ".gemspec.rz")
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, names(cs)...)
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedGemspec(ctx, full)
	}
	// Gemspecs are immutable under their name; the upstream's bytes are
	// passed on as they are (no digest is published for them).
	fetch, err := h.fetchDoc("quick/Marshal.4.8/" + full + ".gemspec.rz")
	if err != nil {
		return err
	}
	e, err := h.r.Cached(edge.Context(ctx), cache.Request{Key: mirror.RubyGemsGemspec(full), Fetch: fetch},
		func() string {
			return mirror.LegacyHost(Protocol, h.up.Base(), "quick/Marshal.4.8/"+full+".gemspec.rz")
		})
	if err != nil {
		return err
	}
	return serveDoc(ctx, h.r.Blobs, e.Digest, e.Meta["md5"], "application/octet-stream")
}

// versions is GET /versions: the upstream's file without claimed names,
// plus the hosted gems the caller may read.
func (h *Handler) versions(ctx *fasthttp.RequestCtx) error {
	d, err := h.versionsDoc(ctx)
	if err != nil {
		return err
	}
	return serveDoc(ctx, h.r.Blobs, d.digest, d.md5, "text/plain; charset=utf-8")
}

// names is GET /names.
func (h *Handler) names(ctx *fasthttp.RequestCtx) error {
	return h.merged(ctx, "names", func(up []byte, claimed func(string) bool, visible []*gemIndex) []byte {
		var ns []string
		for _, g := range visible {
			if len(g.live) > 0 {
				ns = append(ns, g.pkg.Name)
			}
		}
		return mergeNames(up, claimed, ns)
	})
}

// merged serves a document built from the upstream's file of the same
// path (when there is an upstream and the caller may read the mirror)
// and the hosted gems. The built document is stored once per upstream
// revision and set of visible hosted gems.
func (h *Handler) merged(ctx *fasthttp.RequestCtx, path string, build func(up []byte, claimed func(string) bool, visible []*gemIndex) []byte) error {
	d, err := h.mergedDoc(ctx, path, build)
	if err != nil {
		return err
	}
	return serveDoc(ctx, h.r.Blobs, d.digest, d.md5, "text/plain; charset=utf-8")
}

// versionsDoc is the served /versions, for the legacy indexes.
func (h *Handler) versionsDoc(ctx *fasthttp.RequestCtx) (doc, error) {
	return h.mergedDoc(ctx, "versions", func(up []byte, claimed func(string) bool, visible []*gemIndex) []byte {
		var lines []versionsLine
		for _, g := range visible {
			lines = append(lines, g.lines...)
		}
		return mergeVersions(up, claimed, lines)
	})
}

func (h *Handler) mergedDoc(ctx *fasthttp.RequestCtx, path string, build func(up []byte, claimed func(string) bool, visible []*gemIndex) []byte) (doc, error) {
	rctx := edge.Context(ctx)
	all, visible, err := h.readable(ctx)
	if err != nil {
		return doc{}, err
	}
	var upEntry *cache.Entry
	if h.up != nil {
		if _, err := h.r.MayMirror(ctx, Protocol); err == nil {
			e, err := h.upstreamDoc(rctx, path)
			switch {
			case err == nil:
				upEntry = &e
			case fault.Is(err, fault.NotFound):
				// an upstream without this file: hosted gems only
			default:
				return doc{}, err
			}
		} else if fault.Is(err, fault.Unauthorized) {
			return doc{}, err
		}
	}
	claimedSet := make(map[string]bool, len(all))
	for _, g := range all {
		claimedSet[g.pkg.Name] = true
	}
	var key strings.Builder
	key.WriteString(path)
	if upEntry != nil {
		key.WriteString("\x00" + string(upEntry.Digest))
	}
	for _, g := range all { // hidden hosted gems still filter upstream lines
		key.WriteString("\x00" + g.pkg.Name)
	}
	key.WriteString("\x01")
	for _, g := range visible {
		key.WriteString("\x00" + g.pkg.Name + "\x00" + g.pkg.Stamp().String())
	}
	d, err := h.docFor(rctx, key.String(), func() ([]byte, error) {
		var up []byte
		if upEntry != nil {
			rc, err := h.r.Blobs.Open(rctx, upEntry.Digest, 0, -1)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			if up, err = io.ReadAll(rc); err != nil {
				return nil, fault.Wrap("rubygems.merged", fault.Unavailable, err)
			}
		}
		return build(up, func(n string) bool { return claimedSet[n] }, visible), nil
	})
	return d, err
}

// upstreamDoc returns a compact-index file of the upstream through the
// cache: fresh for the metadata TTL, then revalidated, served stale while
// the upstream fails.
func (h *Handler) upstreamDoc(ctx context.Context, path string) (cache.Entry, error) {
	fetch, err := h.fetchDoc(path)
	if err != nil {
		return cache.Entry{}, err
	}
	return h.r.Cached(ctx, cache.Request{Key: mirror.RubyGemsIndex(path), TTL: h.r.DocumentTTL(), Fetch: fetch},
		func() string { return mirror.LegacyHost(Protocol, h.up.Base(), path) })
}

// upstreamGem fills a .gem from the upstream, verified against the
// sha256 its /info line promises, before it becomes visible. The first
// reading of the file name that the upstream knows wins.
func (h *Handler) upstreamGem(ctx context.Context, full string, cs []coord) (cache.Entry, error) {
	const op = "rubygems.upstreamGem"
	for _, c := range cs {
		sum, found, err := h.upstreamChecksum(ctx, c)
		if err != nil {
			return cache.Entry{}, err
		}
		if !found {
			continue
		}
		if sum == "" {
			return cache.Entry{}, fault.Newf(op, fault.Upstream, "the upstream's index gives no checksum for %s: refusing to serve it unverified", full)
		}
		u, err := h.up.Resolve("gems/" + full + ".gem")
		if err != nil {
			return cache.Entry{}, err
		}
		want := blob.Digest("sha256:" + sum)
		return h.r.Cached(ctx, cache.Request{
			Key:   mirror.RubyGemsGem(full, want),
			Want:  []blob.Digest{want},
			Fetch: mirror.Artifact(h.up, u, mirror.ArtifactOptions{}),
		}, func() string { return mirror.LegacyHost(Protocol, h.up.Base(), "gems/"+full+".gem") })
	}
	return cache.Entry{}, fault.Newf(op, fault.NotFound, "%s.gem is not in the upstream's index", full)
}

// upstreamChecksum looks c up in the upstream's /info/{name}: the
// checksum, and whether the version is listed. A version missing from a
// cached info file makes one revalidation, for a release newer than it.
func (h *Handler) upstreamChecksum(ctx context.Context, c coord) (string, bool, error) {
	key := versionKey(c.Version, c.Platform)
	for attempt := 0; attempt < 2; attempt++ {
		e, err := h.upstreamDoc(ctx, "info/"+c.Name)
		if fault.Is(err, fault.NotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		rc, err := h.r.Blobs.Open(ctx, e.Digest, 0, -1)
		if err != nil {
			return "", false, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
		rc.Close()
		if err != nil {
			return "", false, fault.Wrap("rubygems.upstreamChecksum", fault.Unavailable, err)
		}
		if sum, ok := infoChecksum(b, key); ok {
			return sum, true, nil
		}
		if attempt == 0 && !e.FetchedAt.IsZero() && time.Since(e.FetchedAt) > time.Second {
			if err := h.r.Cache.Invalidate(ctx, mirror.RubyGemsIndex("info/"+c.Name)); err != nil {
				return "", false, err
			}
			continue
		}
		break
	}
	return "", false, nil
}

// maxDocument caps an upstream compact index file or gemspec, which a
// fill holds in memory whole (a public /versions is tens of MiB).
const maxDocument = 256 << 20

// fetchDoc returns the cache's Fetch for a small upstream file at path (a
// compact index file, a gemspec): conditional when revalidating, its MD5
// kept for the compact index's ETag.
func (h *Handler) fetchDoc(path string) (cache.Fetch, error) {
	u, err := h.up.Resolve(path)
	if err != nil {
		return nil, err
	}
	return mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxDocument,
		Check: func(b []byte, _ *upstream.Response) (map[string]string, error) {
			sum := md5.Sum(b)
			return map[string]string{"md5": hex.EncodeToString(sum[:])}, nil
		},
	}), nil
}

func names(cs []coord) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// onUpstream is the edge.ClaimRequest probe of a first push: whether the
// upstream serves /info/{spelling}, read through the cache as any info
// file (edge.Registry.ClaimForPublish asks it about each spelling that
// is one gem name to the claim). nil without an upstream.
func (h *Handler) onUpstream() func(context.Context, string) (bool, error) {
	if h.up == nil {
		return nil
	}
	return func(ctx context.Context, spelling string) (bool, error) {
		_, err := h.upstreamDoc(ctx, "info/"+spelling)
		return err == nil, err
	}
}
