package oci

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/cache"
	"entrepot/edge"
	mirrorkit "entrepot/edge/mirror"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// mirror is one pull-through upstream, mounted under its prefix.
type mirror struct {
	prefix string
	up     *upstream.OCITokens
	// official is the namespace of single-segment names on Docker-Hub-
	// style upstreams ("library": hub/nginx is library/nginx there); set
	// with ?official=library on the upstream URL.
	official string
}

func newMirror(prefix string, c *upstream.Client) *mirror {
	return &mirror{prefix: prefix, up: upstream.NewOCITokens(c), official: c.Base().Query().Get("official")}
}

func (m *mirror) name() string { return m.up.Client().Name() }

// upstreamName is the upstream's name for rest, the name under the prefix.
func (m *mirror) upstreamName(rest string) string {
	if m.official != "" && !strings.Contains(rest, "/") {
		return m.official + "/" + rest
	}
	return rest
}

// url is the upstream URL of a /v2/ path.
func (m *mirror) url(path string) (string, error) {
	return m.up.Client().Resolve("/v2/" + path)
}

func pullScope(upName string) string { return "repository:" + upName + ":pull" }

// allManifests is the Accept sent upstream: the cached copy serves every
// client, so it asks for the manifest as stored.
var allManifests = strings.Join([]string{mtOCIIndex, mtOCIManifest, mtDockerList, mtDockerManifest}, ", ")

// proxyManifest serves a mirrored manifest. By digest it is cached
// forever; by tag for the metadata TTL, then revalidated with a HEAD whose
// Docker-Content-Digest tells whether the tag moved, so that a fresh or
// unchanged tag spends no upstream pull.
func (h *Handler) proxyManifest(ctx *fasthttp.RequestCtx, t target, c Coord) error {
	const op = "oci.proxyManifest"
	m := t.mirror
	ref := c.Reference()
	u, err := m.url(t.upName + "/manifests/" + ref)
	if err != nil {
		return err
	}
	scope := pullScope(t.upName)
	req := cache.Request{
		Key:    mirrorkit.OCITag(m.prefix, t.upName, ref),
		Legacy: mirrorkit.LegacyOCIRepo(m.prefix, t.upName, "manifests/"+ref),
		TTL:    h.r.DocumentTTL(),
	}
	if c.Digest != "" {
		req.Key, req.TTL, req.Want = mirrorkit.OCIManifest(c.Digest), 0, []blob.Digest{c.Digest}
	}
	get := mirrorkit.Document(m.scoped(scope), u, mirrorkit.DocumentOptions{
		Accept: allManifests, MaxSize: h.opts.MaxManifestSize,
		Check: func(b []byte, resp *upstream.Response) (map[string]string, error) {
			d, sum := resp.Header.Get("Docker-Content-Digest"), sha256Digest(b)
			if d == "" || strings.HasPrefix(d, blob.SHA256+":") && d != sum {
				if d != "" {
					return nil, fault.Newf(op, fault.Upstream, "%s: manifest %s is not the %s the upstream announced", m.name(), ref, d)
				}
				d = sum
			}
			if c.Digest != "" {
				d = string(c.Digest)
			}
			return map[string]string{"digest": d}, nil
		},
	})
	req.Fetch = func(fctx context.Context, prev *cache.Entry, w blob.Writer) (cache.Result, error) {
		if prev != nil && prev.Meta["digest"] != "" {
			resp, err := m.up.Get(fctx, u, scope, upstream.Request{Method: "HEAD", Accept: allManifests})
			if err != nil {
				return cache.Result{}, err
			}
			resp.Body.Close()
			if resp.Header.Get("Docker-Content-Digest") == prev.Meta["digest"] {
				return cache.Result{NotModified: true}, nil
			}
		}
		// The HEAD said the tag moved: the GET is not conditional.
		res, err := get(fctx, nil, w)
		res.ContentType = baseType(res.ContentType)
		return res, err
	}
	e, err := h.r.Cache.Get(edge.Context(ctx), req)
	if err != nil {
		return upstreamError(codeManifestUnknown, err)
	}
	d := blob.Digest(e.Meta["digest"])
	if c.Digest != "" {
		d = c.Digest
	}
	mt := e.ContentType
	if mt == "" || mt == "application/json" || mt == "text/plain" {
		if b, err := h.readSmall(edge.Context(ctx), e.Digest); err == nil {
			if _, t2, err := ParseManifest(b, ""); err == nil {
				mt = t2
			}
		}
	}
	accept := ctx.Request.Header.PeekAll("Accept")
	if !Accepts(accept, mt) {
		child, err := h.negotiate(ctx, c, mt, e.Digest, accept)
		if err != nil {
			return err
		}
		cd, err := ParseDigest(child.Digest)
		if err != nil {
			return err
		}
		return h.proxyManifest(ctx, t, Coord{Endpoint: ManifestEndpoint, Name: c.Name, Digest: cd})
	}
	return h.serveManifest(ctx, d, e.Digest, mt, c.Tag == "")
}

