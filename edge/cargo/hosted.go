package cargo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// privateTTL bounds how long the answer "are there hosted crates anonymous
// callers may not read?" is trusted.
const privateTTL = 10 * time.Second

// privateScanTimeout bounds the scan behind authRequired's answer.
const privateScanTimeout = 10 * time.Second

// serveIndex answers GET and HEAD under /cargo/index/: config.json, or a
// crate's index file from the hosted catalog or the upstream.
func (h *Handler) serveIndex(ctx *fasthttp.RequestCtx) error {
	p, _ := ctx.UserValue("path").(string)
	req, err := parseIndexPath(p)
	if err != nil {
		return err
	}
	who, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	// cargo sends its token only once config.json said auth-required or
	// answered 401; an anonymous caller must learn that here.
	if who.Anonymous() && h.authRequired() {
		return fault.New("cargo.index", fault.Unauthorized, "this registry requires authentication: configure a token for it (cargo login --registry NAME)")
	}
	if req.Config {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.SetBody(configJSON(h.mount.For(ctx), !who.Anonymous()))
		return nil
	}
	o, err := h.resolve(ctx, req.Name, auth.Read)
	if err != nil {
		// A name claimed before its first publish holds nothing: say so.
		// Asking for credentials would stop cargo, which sends them
		// only once config.json requires them, and it does not while no
		// private crate exists (cargo publish reads the index first).
		if o.Hosted && who.Anonymous() && fault.Is(err, fault.Unauthorized) {
			if _, perr := h.r.Catalog.Package(edge.Context(ctx), Protocol, normalize(req.Name)); fault.Is(perr, fault.NotFound) {
				return fault.Newf("cargo.index", fault.NotFound, "crate %s not found", req.Name)
			}
		}
		return err
	}
	if o.Hosted {
		return h.serveHostedIndex(ctx, req.Name)
	}
	return h.serveUpstreamIndex(ctx, req.Name)
}

// authRequired reports whether anonymous callers must authenticate to use
// the index: when anonymous mirror reads are off, or when some hosted
// crate is in a repository that is not public (cargo sends its token for
// every index file or none, so one private crate decides for all).
func (h *Handler) authRequired() bool {
	if !h.r.AnonymousMirrorReads() {
		return true
	}
	fresh := func() bool {
		at := h.privateAt.Load()
		return at != 0 && time.Since(time.Unix(0, at)) < privateTTL
	}
	if fresh() {
		return h.private.Load()
	}
	h.privateMu.Lock()
	defer h.privateMu.Unlock()
	if fresh() { // another request has just scanned
		return h.private.Load()
	}
	gen := h.privateGn.Load()
	// The answer is shared by every request until privateTTL: the scan
	// is no one request's, and runs under a bound of its own.
	sctx, cancel := context.WithTimeout(context.Background(), privateScanTimeout)
	defer cancel()
	private := h.hasPrivate(sctx)
	h.private.Store(private)
	if h.privateGn.Load() == gen {
		h.privateAt.Store(time.Now().UnixNano())
	}
	return private
}

// hasPrivate scans the hosted crates' repositories for one that is not
// public; a failure counts as "yes", the safe answer.
func (h *Handler) hasPrivate(ctx context.Context) bool {
	seen := map[string]bool{}
	after := ""
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(ctx, hosted.PackageFilter{Protocol: Protocol}, after, hosted.MaxPage)
		if err != nil {
			h.r.Log.Warn("cargo: listing hosted crates", "error", err)
			return true
		}
		for _, p := range pkgs {
			if seen[p.RepoID] {
				continue
			}
			seen[p.RepoID] = true
			repo, err := h.r.Auth.GetRepo(ctx, p.RepoID)
			if err != nil || repo.Visibility != auth.Public {
				return true
			}
		}
		if next == "" {
			return false
		}
		after = next
	}
}

// forgetPrivate makes the next authRequired look again, after a publish.
func (h *Handler) forgetPrivate() {
	h.privateGn.Add(1)
	h.privateAt.Store(0)
}

// renderedIndex is a hosted index file prepared for one package state.
type renderedIndex struct {
	id   string // package id and serial: a change makes a new one
	body []byte
}

