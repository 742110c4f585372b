package composer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The mirror: the upstream's packages.json (for its metadata-url) and p2
// documents are cached as the upstream sent them, with a TTL, and
// rewritten on the way out for the base URL of each request; dists are
// fetched from the URL the cached metadata names, verified against its
// shasum and cached for good. A client never names an upstream URL: a
// dist request names a package, a version and a reference, and the URL
// comes from the metadata.

// fetchDocument returns a cache Fetch for a JSON document at url, the
// body checked with valid before it is written, so that a broken document
// is never cached.
func (h *Handler) fetchDocument(url string, valid func([]byte) error) cache.Fetch {
	return mirror.Document(h.up, url, mirror.DocumentOptions{
		Accept: "application/json", MaxSize: h.opts.MaxMetadataSize, ContentType: "application/json",
		Check: func(b []byte, _ *upstream.Response) (map[string]string, error) {
			if err := valid(b); err != nil {
				return nil, fault.WrapMsg("composer.fetchDocument", fault.Upstream, "the upstream sent invalid Composer metadata", err)
			}
			return nil, nil
		},
	})
}

// readEntry reads a cached document whole (documents are bounded by
// MaxMetadataSize).
func (h *Handler) readEntry(ctx context.Context, e cache.Entry) ([]byte, error) {
	rc, err := h.r.Blobs.Open(ctx, e.Digest, 0, -1)
	if err != nil {
		return nil, fault.Op("composer.readEntry", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return b, fault.Wrap("composer.readEntry", fault.Unavailable, err)
}

// metadataURL returns the upstream's metadata-url template, read from
// its packages.json through the cache.
func (h *Handler) metadataURL(ctx context.Context) (string, error) {
	const op = "composer.metadataURL"
	e, err := h.rootEntry(ctx)
	if err != nil {
		return "", err
	}
	if v, ok := h.parsed.Get("root\x00" + string(e.Digest)); ok {
		return v.(string), nil
	}
	b, err := h.readEntry(ctx, e)
	if err != nil {
		return "", err
	}
	tmpl, err := parseRoot(b)
	if err != nil {
		return "", fault.WrapMsg(op, fault.Upstream, "the upstream's packages.json is invalid", err)
	}
	// A relative template ("/p2/%package%.json") is relative to the
	// repository's URL, as Composer reads it.
	if tmpl, err = h.up.Resolve(strings.ReplaceAll(tmpl, "%package%", "__PACKAGE__")); err != nil {
		return "", fault.WrapMsg(op, fault.Upstream, "the upstream's metadata-url is invalid", err)
	}
	tmpl = strings.ReplaceAll(tmpl, "__PACKAGE__", "%package%")
	h.parsed.Add("root\x00"+string(e.Digest), tmpl)
	return tmpl, nil
}

// rootEntry returns the upstream's packages.json through the cache.
func (h *Handler) rootEntry(ctx context.Context) (cache.Entry, error) {
	root, err := h.up.Resolve("packages.json")
	if err != nil {
		return cache.Entry{}, err
	}
	e, err := h.r.Cached(ctx, cache.Request{
		Key:   mirror.ComposerRoot(),
		TTL:   h.r.DocumentTTL(),
		Fetch: h.fetchDocument(root, func(b []byte) error { _, err := parseRoot(b); return err }),
	}, func() string { return mirror.LegacyHost(Protocol, h.up.Base(), "packages.json") })
	if fault.Is(err, fault.NotFound) {
		return e, fault.New("composer.rootEntry", fault.Upstream, "the Composer upstream has no packages.json")
	}
	return e, err
}

// parseRoot reads the metadata-url of a repository's packages.json; a
// Composer 1 repository without one cannot be mirrored.
func parseRoot(b []byte) (string, error) {
	var root struct {
		MetadataURL string `json:"metadata-url"`
	}
	if err := json.Unmarshal(b, &root); err != nil {
		return "", err
	}
	if !strings.Contains(root.MetadataURL, "%package%") {
		return "", fault.New("composer.parseRoot", fault.Upstream, "the upstream's packages.json has no metadata-url: only Composer 2 repositories can be mirrored")
	}
	return root.MetadataURL, nil
}

// upstreamDocument returns the cached p2 document of an unclaimed
// package, filling or revalidating it as needed.
func (h *Handler) upstreamDocument(ctx context.Context, name string, dev bool) (cache.Entry, error) {
	tmpl, err := h.metadataURL(ctx)
	if err != nil {
		return cache.Entry{}, err
	}
	file := name
	if dev {
		file += "~dev"
	}
	url := strings.ReplaceAll(tmpl, "%package%", file)
	e, err := h.r.Cached(ctx, cache.Request{
		Key:   mirror.ComposerP2(file),
		TTL:   h.r.DocumentTTL(),
		Fetch: h.fetchDocument(url, func(b []byte) error { _, err := parseP2(b); return err }),
	}, func() string { return mirror.LegacyHost(Protocol, h.up.Base(), "p2/"+file+".json") })
	if fault.Is(err, fault.NotFound) {
		return e, fault.Newf("composer.upstreamDocument", fault.NotFound, "package %s not found", name)
	}
	return e, err
}

// mirrorMetadata answers a p2 document of an unclaimed package from the
// upstream, rewritten for this edge.
func (h *Handler) mirrorMetadata(ctx *fasthttp.RequestCtx, req metadataReq) error {
	c := edge.Context(ctx)
	e, err := h.upstreamDocument(c, req.Name, req.Dev)
	if err != nil {
		return err
	}
	lm := e.FetchedAt
	if t, err := http.ParseTime(e.LastModified); err == nil {
		lm = t
	}
	if edge.Unchanged(ctx, lm) {
		return nil
	}
	base := h.mount.For(ctx)
	key := "mirror\x00" + string(e.Digest) + "\x00" + req.Name + "\x00" + base
	doc, ok := h.docs.Get(key)
	if !ok {
		raw, err := h.readEntry(c, e)
		if err != nil {
			return err
		}
		if doc, err = rewriteMirror(raw, base, req.Name); err != nil {
			return fault.WrapMsg("composer.mirrorMetadata", fault.Upstream, "the upstream's metadata cannot be read", err)
		}
		h.docs.Add(key, doc)
	}
	writeJSON(ctx, doc, lm)
	return nil
}

// upstreamDists indexes the dists of a package's cached document by
// normalized version.
func (h *Handler) upstreamDists(ctx context.Context, name string, e cache.Entry) (map[string]dist, error) {
	key := "dists\x00" + string(e.Digest) + "\x00" + name
	if v, ok := h.parsed.Get(key); ok {
		return v.(map[string]dist), nil
	}
	raw, err := h.readEntry(ctx, e)
	if err != nil {
		return nil, err
	}
	doc, err := parseP2(raw)
	if err != nil {
		return nil, fault.WrapMsg("composer.upstreamDists", fault.Upstream, "the upstream's metadata cannot be read", err)
	}
	out := map[string]dist{}
	for _, v := range doc.versions[name] {
		n, ok := versionKey(v)
		d, has := distOf(v)
		if ok && has {
			out[n] = d
		}
	}
	h.parsed.Add(key, out)
	return out, nil
}

// mirrorDist serves an unclaimed package's dist: from the cache, or
// fetched once (whatever the number of clients asking) from the URL the
// upstream's metadata gives for that version, verified and kept.
func (h *Handler) mirrorDist(ctx *fasthttp.RequestCtx, req distReq) error {
	const op = "composer.mirrorDist"
	c := edge.Context(ctx)
	e, err := h.upstreamDocument(c, req.Name, IsDev(req.Version))
	if err != nil {
		return err
	}
	dists, err := h.upstreamDists(c, req.Name, e)
	if err != nil {
		return err
	}
	d, ok := dists[req.Version]
	if !ok || refSegment(d.Reference) != req.Ref || distType(d.Type) != req.Type {
		return fault.Newf(op, fault.NotFound, "the upstream lists no such dist of %s %s (the metadata may have changed: run composer update)", req.Name, req.Version)
	}
	url, err := h.up.Resolve(d.URL)
	if err != nil {
		return fault.WrapMsg(op, fault.Upstream, "the upstream's dist URL is invalid", err)
	}
	var want []blob.Digest
	var sha1 blob.Digest
	if s := strings.ToLower(d.Shasum); len(s) == 40 {
		if dg, err := blob.ParseDigest(blob.SHA1 + ":" + s); err == nil {
			want, sha1 = append(want, dg), dg
		}
	}
	key := mirror.ComposerDist(req.Name, req.Version, req.Ref, req.Type, sha1)
	entry, err := h.r.Cached(c, cache.Request{
		Key:   key,
		Want:  want,
		Fetch: mirror.Artifact(h.up, url, mirror.ArtifactOptions{ContentType: contentTypeOf(d.Type)}),
	}, func() string { return mirror.LegacyComposerDist(h.up.Base(), req.Name, url, d.Reference, d.Shasum) })
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "the upstream has no dist for %s %s", req.Name, req.Version)
	}
	if err != nil {
		return err
	}
	if len(want) == 0 && distType(d.Type) == "zip" {
		// Nothing to verify the bytes by (Packagist leaves shasum empty
		// for source-host archives, which come without a length): at
		// least a cut-off zip, which has lost its end record, is not kept.
		if err := h.wholeZip(c, entry); err != nil {
			h.r.Cache.Invalidate(c, key)
			return fault.WrapMsg(op, fault.Upstream, "the upstream sent an incomplete archive for "+req.Name+" "+req.Version, err)
		}
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: entry.Digest, ContentType: contentTypeOf(d.Type), Immutable: true})
}