// upstreamError gives a mirror failure its code: the upstream's 404 is
// the thing being unknown; anything else is the upstream being
// unavailable.
func upstreamError(notFound string, err error) error {
	if fault.Is(err, fault.NotFound) {
		return withCode(notFound, err)
	}
	return err
}

// proxyBlob serves a mirrored blob: one fill per digest whatever the
// number of clients asking, verified against the digest, then every
// client streams the stored copy.
func (h *Handler) proxyBlob(ctx *fasthttp.RequestCtx, t target, c Coord) error {
	m := t.mirror
	u, err := m.url(t.upName + "/blobs/" + string(c.Digest))
	if err != nil {
		return err
	}
	scope := pullScope(t.upName)
	key, legacy := mirrorkit.OCIBlob(c.Digest), mirrorkit.LegacyOCIBlob(m.prefix, c.Digest)
	if ctx.IsHead() && !h.cached(ctx, key, legacy) {
		return h.headUpstreamBlob(ctx, m, u, scope, c.Digest)
	}
	// A layer's fill may take longer than a read's budget: the wait keeps
	// the request's values, and the cache's own bound (WaitTimeout).
	e, err := h.r.Cache.Get(context.WithoutCancel(edge.Context(ctx)), cache.Request{
		Key: key, Legacy: legacy, Want: []blob.Digest{c.Digest},
		Fetch: mirrorkit.Artifact(m.scoped(scope), u, mirrorkit.ArtifactOptions{MaxSize: h.opts.MaxBlobSize, ContentType: "application/octet-stream"}),
	})
	if err != nil {
		return upstreamError(codeBlobUnknown, err)
	}
	return h.serveBlob(ctx, c.Digest, e.Digest)
}

// cached reports whether the blob under key (or its legacy key, which
// the next Get adopts) is stored: a HEAD is then answered from the store.
func (h *Handler) cached(ctx *fasthttp.RequestCtx, key, legacy string) bool {
	stored := func(e cache.Entry, ok bool) bool { return ok && !e.Negative && e.Digest != "" }
	bg := edge.Context(ctx)
	return stored(h.r.Cache.Peek(bg, key)) || stored(h.r.Cache.Peek(bg, legacy))
}