// serveHostedIndex answers a claimed crate's index file. The name in the
// path must be the crate's own (lowercased): a name that only collides
// with it is not found here, as on crates.io.
func (h *Handler) serveHostedIndex(ctx *fasthttp.RequestCtx, name string) error {
	const op = "cargo.serveHostedIndex"
	norm := normalize(name)
	pkg, err := h.r.Catalog.Package(edge.Context(ctx), Protocol, norm)
	if fault.Is(err, fault.NotFound) || err == nil && strings.ToLower(pkg.DisplayName) != name {
		return fault.Newf(op, fault.NotFound, "crate %s not found", name)
	}
	if err != nil {
		return fault.Op(op, err)
	}
	id := pkg.Stamp().String()
	etag := `"` + id + `"`
	ri, ok := h.index.Get(norm)
	if !ok || ri.id != id {
		vs, err := h.r.Catalog.Versions(edge.Context(ctx), Protocol, norm, false)
		if err != nil {
			return fault.Op(op, err)
		}
		entries := make([]indexEntry, 0, len(vs))
		for _, v := range vs {
			var e indexEntry
			if err := json.Unmarshal(v.Meta, &e); err != nil {
				return fault.Wrap(op, fault.Internal, fmt.Errorf("version %s of %s: %w", v.Version, norm, err))
			}
			e.Yanked = v.Yanked
			entries = append(entries, e)
		}
		ri = renderedIndex{id: id, body: renderIndex(entries)}
		h.index.Add(norm, ri)
	}
	if len(ri.body) == 0 {
		return fault.Newf(op, fault.NotFound, "crate %s has no versions", name)
	}
	edge.ServeDocument(ctx, ri.body, edge.DocOptions{
		ContentType: "text/plain; charset=utf-8", CacheControl: "private, no-cache",
		ETag: etag, LastModified: pkg.UpdatedAt,
	})
	return nil
}

// publishWarnings is the success answer cargo expects from a publish.
var publishWarnings = []byte(`{"warnings":{"invalid_categories":[],"invalid_badges":[],"other":[]}}`)

// publish answers PUT /cargo/api/v1/crates/new through edge.Publish:
// the metadata in front of the .crate names the crate, so the write is
// authorized before the .crate is read; the .crate is spooled, its
// Cargo.toml read and compared with the metadata; a version or a
// colliding spelling the catalog holds is refused once the write is
// authorized. A refused publish claims, stores and records nothing.
func (h *Handler) publish(ctx *fasthttp.RequestCtx) error {
	c := &crateUpload{h: h}
	return h.r.Publish(ctx, edge.PublishSpec{
		Protocol:    Protocol,
		SignIn:      "authentication required to publish: configure a token for this registry",
		Limit:       h.r.MaxUpload + maxMetadata + 8,
		Coordinates: c.coordinates, Spool: c.spool, Validate: c.validate,
		Check: c.check, Package: c.pkg, Record: c.record, Respond: c.respond,
	})
}

// crateUpload is one cargo publish: its pieces of edge.Publish.
type crateUpload struct {
	h          *Handler
	body       io.Reader
	crateLen   int64
	meta       publishMeta
	norm, vkey string
}

// coordinates reads the metadata frame in front of the .crate.
func (c *crateUpload) coordinates(pub *edge.Publication, body io.Reader) (io.Reader, error) {
	raw, crateLen, err := readFrame(body, maxMetadata, c.h.r.MaxUpload)
	if err != nil {
		return nil, err
	}
	if c.meta, err = decodePublish(raw); err != nil {
		return nil, err
	}
	c.body, c.crateLen, c.norm = body, crateLen, normalize(c.meta.Name)
	_, c.vkey, _ = parseVersion(c.meta.Vers)
	pub.Name, pub.Version = c.meta.Name, c.meta.Vers
	pub.Namespaces, pub.Upstream = []string{c.norm}, c.h.onUpstream()
	return io.LimitReader(body, crateLen), nil
}