// zipTail is how much of an archive's end is read to find the end of
// central directory record (22 bytes plus a comment of up to 64 KiB).
const zipTail = 22 + 65535

// wholeZip reports whether a stored archive ends with a zip end of
// central directory record.
func (h *Handler) wholeZip(ctx context.Context, e cache.Entry) error {
	r, err := h.r.Blobs.Open(ctx, e.Digest, max(0, e.Size-zipTail), -1)
	if err != nil {
		return err
	}
	defer r.Close()
	tail, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.Contains(tail, []byte("PK\x05\x06")) {
		return errors.New("no end of central directory record")
	}
	return nil
}

func contentTypeOf(typ string) string {
	switch distType(typ) {
	case "zip":
		return "application/zip"
	case "tar":
		return "application/x-tar"
	}
	return "application/octet-stream"
}

// onUpstream is the probe a first publish under name's vendor hands to
// edge.Registry.ClaimForPublish, nil without a mirror: whether the
// upstream has a package of the vendor, as far as it can tell cheaply:
// the package being published (its p2 document, tagged or dev, asked
// through the cache as any read of it), or any name of the vendor its
// packages.json announces (available-packages,
// available-package-patterns). Any of them makes the claim refused,
// since it would hide the public packages from every user; an upstream
// that cannot answer refuses it too, until it can.
func (h *Handler) onUpstream(name string) func(context.Context, string) (bool, error) {
	if h.up == nil {
		return nil
	}
	// Composer's names are lowercase: the vendor has one spelling, and
	// the probe is of name.
	return func(ctx context.Context, _ string) (bool, error) {
		for _, dev := range []bool{false, true} {
			_, err := h.upstreamDocument(ctx, name, dev)
			switch {
			case err == nil:
				return true, nil
			case !fault.Is(err, fault.NotFound):
				return false, err
			}
		}
		e, err := h.rootEntry(ctx)
		if err != nil {
			return false, err
		}
		raw, err := h.readEntry(ctx, e)
		if err != nil {
			return false, err
		}
		return announces(raw, name), nil
	}
}

// announces reports whether a repository's packages.json names a package
// of name's vendor, or name itself, in available-packages or
// available-package-patterns (globs such as "acme/*").
func announces(root []byte, name string) bool {
	var doc struct {
		Packages []string `json:"available-packages"`
		Patterns []string `json:"available-package-patterns"`
	}
	if json.Unmarshal(root, &doc) != nil {
		return false
	}
	prefix := vendorOf(name) + "/"
	for _, p := range doc.Packages {
		if strings.HasPrefix(strings.ToLower(p), prefix) {
			return true
		}
	}
	for _, p := range doc.Patterns {
		p = strings.ToLower(p)
		if ok, _ := path.Match(p, name); ok || strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}
