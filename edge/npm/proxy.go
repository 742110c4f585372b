package npm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// index is what one cached packument promises about its tarballs.
type index struct {
	digest blob.Digest // of the packument it was read from
	files  map[string]Dist
}

// weight is about what ix holds in memory: a map entry, a file name and
// a Dist per file.
func (ix *index) weight() int { return 64 + 256*len(ix.files) }

// minRefetch bounds how often a tarball missing from a cached packument
// makes the packument be fetched again (a version published upstream
// since the fill).
const minRefetch = 30 * time.Second

// upstreamPackument returns the cache entry of n's packument, filling or
// revalidating it from the upstream as its TTL says, or serving it stale
// when the upstream fails.
func (h *Handler) upstreamPackument(ctx context.Context, n Name, abbreviated bool) (cache.Entry, error) {
	const op = "npm.upstreamPackument"
	u, err := h.up.Resolve(n.Escaped())
	if err != nil {
		return cache.Entry{}, fault.Op(op, err)
	}
	accept := typeFull
	if abbreviated {
		accept = typeAbbreviated + "; q=1.0, application/json; q=0.8"
	}
	e, err := h.r.Cached(ctx, cache.Request{
		Key: mirror.NPMPackument(n.String(), abbreviated),
		TTL: h.r.DocumentTTL(),
		Fetch: mirror.Document(h.up, u, mirror.DocumentOptions{
			Accept: accept, MaxSize: h.opts.MaxPackument, ContentType: typeFull,
			Check: func(b []byte, _ *upstream.Response) (map[string]string, error) {
				// Garbage is never cached: the stale copy stays the answer.
				if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
					return nil, fault.Newf(op, fault.Upstream, "the upstream sent an invalid packument for %s", n)
				}
				return nil, nil
			},
		}),
	}, func() string { return mirror.LegacyNPMPackument(n.String(), abbreviated) })
	return e, upstreamError(op, n, err)
}

// upstreamError words a failed fill for npm users: what failed and that
// nothing was cached to fall back on. The cause stays in the chain: a
// timeout is a 504 (edge.StatusOf).
func upstreamError(op string, n Name, err error) error {
	switch fault.KindOf(err) {
	case fault.Internal:
		return err
	case fault.NotFound:
		return fault.WrapMsg(op, fault.NotFound, fmt.Sprintf("%s: not found", n), err)
	case fault.Unavailable:
		return fault.WrapMsg(op, fault.Unavailable,
			fmt.Sprintf("the upstream registry did not answer in time for %s, and no cached copy exists", n), err)
	case fault.Upstream:
		return fault.WrapMsg(op, fault.Upstream,
			fmt.Sprintf("the upstream registry failed for %s, and no cached copy exists: %s", n, fault.Message(err)), err)
	}
	return fault.Op(op, err)
}