// spool spools the .crate, which must end the body.
func (c *crateUpload) spool(_ *edge.Publication, content io.Reader) (*edge.Upload, error) {
	const op = "cargo.publish"
	up, err := c.h.r.Spool(Protocol, content)
	if err != nil {
		return nil, frameErr(op, "the .crate file", err)
	}
	if up.Size() != c.crateLen {
		up.Close()
		return nil, fault.Newf(op, fault.Invalid, "malformed publish request: the body ends after %d of the %d bytes of the .crate file", up.Size(), c.crateLen)
	}
	var one [1]byte
	if n, _ := io.ReadFull(c.body, one[:]); n > 0 {
		up.Close()
		return nil, fault.New(op, fault.Invalid, "malformed publish request: bytes after the .crate file")
	}
	return up, nil
}

// validate reads the .crate's Cargo.toml and compares it with the
// metadata.
func (c *crateUpload) validate(pub *edge.Publication) error {
	man, err := readManifest(pub.Upload.Reader(), archive.Budget(c.crateLen, 0), c.meta.Name, c.meta.Vers)
	if err != nil {
		return err
	}
	return man.check(c.meta)
}

// check refuses what the catalog holds under the name: a colliding
// spelling, or the version.
func (c *crateUpload) check(ctx context.Context, _ *edge.Publication) error {
	return c.h.existing(ctx, c.norm, c.meta, c.vkey)
}

func (c *crateUpload) pkg(*edge.Publication) hosted.Package {
	return hosted.Package{Name: c.norm, DisplayName: c.meta.Name, Description: deref(c.meta.Description)}
}

// record writes the version, the crate being the one of its spelling (a
// racing first publish may have created another).
func (c *crateUpload) record(ctx context.Context, pub *edge.Publication) error {
	meta, norm, vkey := c.meta, c.norm, c.vkey
	if err := sameName(pub.Package, meta.Name); err != nil {
		return err
	}
	if pub.Created {
		c.h.forgetPrivate()
	}
	entry, _ := json.Marshal(indexEntryOf(meta, pub.Blob.Digest.Hex()))
	_, err := c.h.r.Catalog.AddVersion(ctx, hosted.Version{
		Protocol: Protocol, Package: norm, Version: vkey, OrgID: pub.Claim.OrgID, Meta: entry, PublishedBy: pub.Principal.UserID,
		Files: []hosted.File{{Name: norm + "/" + vkey + ".crate", Digest: string(pub.Blob.Digest), Size: pub.Blob.Size,
			ContentType: crateType, UploadedAt: time.Now().UTC()}},
	})
	if fault.Is(err, fault.Conflict) {
		return republished(meta)
	}
	if err != nil {
		return err
	}
	_, err = c.h.r.Catalog.UpdatePackage(ctx, Protocol, norm, func(p *hosted.Package) error {
		if meta.Description != nil {
			p.Description = *meta.Description
		}
		return nil
	})
	return err
}

func (c *crateUpload) respond(ctx *fasthttp.RequestCtx, _ *edge.Publication) error {
	ctx.SetContentType("application/json")
	ctx.SetBody(publishWarnings)
	return nil
}

// existing is the Conflict a publish of meta meets in the catalog under
// the crate norm: a name that collides with the crate's own spelling, or
// a version published already. Any other error is the catalog's.
func (h *Handler) existing(ctx context.Context, norm string, meta publishMeta, vkey string) error {
	pkg, err := h.r.Catalog.Package(ctx, Protocol, norm)
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := sameName(pkg, meta.Name); err != nil {
		return err
	}
	if _, err := h.r.Catalog.Version(ctx, Protocol, norm, vkey); err == nil {
		return republished(meta)
	} else if !fault.Is(err, fault.NotFound) {
		return err
	}
	return nil
}

// crateType is the media type .crate files are served with.
const crateType = "application/gzip"

func sameName(pkg hosted.Package, name string) error {
	if pkg.DisplayName != name {
		return fault.Newf("cargo.publish", fault.Conflict, "crate name %s collides with the existing crate %s (names differing only in case or in '-' and '_' are the same crate)", name, pkg.DisplayName)
	}
	return nil
}