// headUpstreamBlob answers a HEAD of a blob not cached yet with the
// upstream's HEAD: a client checking whether it has a layer must not make
// the mirror pull the whole layer. Nothing is cached; a later GET fills.
// The upstream's Docker-Content-Digest, when it sends one, must be the
// digest asked for.
func (h *Handler) headUpstreamBlob(ctx *fasthttp.RequestCtx, m *mirror, u, scope string, d blob.Digest) error {
	const op = "oci.headBlob"
	resp, err := m.up.Get(edge.Context(ctx), u, scope, upstream.Request{Method: fasthttp.MethodHead})
	if err != nil {
		return upstreamError(codeBlobUnknown, err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != string(d) {
		return upstreamError(codeBlobUnknown, fault.Newf(op, fault.Upstream, "upstream answered digest %q for %s", clip(got), d))
	}
	if resp.ContentLength < 0 {
		return upstreamError(codeBlobUnknown, fault.Newf(op, fault.Upstream, "upstream sent no length for %s", d))
	}
	if h.opts.MaxBlobSize > 0 && resp.ContentLength > h.opts.MaxBlobSize {
		return withCode(codeBlobUnknown, fault.Newf(op, fault.TooLarge, "blob %s is %d bytes, more than %d", d, resp.ContentLength, h.opts.MaxBlobSize))
	}
	hd := &ctx.Response.Header
	hd.Set("Docker-Content-Digest", string(d))
	hd.Set("ETag", `"`+string(d)+`"`)
	hd.SetContentType("application/octet-stream")
	hd.SetContentLength(int(resp.ContentLength))
	ctx.Response.SkipBody = true
	return nil
}

// proxyTags serves a mirrored tags list, cached for the metadata TTL, the
// name rewritten to the one the client asked for.
func (h *Handler) proxyTags(ctx *fasthttp.RequestCtx, t target, c Coord) error {
	m := t.mirror
	n, last, err := h.pageArgs(ctx)
	if err != nil {
		return err
	}
	q := url.Values{}
	if n >= 0 {
		q.Set("n", strconv.Itoa(n))
	}
	if last != "" {
		q.Set("last", last)
	}
	path := t.upName + "/tags/list"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	u, err := m.url(path)
	if err != nil {
		return err
	}
	e, err := h.r.Cache.Get(edge.Context(ctx), cache.Request{
		Key: mirrorkit.OCITags(m.prefix, t.upName, q.Encode()), TTL: h.r.DocumentTTL(),
		Legacy: mirrorkit.LegacyOCIRepo(m.prefix, t.upName, "tags/list?"+q.Encode()),
		Fetch:  h.fetchDoc(m, u, pullScope(t.upName)),
	})
	if err != nil {
		return upstreamError(codeNameUnknown, err)
	}
	raw, err := h.readSmall(edge.Context(ctx), e.Digest)
	if err != nil {
		return err
	}
	body, tags, err := RewriteTagList(raw, c.Name)
	if err != nil {
		return fault.WrapMsg("oci.proxyTags", fault.Upstream, m.name()+" sent a tags list that is not JSON", err)
	}
	if e.Meta["link"] != "" && len(tags) > 0 {
		ctx.Response.Header.Set("Link", NextLink("/v2/"+c.Name+"/tags/list", tags[len(tags)-1], n))
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
	return nil
}

// proxyReferrers serves a mirrored referrers list, cached for the
// metadata TTL; an upstream without the API has no referrers.
func (h *Handler) proxyReferrers(ctx *fasthttp.RequestCtx, t target, c Coord) error {
	m := t.mirror
	at := string(ctx.QueryArgs().Peek("artifactType"))
	path := t.upName + "/referrers/" + string(c.Digest)
	u, err := m.url(path)
	if err != nil {
		return err
	}
	e, err := h.r.Cache.Get(edge.Context(ctx), cache.Request{
		Key: mirrorkit.OCIReferrers(m.prefix, t.upName, c.Digest), TTL: h.r.DocumentTTL(),
		Legacy: mirrorkit.LegacyOCIRepo(m.prefix, t.upName, "referrers/"+string(c.Digest)),
		Fetch:  h.fetchDoc(m, u, pullScope(t.upName)),
	})
	var refs []Descriptor
	switch {
	case fault.Is(err, fault.NotFound):
	case err != nil:
		return err
	default:
		raw, err := h.readSmall(edge.Context(ctx), e.Digest)
		if err != nil {
			return err
		}
		var idx Manifest
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fault.WrapMsg("oci.proxyReferrers", fault.Upstream, m.name()+" sent a referrers list that is not an index", err)
		}
		refs = idx.Manifests
	}
	if at != "" {
		ctx.Response.Header.Set("OCI-Filters-Applied", "artifactType")
	}
	ctx.SetContentType(mtOCIIndex)
	ctx.SetBody(ReferrersIndex(refs, at))
	return nil
}

// fetchDoc fetches a small upstream document (tags, referrers).
func (h *Handler) fetchDoc(m *mirror, u, scope string) cache.Fetch {
	return mirrorkit.Document(m.scoped(scope), u, mirrorkit.DocumentOptions{
		Accept: "application/json", MaxSize: 16 << 20,
		Check: func(_ []byte, resp *upstream.Response) (map[string]string, error) {
			return map[string]string{"link": resp.Header.Get("Link")}, nil
		},
	})
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return string(blob.NewDigest(blob.SHA256, sum[:]))
}

// scoped is the mirror's upstream with the token scope of one request.
func (m *mirror) scoped(scope string) mirrorkit.Getter { return scopedUpstream{m.up, scope} }

type scopedUpstream struct {
	up    *upstream.OCITokens
	scope string
}

func (s scopedUpstream) Get(ctx context.Context, url string, r upstream.Request) (*upstream.Response, error) {
	return s.up.Get(ctx, url, s.scope, r)
}
