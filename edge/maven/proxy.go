package maven

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// maxDocument caps an upstream maven-metadata.xml; maxChecksum an
// upstream checksum file.
const (
	maxDocument = 16 << 20
	maxChecksum = 4 << 10
)

// proxyGet asks the cache for key, filling it from the upstream's path
// through fetch.
func (h *Handler) proxyGet(ctx context.Context, key, path string, ttl time.Duration, fetch func(url, path string) cache.Fetch) (cache.Entry, error) {
	u, err := h.up.Resolve(path)
	if err != nil {
		return cache.Entry{}, err
	}
	return h.r.Cached(ctx, cache.Request{Key: key, TTL: ttl, Fetch: fetch(u, path)},
		func() string { return mirror.LegacyHost(Protocol, h.up.Base(), path) })
}

// serveProxy answers a read of mirrored content. Artifacts are cached
// forever once verified; maven-metadata.xml (and the plain name of a
// SNAPSHOT file) with the metadata TTL, revalidated and served stale while
// the upstream fails; 404s are remembered briefly by the cache, since
// Maven probes many paths that do not exist. Checksums are the ones
// computed when the file was filled, so they always describe the bytes
// served.
func (h *Handler) serveProxy(ctx *fasthttp.RequestCtx, c Coords) error {
	bctx := edge.Context(ctx)
	switch {
	case c.Kind == Metadata:
		e, err := h.proxyGet(bctx, mirror.MavenMetadata(c.Target), c.Target, h.r.DocumentTTL(), h.fetchDocument)
		if err != nil {
			return err
		}
		if c.Checksum != "" {
			return serveChecksum(ctx, e.Meta[c.Checksum])
		}
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: "text/xml"})
	case c.Checksum != "":
		if e, ok := h.r.Cache.Peek(bctx, mirror.MavenArtifact(c.Target)); ok && !e.Negative && e.Meta[c.Checksum] != "" {
			return serveChecksum(ctx, e.Meta[c.Checksum])
		}
		// The file itself is not cached: pass the upstream's checksum on
		// rather than fill a large artifact to answer for it.
		e, err := h.proxyGet(bctx, mirror.MavenChecksum(c.Path), c.Path, 0, h.fetchChecksum)
		if err != nil {
			return err
		}
		return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: "text/plain", Immutable: true})
	}
	var ttl time.Duration
	if c.Snapshot() && c.Build == 0 {
		ttl = h.r.DocumentTTL() // a SNAPSHOT's plain name moves with every build
	}
	e, err := h.proxyGet(bctx, mirror.MavenArtifact(c.Target), c.Target, ttl, h.fetchArtifact)
	if err != nil {
		return err
	}
	ct := contentType(c.Extension)
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: ct, Immutable: ttl == 0})
}

// get fetches an upstream path.
func (h *Handler) upstreamGet(ctx context.Context, path string, r upstream.Request) (*upstream.Response, error) {
	u, err := h.up.Resolve(path)
	if err != nil {
		return nil, err
	}
	return h.up.Get(ctx, u, r)
}

// fetchArtifact streams an upstream artifact into the cache while hashing
// it, then checks it against the upstream's own checksum (.sha1, else
// .sha256, else .sha512). Bytes that disagree are an Upstream error, so
// the cache discards them. An upstream that publishes no checksum at all
// is trusted on the length alone, as Maven itself does by default.
func (h *Handler) fetchArtifact(u, path string) cache.Fetch {
	return mirror.Artifact(h.up, u, mirror.ArtifactOptions{Checker: func() mirror.Checker {
		return &upstreamChecked{h: h, path: path, hashes: newHashes()}
	}})
}

// upstreamChecked hashes an artifact as it streams and checks it against
// the upstream's checksum file; its sums become the entry's Meta, the
// checksums served with the file.
type upstreamChecked struct {
	h    *Handler
	path string
	*hashes
}

func (c *upstreamChecked) Check(ctx context.Context) (map[string]string, error) {
	sums := c.sums()
	alg, want, err := c.h.upstreamChecksum(ctx, c.path)
	if err != nil {
		return nil, err
	}
	if alg == "" {
		c.h.r.Log.Info("maven: upstream offers no checksum; length verified only", "path", c.path)
	} else if sums[alg] != want {
		return nil, fault.Newf("maven.fetchArtifact", fault.Upstream, "upstream sent %s with %s %s, but its .%s says %s", c.path, alg, sums[alg], alg, want)
	}
	return sums, nil
}

// upstreamChecksum fetches the first checksum the upstream offers for
// path; alg is "" when it offers none.
func (h *Handler) upstreamChecksum(ctx context.Context, path string) (alg, sum string, err error) {
	for _, alg := range []string{"sha1", "sha256", "sha512"} {
		resp, err := h.upstreamGet(ctx, path+"."+alg, upstream.Request{MaxSize: maxChecksum})
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", "", fault.Op("maven.upstreamChecksum", err)
		}
		if s, ok := parseChecksum(b, alg); ok {
			return alg, s, nil
		}
		h.r.Log.Info("maven: malformed upstream checksum ignored", "path", path+"."+alg)
	}
	return "", "", nil
}

// fetchDocument fills maven-metadata.xml: conditional when the cache holds
// an expired copy, hashed for the checksums served with it.
func (h *Handler) fetchDocument(u, _ string) cache.Fetch {
	return mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxDocument,
		Check: func(b []byte, _ *upstream.Response) (map[string]string, error) { return sumsOf(b), nil }})
}

// fetchChecksum passes an upstream checksum file on.
func (h *Handler) fetchChecksum(u, _ string) cache.Fetch {
	return mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxChecksum, ContentType: "text/plain"})
}

// onUpstream is the probe a first deploy under c's groupId hands to
// edge.Registry.ClaimForPublish, nil without a mirror: whether the
// upstream repository has the groupId (its directory, {group path}/,
// answers: Maven repositories and plain web servers list a directory with
// a 200, and a 404 means there is no such directory) or the artifact (its
// maven-metadata.xml, asked through the cache as any read of it). Either
// makes the claim refused, since it would hide the public artifacts from
// every user. An upstream that cannot answer is an error, and the claim
// is refused too: it is retried later.
func (h *Handler) onUpstream(c Coords) func(context.Context, string) (bool, error) {
	if h.up == nil || c.Kind != Artifact {
		return nil
	}
	artifact := c.Dirs[len(c.Dirs)-2]
	// ClaimForPublish asks about each spelling of the groupId (a claim
	// ignores case: "com.Rival.Mixed" must not take, and hide, the
	// upstream's "com.rival.mixed").
	return func(ctx context.Context, groupID string) (bool, error) {
		group := strings.ReplaceAll(groupID, ".", "/") + "/"
		meta := group + artifact + "/" + MetadataFile
		// The listing's body is never read: its status is the answer.
		resp, err := h.upstreamGet(ctx, group, upstream.Request{MaxSize: maxDocument})
		switch {
		case err == nil:
			resp.Body.Close()
			return true, nil
		case fault.Is(err, fault.TooLarge): // a long listing is a listing
			return true, nil
		case !fault.Is(err, fault.NotFound):
			return false, err
		}
		_, err = h.proxyGet(ctx, mirror.MavenMetadata(meta), meta, h.r.DocumentTTL(), h.fetchDocument)
		return err == nil, err
	}
}