func republished(m publishMeta) error {
	return fault.Newf("cargo.publish", fault.Conflict, "crate version %s of %s is already uploaded: versions are immutable", m.Vers, m.Name)
}

// crateVersion reads and checks the {crate} and {version} of an API path.
func crateVersion(ctx *fasthttp.RequestCtx) (name, vers, vkey string, err error) {
	name, _ = ctx.UserValue("crate").(string)
	vers, _ = ctx.UserValue("version").(string)
	if err := checkName(name); err != nil {
		return "", "", "", err
	}
	if _, vkey, err = parseVersion(vers); err != nil {
		return "", "", "", err
	}
	return name, vers, vkey, nil
}

// hostedCrate resolves an API path's crate, which must be hosted: yank and
// owners apply to hosted crates only.
func (h *Handler) hostedCrate(ctx *fasthttp.RequestCtx, name string, action auth.Action) (hosted.Claim, auth.Principal, error) {
	o, err := h.r.Resolve(ctx, edge.Coords{Protocol: Protocol, Namespaces: []string{normalize(name)}, Name: name, Action: action,
		Unknown: "crate %s is not hosted here"})
	return o.Claim, o.Principal, err
}

// yank answers DELETE /cargo/api/v1/crates/NAME/VERSION/yank.
func (h *Handler) yank(ctx *fasthttp.RequestCtx) error { return h.setYanked(ctx, true) }

// unyank answers PUT /cargo/api/v1/crates/NAME/VERSION/unyank.
func (h *Handler) unyank(ctx *fasthttp.RequestCtx) error { return h.setYanked(ctx, false) }

// setYanked marks a hosted version (un)yanked: it stays downloadable, so
// that existing lock files keep building, but a fresh resolution skips it.
// It takes write permission, like a publish.
func (h *Handler) setYanked(ctx *fasthttp.RequestCtx, yanked bool) (err error) {
	const op = "cargo.yank"
	name, vers, vkey, err := crateVersion(ctx)
	if err != nil {
		return err
	}
	cl, _, err := h.hostedCrate(ctx, name, auth.Write)
	if err != nil {
		return err
	}
	action := "package.yank"
	if !yanked {
		action = "package.unyank"
	}
	defer func() {
		outcome, detail := "success", ""
		if err != nil {
			outcome, detail = "failure", edge.ClientMessage(err, edge.RequestID(ctx))
		}
		h.r.Record(ctx, action, Protocol+":"+name+"@"+vers, cl.OrgID, outcome, detail)
	}()
	norm := normalize(name)
	_, err = h.r.Catalog.UpdateVersion(edge.Context(ctx), Protocol, norm, vkey, func(v *hosted.Version) error {
		if v.Deleted {
			return fault.Newf(op, fault.NotFound, "version %s of crate %s not found", vers, name)
		}
		v.Yanked = yanked
		return nil
	})
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "version %s of crate %s not found", vers, name)
	}
	if err != nil {
		return err
	}
	if _, err := h.r.Catalog.Touch(edge.Context(ctx), Protocol, norm); err != nil {
		return err
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"ok":true}`)
	return nil
}

// downloadHosted streams a hosted version's .crate. Yanked versions stay
// downloadable.
func (h *Handler) downloadHosted(ctx *fasthttp.RequestCtx, name, vkey string) error {
	const op = "cargo.download"
	v, err := h.r.Catalog.Version(edge.Context(ctx), Protocol, normalize(name), vkey)
	if fault.Is(err, fault.NotFound) || err == nil && (v.Deleted || len(v.Files) == 0) {
		return fault.Newf(op, fault.NotFound, "version %s of crate %s not found", vkey, name)
	}
	if err != nil {
		return err
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: blobDigest(v.Files[0].Digest), ContentType: crateType, Immutable: true})
}

// download answers GET and HEAD /cargo/api/v1/crates/NAME/VERSION/download.
func (h *Handler) download(ctx *fasthttp.RequestCtx) error {
	name, vers, vkey, err := crateVersion(ctx)
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, name, auth.Read)
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.downloadHosted(ctx, name, vkey)
	}
	return h.downloadUpstream(ctx, name, vers)
}
