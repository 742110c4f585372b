package cargo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// maxConfig caps the upstream's config.json.
const maxConfig = 1 << 20

// upstreamIndex returns the cache entry of an unclaimed crate's index
// file (name lowercase), fetched at the same path of the upstream index.
func (h *Handler) upstreamIndex(ctx context.Context, name string) (cache.Entry, error) {
	p := indexPath(name)
	u, err := h.up.Resolve(p)
	if err != nil {
		return cache.Entry{}, err
	}
	e, err := h.r.Cached(ctx, cache.Request{Key: mirror.CargoIndex(name), TTL: h.r.DocumentTTL(), Fetch: mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: h.opts.MaxIndexFile})},
		func() string { return mirror.LegacyHost(Protocol, h.up.Base(), "index/"+p) })
	if fault.Is(err, fault.NotFound) {
		return e, fault.Newf("cargo.upstreamIndex", fault.NotFound, "crate %s not found", name)
	}
	return e, err
}

// serveUpstreamIndex answers an unclaimed crate's index file with the
// upstream's bytes as they are: dependency entries are kept, so that
// resolution is the upstream's.
func (h *Handler) serveUpstreamIndex(ctx *fasthttp.RequestCtx, name string) error {
	e, err := h.upstreamIndex(edge.Context(ctx), name)
	if err != nil {
		return err
	}
	etag := `"` + e.Digest.Hex() + `"`
	modified := e.FetchedAt
	if t, err := http.ParseTime(e.LastModified); err == nil {
		modified = t
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: "text/plain; charset=utf-8", ETag: etag, LastModified: modified})
}

// readBlob reads a small cached blob whole.
func (h *Handler) readBlob(ctx context.Context, d blob.Digest, limit int64) ([]byte, error) {
	rc, err := h.r.Blobs.Open(ctx, d, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fault.Wrap("cargo.readBlob", fault.Unavailable, err)
	}
	if int64(len(b)) > limit {
		return nil, fault.Newf("cargo.readBlob", fault.TooLarge, "cached file over %d bytes", limit)
	}
	return b, nil
}

// dlTemplate is the upstream's download template, parsed once per
// config.json digest.
type dlTemplate struct {
	mu     sync.Mutex
	digest blob.Digest
	dl     string
}

// upstreamDL returns the upstream's dl template, from its config.json
// through the cache (so that it is known while the upstream is down).
func (h *Handler) upstreamDL(ctx context.Context) (string, error) {
	const op = "cargo.upstreamDL"
	u, err := h.up.Resolve("config.json")
	if err != nil {
		return "", err
	}
	e, err := h.r.Cached(ctx, cache.Request{Key: mirror.CargoConfig(), TTL: h.r.DocumentTTL(), Fetch: mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxConfig})},
		func() string { return mirror.LegacyHost(Protocol, h.up.Base(), "config.json") })
	if fault.Is(err, fault.NotFound) {
		return "", fault.New(op, fault.Upstream, "the upstream index has no config.json: is UPSTREAM_CARGO a sparse index URL?")
	}
	if err != nil {
		return "", err
	}
	t := &h.dl
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.digest == e.Digest && t.dl != "" {
		return t.dl, nil
	}
	b, err := h.readBlob(ctx, e.Digest, maxConfig)
	if err != nil {
		return "", err
	}
	var c upstreamConfig
	if err := json.Unmarshal(b, &c); err != nil || c.DL == "" {
		return "", fault.New(op, fault.Upstream, "the upstream index's config.json has no dl template")
	}
	t.digest, t.dl = e.Digest, c.DL
	return c.DL, nil
}

// downloadUpstream streams an unclaimed crate's .crate file: its checksum
// comes from the upstream index file, the bytes from the upstream's dl
// template, filled once through the cache and verified against the
// checksum before anyone sees them.
func (h *Handler) downloadUpstream(ctx *fasthttp.RequestCtx, name, vers string) error {
	const op = "cargo.downloadUpstream"
	lower := strings.ToLower(name)
	idx, err := h.upstreamIndex(edge.Context(ctx), lower)
	if err != nil {
		return err
	}
	fkey := string(idx.Digest) + "\x00" + vers
	fv, ok := h.versions.Get(fkey)
	if !ok {
		b, err := h.readBlob(edge.Context(ctx), idx.Digest, h.opts.MaxIndexFile)
		if err != nil {
			return err
		}
		fv.name, fv.cksum, fv.ok = findVersion(b, vers)
		h.versions.Add(fkey, fv)
	}
	iname, cksum := fv.name, fv.cksum
	if !fv.ok || strings.ToLower(iname) != lower {
		return fault.Newf(op, fault.NotFound, "version %s of crate %s not found", vers, name)
	}
	dl, err := h.upstreamDL(edge.Context(ctx))
	if err != nil {
		return err
	}
	u, err := h.up.Resolve(downloadURL(dl, iname, vers, cksum))
	if err != nil {
		return fault.WrapMsg(op, fault.Upstream, "the upstream's dl template gives an invalid URL", err)
	}
	want := blob.Digest(blob.SHA256 + ":" + cksum)
	e, err := h.r.Cached(edge.Context(ctx), cache.Request{Key: mirror.CargoCrate(lower, vers, want), Want: []blob.Digest{want}, Fetch: mirror.Artifact(h.up, u, mirror.ArtifactOptions{})},
		func() string { return mirror.LegacyHost(Protocol, h.up.Base(), "crates/"+lower+"/"+vers) })
	if err != nil {
		return err
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: crateType, Immutable: true})
}

// foundVersion is what findVersion answered for one index file.
type foundVersion struct {
	name, cksum string
	ok          bool
}

// blobDigest is a stored digest string as a blob.Digest.
func blobDigest(s string) blob.Digest { return blob.Digest(s) }

// onUpstream is the edge.ClaimRequest probe of a first publish: whether
// the upstream index has a crate of that spelling (edge.Registry.
// ClaimForPublish asks about every spelling crates.io takes for one
// name), through the cache as any index read. nil without an upstream.
func (h *Handler) onUpstream() func(context.Context, string) (bool, error) {
	if h.up == nil {
		return nil
	}
	return func(ctx context.Context, spelling string) (bool, error) {
		_, err := h.upstreamIndex(ctx, spelling)
		return err == nil, err
	}
}
