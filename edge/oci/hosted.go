package oci

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// getManifest answers GET and HEAD /v2/<name>/manifests/<reference>.
func (h *Handler) getManifest(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Read)
	if err != nil {
		return err
	}
	if t.mirror != nil {
		return h.proxyManifest(ctx, t, c)
	}
	bg := edge.Context(ctx)
	d := c.Digest
	if c.Tag != "" {
		tg, err := h.tag(bg, c.Name, c.Tag)
		if fault.Is(err, fault.NotFound) {
			return errf(codeManifestUnknown, fault.NotFound, "oci.getManifest", "tag %s not found in %s", c.Tag, c.Name)
		}
		if err != nil {
			return err
		}
		d = tg.Digest
	}
	m, err := h.manifest(bg, c.Name, d)
	if fault.Is(err, fault.NotFound) {
		return errf(codeManifestUnknown, fault.NotFound, "oci.getManifest", "manifest %s not found in %s", c.Reference(), c.Name)
	}
	if err != nil {
		return err
	}
	accept := ctx.Request.Header.PeekAll("Accept")
	if !Accepts(accept, m.MediaType) {
		child, err := h.negotiate(ctx, c, m.MediaType, m.Blob, accept)
		if err != nil {
			return err
		}
		if m, err = h.manifest(bg, c.Name, blob.Digest(child.Digest)); err != nil {
			return withCode(codeManifestUnknown, err)
		}
	}
	return h.serveManifest(ctx, m.Digest, m.Blob, m.MediaType, c.Tag == "")
}

// negotiate picks the platform manifest of an index for a client that
// does not take indexes (by tag only: a digest names exact bytes), or says
// why there is nothing to serve.
func (h *Handler) negotiate(ctx *fasthttp.RequestCtx, c Coord, mt string, stored blob.Digest, accept [][]byte) (Descriptor, error) {
	const op = "oci.negotiate"
	refuse := errf(codeManifestUnknown, fault.NotFound, op, "manifest %s is a %s, which the client does not accept", c.Reference(), mt)
	if !isIndex(mt) || c.Tag == "" {
		return Descriptor{}, refuse
	}
	b, err := h.readSmall(edge.Context(ctx), stored)
	if err != nil {
		return Descriptor{}, err
	}
	d, ok := PickPlatform(b, accept)
	if !ok {
		return Descriptor{}, refuse
	}
	return d, nil
}

// readSmall reads a stored manifest.
func (h *Handler) readSmall(ctx context.Context, d blob.Digest) ([]byte, error) {
	rc, err := h.r.Blobs.Open(ctx, d, 0, -1)
	if err != nil {
		return nil, fault.Op("oci.readSmall", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, h.opts.MaxManifestSize+1))
	return b, fault.Wrap("oci.readSmall", fault.Unavailable, err)
}

func (h *Handler) serveManifest(ctx *fasthttp.RequestCtx, d, stored blob.Digest, mt string, immutable bool) error {
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	return withCode(codeManifestUnknown, edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{
		Digest: stored, ContentType: mt, ETag: `"` + string(d) + `"`, Immutable: immutable,
	}))
}

// putManifest answers PUT /v2/<name>/manifests/<reference> through the
// publish pipeline (edge.Publish, manifestPush): the body limit, the
// authorization before the body is read, the manifest spooled, validated
// and checked against its digest, every referenced blob and child
// manifest checked to be in the repository, the name claimed, the bytes
// stored, then the record and the tags; both outcomes are audited.
func (h *Handler) putManifest(ctx *fasthttp.RequestCtx, c Coord) error {
	if _, err := h.resolve(ctx, c.Name, auth.Write); err != nil {
		return err
	}
	p := &manifestPush{h: h, c: c, ctype: string(ctx.Request.Header.ContentType())}
	if c.Tag != "" {
		p.tags = append(p.tags, c.Tag)
	}
	for _, v := range ctx.QueryArgs().PeekMulti("tag") {
		p.tags = append(p.tags, string(v))
	}
	return h.r.Publish(ctx, edge.PublishSpec{
		Protocol: "oci", Action: "oci.manifest.push", Limit: h.opts.MaxManifestSize, Hashes: p.hashes(),
		Coordinates: p.coordinates, Validate: p.validate, Refs: p.refs,
		Package: p.pkg, Record: p.record, Respond: p.respond, Refused: p.refused,
	})
}

// manifestPush is OCI's part in the publish of a manifest, and what its
// pieces learn.
type manifestPush struct {
	h     *Handler
	c     Coord
	ctype string   // the request's Content-Type
	tags  []string // the reference's tag, then the ?tag= ones
	d     blob.Digest
	m     Manifest
	mt    string
}

