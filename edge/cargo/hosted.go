package cargo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// bg is the context of catalog and store calls: a fasthttp RequestCtx is
// no cancellation context (see DESIGN.md, pitfalls).
var bg = context.Background()

// privateTTL bounds how long the answer "are there hosted crates anonymous
// callers may not read?" is trusted.
const privateTTL = 10 * time.Second

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
	o, err := h.resolve(bg, req.Name)
	if err != nil {
		return err
	}
	if err := h.mayRead(ctx, o); err != nil {
		// A name claimed before its first publish holds nothing: say so.
		// Asking for credentials would stop cargo, which sends them
		// only once config.json requires them, and it does not while no
		// private crate exists (cargo publish reads the index first).
		if o.hosted && who.Anonymous() && fault.Is(err, fault.Unauthorized) {
			if _, perr := h.r.Catalog.Package(bg, Protocol, normalize(req.Name)); fault.Is(perr, fault.NotFound) {
				return fault.Newf("cargo.index", fault.NotFound, "crate %s not found", req.Name)
			}
		}
		return err
	}
	if o.hosted {
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
	private := h.hasPrivate()
	h.private.Store(private)
	if h.privateGn.Load() == gen {
		h.privateAt.Store(time.Now().UnixNano())
	}
	return private
}

// hasPrivate scans the hosted crates' repositories for one that is not
// public; a failure counts as "yes", the safe answer.
func (h *Handler) hasPrivate() bool {
	seen := map[string]bool{}
	after := ""
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(bg, hosted.PackageFilter{Protocol: Protocol}, after, hosted.MaxPage)
		if err != nil {
			h.r.Log.Warn("cargo: listing hosted crates", "error", err)
			return true
		}
		for _, p := range pkgs {
			if seen[p.RepoID] {
				continue
			}
			seen[p.RepoID] = true
			repo, err := h.r.Auth.GetRepo(bg, p.RepoID)
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
	pkg, err := h.r.Catalog.Package(bg, Protocol, norm)
	if fault.Is(err, fault.NotFound) || err == nil && strings.ToLower(pkg.DisplayName) != name {
		return fault.Newf(op, fault.NotFound, "crate %s not found", name)
	}
	if err != nil {
		return fault.Op(op, err)
	}
	id := strconv.FormatInt(pkg.CreatedAt.UnixNano(), 36) + "-" + strconv.FormatUint(pkg.Serial, 10)
	etag := `"` + id + `"`
	ri, ok := h.index.Get(norm)
	if !ok || ri.id != id {
		vs, err := h.r.Catalog.Versions(bg, Protocol, norm, false)
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

// publish answers PUT /cargo/api/v1/crates/new. Everything is checked
// before anything is recorded: the framing, the metadata, the .crate
// itself (spooled, then its Cargo.toml read and compared with the
// metadata) and what the catalog holds under the name
// (a collision with another spelling, a re-published version). Only
// then is the name claimed (edge.ClaimForPublish, which authorizes the
// write), the blob committed, and the package and version recorded. The
// write is first authorized once the metadata in front of the .crate
// names it (edge.Registry.MayPublish), before the .crate is read. A
// refused publish claims, stores and records nothing.
func (h *Handler) publish(ctx *fasthttp.RequestCtx) (err error) {
	const op = "cargo.publish"
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	if p.Anonymous() {
		return fault.New(op, fault.Unauthorized, "authentication required to publish: configure a token for this registry")
	}
	var target, orgID string
	defer func() {
		if target != "" {
			h.r.RecordPublish(ctx, "package.publish", target, orgID, err, "")
		}
	}()

	body, err := edge.Body(ctx, h.r.MaxUpload+maxMetadata+8)
	if err != nil {
		return err
	}
	raw, crateLen, err := readFrame(body, maxMetadata, h.r.MaxUpload)
	if err != nil {
		return err // a refused body is drained by the edge
	}
	meta, err := decodePublish(raw)
	if err != nil {
		return err
	}
	target = Protocol + ":" + meta.Name + "@" + meta.Vers
	norm := normalize(meta.Name)
	_, vkey, _ := parseVersion(meta.Vers)
	org, _, _, err := h.r.PublishTo(bg, p, Protocol, "", norm)
	if err != nil {
		return err
	}
	orgID = org.ID

	// The write is authorized before the .crate is read: the metadata
	// in front of it names the crate.
	if err := h.r.MayPublish(ctx, Protocol, org, norm); err != nil {
		return err
	}

	// The .crate: spooled, then its manifest read from the spool.
	up, err := h.r.Spool(Protocol, io.LimitReader(body, crateLen))
	if err != nil {
		return frameErr(op, "the .crate file", err)
	}
	defer up.Close()
	if up.Size() != crateLen {
		return fault.Newf(op, fault.Invalid, "malformed publish request: the body ends after %d of the %d bytes of the .crate file", up.Size(), crateLen)
	}
	var one [1]byte
	if n, _ := io.ReadFull(body, one[:]); n > 0 {
		return fault.New(op, fault.Invalid, "malformed publish request: bytes after the .crate file")
	}
	man, err := readManifest(up.Reader(), archive.Budget(crateLen, 0), meta.Name, meta.Vers)
	if err != nil {
		return err
	}
	if err := man.check(meta); err != nil {
		return err
	}

	// What the catalog holds under the name: a refusal is told only once
	// the write is authorized, so that no one learns a private crate's
	// versions by publishing them.
	exists, refusal := h.existing(norm, meta, vkey)
	if refusal != nil && !fault.Is(refusal, fault.Conflict) {
		return refusal
	}
	cl, _, info, err := h.r.Accept(ctx, edge.ClaimRequest{Protocol: Protocol, Namespace: norm, Org: org, Upstream: h.onUpstream(meta.Name)}, up,
		func() error { return refusal })
	if err != nil {
		return err
	}
	entry, _ := json.Marshal(indexEntryOf(meta, info.Digest.Hex()))
	if !exists {
		_, err := h.r.Catalog.CreatePackage(bg, hosted.Package{Protocol: Protocol, Name: norm, DisplayName: meta.Name,
			OrgID: cl.OrgID, RepoID: cl.RepoID, Description: deref(meta.Description)})
		if fault.Is(err, fault.Conflict) { // a racing first publish
			var pkg hosted.Package
			pkg, err = h.r.Catalog.Package(bg, Protocol, norm)
			if err == nil {
				err = sameName(pkg, meta.Name)
			}
		}
		if err != nil {
			return err
		}
		h.forgetPrivate()
	}
	_, err = h.r.Catalog.AddVersion(bg, hosted.Version{
		Protocol: Protocol, Package: norm, Version: vkey, OrgID: cl.OrgID, Meta: entry, PublishedBy: p.UserID,
		Files: []hosted.File{{Name: norm + "/" + vkey + ".crate", Digest: string(info.Digest), Size: info.Size,
			ContentType: crateType, UploadedAt: time.Now().UTC()}},
	})
	if fault.Is(err, fault.Conflict) {
		return republished(meta)
	}
	if err != nil {
		return err
	}
	if _, err := h.r.Catalog.UpdatePackage(bg, Protocol, norm, func(p *hosted.Package) error {
		if meta.Description != nil {
			p.Description = *meta.Description
		}
		return nil
	}); err != nil {
		return err
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(publishWarnings)
	return nil
}

// existing reports whether the catalog holds the crate norm, and the
// Conflict a publish of meta meets there: a name that collides with the
// crate's own spelling, or a version published already. Any other error
// is the catalog's.
func (h *Handler) existing(norm string, meta publishMeta, vkey string) (bool, error) {
	pkg, err := h.r.Catalog.Package(bg, Protocol, norm)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := sameName(pkg, meta.Name); err != nil {
		return true, err
	}
	if _, err := h.r.Catalog.Version(bg, Protocol, norm, vkey); err == nil {
		return true, republished(meta)
	} else if !fault.Is(err, fault.NotFound) {
		return true, err
	}
	return true, nil
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
	cl, ref, ok, err := h.r.Hosted(bg, Protocol, normalize(name))
	if err != nil {
		return cl, auth.Principal{}, err
	}
	if !ok {
		if _, err := h.r.Who(ctx); err != nil {
			return cl, auth.Principal{}, err
		}
		return cl, auth.Principal{}, fault.Newf("cargo.hostedCrate", fault.NotFound, "crate %s is not hosted here", name)
	}
	p, err := h.r.May(ctx, ref, action)
	return cl, p, err
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
	_, err = h.r.Catalog.UpdateVersion(bg, Protocol, norm, vkey, func(v *hosted.Version) error {
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
	if _, err := h.r.Catalog.Touch(bg, Protocol, norm); err != nil {
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
	v, err := h.r.Catalog.Version(bg, Protocol, normalize(name), vkey)
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
	o, err := h.resolve(bg, name)
	if err != nil {
		return err
	}
	if err := h.mayRead(ctx, o); err != nil {
		return err
	}
	if o.hosted {
		return h.downloadHosted(ctx, name, vkey)
	}
	return h.downloadUpstream(ctx, name, vers)
}
