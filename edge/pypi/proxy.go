package pypi

import (
	"context"
	"io"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// acceptUpstream asks for the JSON form first (PEP 691), HTML otherwise.
const acceptUpstream = typeJSON + ", " + typeHTMLv1 + ";q=0.2, " + typeHTML + ";q=0.1"

// upstreamPage returns the parsed upstream page of a normalized name,
// through the cache: fresh for MetadataTTL, then revalidated, served stale
// while the upstream fails; an upstream 404 is NotFound (and remembered
// briefly).
func (h *Handler) upstreamPage(ctx context.Context, name string) (*page, error) {
	const op = "pypi.upstreamPage"
	pageURL, err := h.up.Resolve(url.PathEscape(name) + "/")
	if err != nil {
		return nil, fault.Op(op, err)
	}
	e, err := h.r.Cached(ctx, cache.Request{
		Key: mirror.PyPIPage(name),
		TTL: h.r.DocumentTTL(),
		Fetch: mirror.Document(h.up, pageURL, mirror.DocumentOptions{
			Accept: acceptUpstream, MaxSize: h.opts.MaxPage,
			// A page that does not parse is never cached.
			Check: func(b []byte, resp *upstream.Response) (map[string]string, error) {
				_, err := ParseUpstream(b, resp.ContentType, pageURL, name)
				return nil, err
			},
		}),
	}, func() string { return mirror.LegacyPyPIPage(h.up.Base(), name) })
	if fault.Is(err, fault.NotFound) {
		return nil, fault.Newf(op, fault.NotFound, "project %s not found", name)
	}
	if err != nil {
		return nil, fault.Op(op, err)
	}
	key := string(e.Digest) + " " + e.ContentType
	if p, ok := h.pages.Get(key); ok {
		return p, nil
	}
	rc, err := h.r.Blobs.Open(ctx, e.Digest, 0, -1)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, h.opts.MaxPage+1))
	if err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, err)
	}
	p, err := ParseUpstream(body, e.ContentType, pageURL, name)
	if err != nil {
		return nil, err
	}
	h.pages.Add(key, p)
	return p, nil
}

// proxyFile streams a mirrored file, or its core metadata, filling it once
// from the upstream and verifying it against the hash its page promised.
func (h *Handler) proxyFile(ctx *fasthttp.RequestCtx, t Target) error {
	const op = "pypi.proxyFile"
	p, err := h.upstreamPage(edge.Context(ctx), t.Project)
	if err != nil {
		return err
	}
	f, ok := p.find(t.Filename)
	if !ok {
		return fault.Newf(op, fault.NotFound, "file %s not found in project %s", t.Filename, t.Project)
	}
	src, hashes, ctype := f.Source, f.Hashes, "application/octet-stream"
	if t.Metadata {
		if !f.Metadata {
			return fault.Newf(op, fault.NotFound, "%s has no core metadata", t.Filename)
		}
		src, hashes, ctype = f.Source+".metadata", f.MetadataHashes, "text/plain; charset=utf-8"
	}
	// A file is cached for good only when the page gave a digest strong
	// enough to verify it by; without one (or with only MD5 or SHA-1) it is
	// kept like metadata, for the TTL, so that a bad copy does not last.
	var want []blob.Digest
	var strong blob.Digest
	ttl := h.r.DocumentTTL()
	for _, alg := range []string{blob.SHA256, blob.SHA512} {
		if hx, ok := hashes[alg]; ok {
			strong, ttl = blob.Digest(alg+":"+hx), 0
			want = append(want, strong)
			break
		}
	}
	key := mirror.PyPIFile(t.Metadata, t.Project, t.Filename, strong)
	e, err := h.r.Cached(edge.Context(ctx), cache.Request{
		Key:   key,
		TTL:   ttl,
		Want:  want,
		Fetch: mirror.Artifact(h.up, src, mirror.ArtifactOptions{}),
	}, func() string { return mirror.LegacyPyPIFile(h.up.Base(), t.Metadata, src, strong) })
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "%s not found upstream", strings.TrimPrefix(src, h.up.Base().String()))
	}
	if err != nil {
		return fault.Op(op, err)
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: ctype, Immutable: true})
}