// hashes are the algorithms the spooled manifest is hashed with besides
// sha256: that of the digest it is addressed by.
func (p *manifestPush) hashes() []string {
	if p.c.Digest != "" && p.c.Digest.Algorithm() != blob.SHA256 {
		return []string{p.c.Digest.Algorithm()}
	}
	return nil
}

// coordinates: the repository's first segment is its organization, and
// the namespace a first push claims.
func (p *manifestPush) coordinates(pub *edge.Publication, body io.Reader) (io.Reader, error) {
	first, _, _ := strings.Cut(p.c.Name, "/")
	pub.Name, pub.Named, pub.Namespaces = p.c.Name, first, []string{first}
	pub.Version = p.c.Reference()
	query := p.tags
	if p.c.Tag != "" {
		query = query[1:]
	}
	for _, tg := range query {
		if !ValidTag(tg) {
			return nil, errf(codeTagInvalid, fault.Invalid, "oci.putManifest", "invalid tag %q", clip(tg))
		}
	}
	return body, nil
}

// validate checks the digest and reads the manifest.
func (p *manifestPush) validate(pub *edge.Publication) error {
	const op = "oci.putManifest"
	alg := blob.SHA256
	if p.c.Digest != "" {
		alg = p.c.Digest.Algorithm()
	}
	p.d = pub.Upload.Sum(alg)
	if p.c.Digest != "" && p.c.Digest != p.d {
		return errf(codeDigestInvalid, fault.Invalid, op, "manifest digest is %s, not %s", p.d, p.c.Digest)
	}
	b, err := io.ReadAll(pub.Upload.Reader())
	if err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	if p.c.Tag != "" {
		pub.File = string(p.d) // the audit target: oci:<name>@<tag>/<digest>
	}
	p.m, p.mt, err = ParseManifest(b, p.ctype)
	return err
}

func (p *manifestPush) refs(ctx context.Context, pub *edge.Publication) error {
	return p.h.checkRefs(ctx, p.c.Name, p.m)
}

func (p *manifestPush) pkg(pub *edge.Publication) hosted.Package {
	return hosted.Package{Name: p.c.Name, DisplayName: p.c.Name}
}

// record writes the manifest's record, then its tags.
func (p *manifestPush) record(ctx context.Context, pub *edge.Publication) error {
	rec := manifestRec{
		Repo: p.c.Name, Digest: p.d, Blob: pub.Blob.Digest, MediaType: p.mt, Size: pub.Blob.Size,
		ArtifactType: p.m.artifactType(), Annotations: p.m.Annotations, PushedAt: time.Now().UTC(),
	}
	if p.m.Subject != nil {
		rec.Subject = blob.Digest(p.m.Subject.Digest)
	}
	if err := p.h.saveManifest(ctx, rec); err != nil {
		return err
	}
	for _, tg := range p.tags {
		if err := p.h.setTag(ctx, p.c.Name, tg, p.d); err != nil {
			return err
		}
	}
	return nil
}