// readEntry reads a cached document whole (packuments are parsed to be
// rewritten).
func (h *Handler) readEntry(ctx context.Context, e cache.Entry) ([]byte, error) {
	rc, err := h.r.Blobs.Open(ctx, e.Digest, 0, -1)
	if err != nil {
		return nil, fault.Op("npm.readEntry", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, fault.Wrap("npm.readEntry", fault.Unavailable, err)
}

// proxyPackument serves a mirrored packument, rewritten once per fill and
// base URL.
func (h *Handler) proxyPackument(ctx *fasthttp.RequestCtx, n Name, abbreviated bool) error {
	e, err := h.upstreamPackument(edge.Context(ctx), n, abbreviated)
	if err != nil {
		return err
	}
	form, ct := "full", typeFull
	if abbreviated {
		form, ct = "abbr", typeAbbreviated
	}
	base := h.mount.For(ctx)
	key := docKey(form, n.String(), string(e.Digest), base)
	d, ok := h.docs.get(key)
	if !ok {
		v, err, _ := h.prep.Do(key, func() (any, error) {
			if d, ok := h.docs.get(key); ok {
				return d, nil
			}
			raw, err := h.readEntry(edge.Context(ctx), e)
			if err != nil {
				return nil, err
			}
			out, files, err := RewritePackument(raw, tarballBase(base, n))
			if err != nil {
				return nil, err
			}
			d := h.docs.newDocument(out, ct, "public, max-age=300")
			h.docs.add(key, d)
			if abbreviated {
				h.index.Add(n.String(), &index{digest: e.Digest, files: files})
			}
			return d, nil
		})
		if err != nil {
			return err
		}
		d = v.(*edge.Document)
	}
	d.Serve(ctx)
	return nil
}

// proxyVersion serves one version's manifest (by version or dist-tag) out
// of the mirrored full packument.
func (h *Handler) proxyVersion(ctx *fasthttp.RequestCtx, n Name, spec string) error {
	const op = "npm.proxyVersion"
	e, err := h.upstreamPackument(edge.Context(ctx), n, false)
	if err != nil {
		return err
	}
	raw, err := h.readEntry(edge.Context(ctx), e)
	if err != nil {
		return err
	}
	out, _, err := RewritePackument(raw, tarballBase(h.mount.For(ctx), n))
	if err != nil {
		return err
	}
	var doc struct {
		DistTags map[string]string          `json:"dist-tags"`
		Versions map[string]json.RawMessage `json:"versions"`
	}
	json.Unmarshal(out, &doc)
	if v, ok := doc.DistTags[spec]; ok {
		spec = v
	}
	m, ok := doc.Versions[spec]
	if !ok {
		return fault.Newf(op, fault.NotFound, "version %q of %s not found", spec, n)
	}
	ctx.SetContentType(typeFull)
	ctx.SetBody(m)
	return nil
}

// proxyDistTags answers a mirrored package's dist-tags.
func (h *Handler) proxyDistTags(ctx *fasthttp.RequestCtx, n Name) error {
	e, err := h.upstreamPackument(edge.Context(ctx), n, true)
	if err != nil {
		return err
	}
	raw, err := h.readEntry(edge.Context(ctx), e)
	if err != nil {
		return err
	}
	var doc struct {
		DistTags map[string]string `json:"dist-tags"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fault.WrapMsg("npm.proxyDistTags", fault.Upstream, "the cached packument is invalid", err)
	}
	if doc.DistTags == nil {
		doc.DistTags = map[string]string{}
	}
	return writeJSON(ctx, fasthttp.StatusOK, doc.DistTags)
}

// distOf returns what n's packument promises about file: from memory,
// else from the cached (or freshly fetched) abbreviated packument. So a
// tarball asked for with no packument request before it (npm ci from a
// lockfile) still resolves, and only to a URL the upstream's metadata
// gave.
func (h *Handler) distOf(ctx context.Context, n Name, file string) (Dist, error) {
	const op = "npm.distOf"
	if ix, ok := h.index.Get(n.String()); ok {
		if d, ok := ix.files[file]; ok {
			return d, nil
		}
	}
	for attempt := 0; ; attempt++ {
		e, err := h.upstreamPackument(ctx, n, true)
		if err != nil {
			return Dist{}, err
		}
		ix, err := h.indexOf(ctx, n, e)
		if err != nil {
			return Dist{}, err
		}
		if d, ok := ix.files[file]; ok {
			return d, nil
		}
		if attempt > 0 || e.Stale || time.Since(e.FetchedAt) < minRefetch {
			return Dist{}, fault.Newf(op, fault.NotFound, "%s has no tarball %s", n, file)
		}
		// Published upstream after our copy was filled: ask again, once.
		if err := h.r.Cache.Invalidate(ctx, mirror.NPMPackument(n.String(), true)); err != nil {
			return Dist{}, fault.Op(op, err)
		}
	}
}

// indexOf reads the tarball index of a cached packument.
func (h *Handler) indexOf(ctx context.Context, n Name, e cache.Entry) (*index, error) {
	if ix, ok := h.index.Get(n.String()); ok && ix.digest == e.Digest {
		return ix, nil
	}
	raw, err := h.readEntry(ctx, e)
	if err != nil {
		return nil, err
	}
	_, files, err := RewritePackument(raw, "")
	if err != nil {
		return nil, err
	}
	ix := &index{digest: e.Digest, files: files}
	h.index.Add(n.String(), ix)
	return ix, nil
}

// proxyTarball serves a mirrored tarball: from the cache when it holds
// it, else filled once (however many ask at the same time), verified
// against the digest the packument promised before anyone sees it.
func (h *Handler) proxyTarball(ctx *fasthttp.RequestCtx, n Name, rawFile string) error {
	const op = "npm.proxyTarball"
	file, err := ParseFile(rawFile)
	if err != nil {
		return err
	}
	key := mirror.NPMTarball(n.String(), file)
	if e, ok := h.r.Cache.Peek(edge.Context(ctx), key); ok && !e.Negative {
		return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, Immutable: true})
	}
	d, err := h.distOf(edge.Context(ctx), n, file)
	if err != nil {
		return err
	}
	want := d.Want()
	if len(want) == 0 {
		return fault.Newf(op, fault.Upstream, "the upstream's metadata gives no digest for %s, so it cannot be verified", file)
	}
	e, err := h.r.Cached(edge.Context(ctx), cache.Request{
		Key:   key,
		Want:  want, // TTL 0: immutable once verified
		Fetch: mirror.Artifact(h.up, d.URL, mirror.ArtifactOptions{ContentType: "application/octet-stream"}),
	}, func() string { return mirror.LegacyNPMTarball(n.String(), file) })
	if err != nil {
		return upstreamError(op, n, err)
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, Immutable: true})
}