func (p *manifestPush) respond(ctx *fasthttp.RequestCtx, pub *edge.Publication) error {
	hd := &ctx.Response.Header
	hd.Set("Location", "/v2/"+p.c.Name+"/manifests/"+string(p.d))
	hd.Set("Docker-Content-Digest", string(p.d))
	if p.m.Subject != nil {
		hd.Set("OCI-Subject", p.m.Subject.Digest)
	}
	if p.c.Tag == "" {
		for _, tg := range p.tags {
			hd.Add("OCI-Tag", tg)
		}
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	return nil
}

// refused words the pipeline's refusals in OCI's codes.
func (p *manifestPush) refused(pub *edge.Publication, err error) error {
	var ce *codedError
	switch {
	case errors.As(err, &ce):
		return err
	case fault.Is(err, fault.TooLarge):
		return edge.WithStatus(fasthttp.StatusRequestEntityTooLarge, withCode(codeManifestInvalid,
			fault.WrapMsg("oci.putManifest", fault.TooLarge, "manifest over the limit of "+strconv.FormatInt(p.h.opts.MaxManifestSize, 10)+" bytes", err)))
	case fault.Is(err, fault.Invalid):
		return withCode(codeManifestInvalid, err)
	}
	return authError(err)
}

// checkRefs makes sure every blob and child manifest m references is in
// the repository: MANIFEST_BLOB_UNKNOWN otherwise.
func (h *Handler) checkRefs(ctx context.Context, repo string, m Manifest) error {
	const op = "oci.checkRefs"
	for _, d := range m.Blobs() {
		l, err := h.link(ctx, repo, blob.Digest(d.Digest))
		if fault.Is(err, fault.NotFound) {
			return errf(codeManifestBlobUnknown, fault.Invalid, op, "blob %s is not in %s: push it first", d.Digest, repo)
		}
		if err != nil {
			return err
		}
		if l.Size != d.Size {
			return errf(codeManifestInvalid, fault.Invalid, op, "blob %s has %d bytes, the manifest says %d", d.Digest, l.Size, d.Size)
		}
	}
	for _, d := range m.Manifests {
		_, err := h.manifest(ctx, repo, blob.Digest(d.Digest))
		if fault.Is(err, fault.NotFound) {
			return errf(codeManifestBlobUnknown, fault.Invalid, op, "manifest %s is not in %s: push it first", d.Digest, repo)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteManifest answers DELETE /v2/<name>/manifests/<reference>: a tag
// deletes the tag; a digest deletes the manifest and the tags naming it.
func (h *Handler) deleteManifest(ctx *fasthttp.RequestCtx, c Coord) error {
	const op = "oci.deleteManifest"
	t, err := h.resolve(ctx, c.Name, auth.Delete)
	if err != nil {
		return err
	}
	bg := edge.Context(ctx)
	if c.Tag != "" {
		if _, err := h.tag(bg, c.Name, c.Tag); err != nil {
			return withCode(codeManifestUnknown, err)
		}
		if err := h.store().Delete(bg, tagsC, tagID(c.Name, c.Tag)); err != nil {
			return fault.Op(op, err)
		}
	} else {
		if _, err := h.manifest(bg, c.Name, c.Digest); err != nil {
			return withCode(codeManifestUnknown, err)
		}
		if err := removeManifest(bg, h.store(), c.Name, c.Digest); err != nil {
			return err
		}
	}
	h.r.Record(ctx, "oci.manifest.delete", c.Name+"/"+c.Reference(), t.ref.OrgID, "success", "")
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	return nil
}

// removeManifest deletes repo's manifest d and the tags naming it: the
// one way a manifest goes (a client's DELETE, a cleanup policy). Its
// blobs stay for the collector.
func removeManifest(ctx context.Context, s hosted.Store, repo string, d blob.Digest) error {
	const op = "oci.removeManifest"
	var doomed []string
	err := eachRecord(ctx, s, tagsC, "repo", repo, "", func(r hosted.Record) bool {
		if tg, err := decode[tagRec](r); err == nil && tg.Digest == d {
			doomed = append(doomed, r.ID)
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, id := range doomed {
		if err := s.Delete(ctx, tagsC, id); err != nil && !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
	}
	if err := s.Delete(ctx, manifestsC, manifestID(repo, d)); err != nil {
		return fault.Op(op, err)
	}
	return nil
}

// getBlob answers GET and HEAD /v2/<name>/blobs/<digest>.
func (h *Handler) getBlob(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Read)
	if err != nil {
		return err
	}
	if t.mirror != nil {
		return h.proxyBlob(ctx, t, c)
	}
	l, err := h.link(edge.Context(ctx), c.Name, c.Digest)
	if fault.Is(err, fault.NotFound) {
		return errf(codeBlobUnknown, fault.NotFound, "oci.getBlob", "blob %s not found in %s", c.Digest, c.Name)
	}
	if err != nil {
		return err
	}
	return h.serveBlob(ctx, c.Digest, l.Blob)
}

func (h *Handler) serveBlob(ctx *fasthttp.RequestCtx, d, stored blob.Digest) error {
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	return withCode(codeBlobUnknown, edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{
		Digest: stored, ETag: `"` + string(d) + `"`, Immutable: true,
	}))
}

// deleteBlob answers DELETE /v2/<name>/blobs/<digest>: the blob leaves
// the repository (the bytes stay while anything else holds them).
func (h *Handler) deleteBlob(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Delete)
	if err != nil {
		return err
	}
	bg := edge.Context(ctx)
	if _, err := h.link(bg, c.Name, c.Digest); err != nil {
		return withCode(codeBlobUnknown, err)
	}
	if err := h.store().Delete(bg, linksC, linkID(c.Name, c.Digest)); err != nil {
		return fault.Op("oci.deleteBlob", err)
	}
	h.r.Record(ctx, "oci.blob.delete", c.Name+"@"+string(c.Digest), t.ref.OrgID, "success", "")
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	return nil
}

// pageArgs reads n and last; n < 0 means no n.
func (h *Handler) pageArgs(ctx *fasthttp.RequestCtx) (int, string, error) {
	n := -1
	if v := ctx.QueryArgs().Peek("n"); len(v) > 0 {
		i, err := strconv.Atoi(string(v))
		if err != nil || i < 0 {
			return 0, "", errf(codePaginationInvalid, fault.Invalid, "oci.pageArgs", "invalid n %q", clip(string(v)))
		}
		n = min(i, h.opts.MaxPage)
	}
	return n, string(ctx.QueryArgs().Peek("last")), nil
}

// tags answers GET /v2/<name>/tags/list?n=&last=, in lexical order.
func (h *Handler) tags(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Read)
	if err != nil {
		return err
	}
	if t.mirror != nil {
		return h.proxyTags(ctx, t, c)
	}
	n, last, err := h.pageArgs(ctx)
	if err != nil {
		return err
	}
	bg := edge.Context(ctx)
	if _, err := h.r.Catalog.Package(bg, "oci", c.Name); fault.Is(err, fault.NotFound) {
		return errf(codeNameUnknown, fault.NotFound, "oci.tags", "repository %s is not known", c.Name)
	}
	after := ""
	if last != "" {
		after = c.Name + "\x00" + tagID(c.Name, last)
	}
	tags := []string{}
	more := false
	if n != 0 {
		err = h.eachRecord(bg, tagsC, "repo", c.Name, after, func(r hosted.Record) bool {
			if n > 0 && len(tags) == n {
				more = true
				return false
			}
			if tg, err := decode[tagRec](r); err == nil {
				tags = append(tags, tg.Tag)
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	if more {
		ctx.Response.Header.Set("Link", NextLink("/v2/"+c.Name+"/tags/list", tags[len(tags)-1], n))
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(TagList(c.Name, tags))
	return nil
}

// referrers answers GET /v2/<name>/referrers/<digest>?artifactType=.
func (h *Handler) referrers(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Read)
	if err != nil {
		return err
	}
	if t.mirror != nil {
		return h.proxyReferrers(ctx, t, c)
	}
	var refs []Descriptor
	err = h.eachRecord(edge.Context(ctx), manifestsC, "subject", manifestID(c.Name, c.Digest), "", func(r hosted.Record) bool {
		if m, err := decode[manifestRec](r); err == nil {
			refs = append(refs, Descriptor{MediaType: m.MediaType, Digest: string(m.Digest), Size: m.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations})
		}
		return true
	})
	if err != nil {
		return err
	}
	at := string(ctx.QueryArgs().Peek("artifactType"))
	if at != "" {
		ctx.Response.Header.Set("OCI-Filters-Applied", "artifactType")
	}
	ctx.SetContentType(mtOCIIndex)
	ctx.SetBody(ReferrersIndex(refs, at))
	return nil
}

// catalog answers GET /v2/_catalog?n=&last=: the hosted repositories the
// caller may read, by name. Mirrors are not listed.
func (h *Handler) catalog(ctx *fasthttp.RequestCtx) error {
	p, err := h.who(ctx)
	if err != nil {
		return withCode(codeUnauthorized, err)
	}
	ctx.SetUserValue(challengeKey, challenge{scope: "registry:catalog:*"})
	if p.Anonymous() {
		return errf(codeUnauthorized, fault.Unauthorized, "oci.catalog", "authentication required")
	}
	n, last, err := h.pageArgs(ctx)
	if err != nil {
		return err
	}
	bg := edge.Context(ctx)
	repos := []string{}
	more := false
	visible := map[string]bool{}
	after := ""
	for n != 0 {
		pkgs, next, err := h.r.Catalog.ListPackages(bg, hosted.PackageFilter{Protocol: "oci"}, after, hosted.MaxPage)
		if err != nil {
			return err
		}
		for _, pk := range pkgs {
			if pk.Name <= last {
				continue
			}
			if n > 0 && len(repos) == n {
				more = true
				break
			}
			ok, seen := visible[pk.RepoID]
			if !seen {
				ok = h.mayRead(bg, p, pk)
				visible[pk.RepoID] = ok
			}
			if ok {
				repos = append(repos, pk.Name)
			}
		}
		if more || next == "" {
			break
		}
		after = next
	}
	if more {
		ctx.Response.Header.Set("Link", NextLink("/v2/_catalog", repos[len(repos)-1], n))
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(CatalogList(repos))
	return nil
}

func (h *Handler) mayRead(ctx context.Context, p auth.Principal, pk hosted.Package) bool {
	ref := auth.RepoRef{OrgID: pk.OrgID, Protocol: "oci"}
	if pk.RepoID != "" {
		repo, err := h.r.Auth.GetRepo(ctx, pk.RepoID)
		if err != nil {
			return false
		}
		ref = repo.Ref()
	}
	return h.r.Auth.Authorize(ctx, p, ref, auth.Read) == nil
}
