package rubygems

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// versionMeta is a hosted version's Meta: its specification and its yank
// history (which /versions replays).
type versionMeta struct {
	Spec   Spec        `json:"spec"`
	Events []yankEvent `json:"events,omitempty"`
}

type yankEvent struct {
	At     time.Time `json:"at"`
	Yanked bool      `json:"yanked"`
}

// gemIndex is what the compact index needs of one hosted gem, built from
// the catalog and kept while the package's serial is unchanged.
type gemIndex struct {
	pkg      hosted.Package
	versions []hosted.Version // every version, deleted ones excluded
	metas    []*versionMeta   // parallel to versions
	live     []*Spec          // not yanked, in publish order
	lines    []versionsLine   // its part of /versions
	info     []byte           // /info/{name}
}

// index returns the compact-index view of the hosted gem name; NotFound
// when no package of that name exists.
func (h *Handler) index(ctx context.Context, name string) (*gemIndex, error) {
	pkg, err := h.r.Catalog.Package(ctx, Protocol, name)
	if err != nil {
		return nil, err
	}
	return h.indexOf(ctx, pkg)
}

func (h *Handler) indexOf(ctx context.Context, pkg hosted.Package) (*gemIndex, error) {
	h.mu.Lock()
	g := h.byName[pkg.Name]
	h.mu.Unlock()
	if g != nil && g.pkg.Stamp() == pkg.Stamp() {
		return g, nil
	}
	vs, err := h.r.Catalog.Versions(ctx, Protocol, pkg.Name, false)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].PublishedAt.Before(vs[j].PublishedAt) })
	g = &gemIndex{pkg: pkg, versions: vs}
	var changes []change
	for i, v := range vs {
		var m versionMeta
		if err := json.Unmarshal(v.Meta, &m); err != nil {
			return nil, fault.Wrap("rubygems.index", fault.Internal, err)
		}
		g.metas = append(g.metas, &m)
		changes = append(changes, change{At: v.PublishedAt, Spec: &m.Spec, order: i})
		for _, e := range m.Events {
			changes = append(changes, change{At: e.At, Spec: &m.Spec, Yank: e.Yanked, order: i})
		}
		if !v.Yanked {
			g.live = append(g.live, &m.Spec)
		}
	}
	g.lines, g.info = history(pkg.Name, changes)
	h.mu.Lock()
	h.byName[pkg.Name] = g
	h.mu.Unlock()
	return g, nil
}

// hostedGems lists every hosted gem, re-reading the catalog at most every
// IndexTTL (and at once after a change, made on this edge or another:
// onChange).
func (h *Handler) hostedGems(ctx context.Context) ([]*gemIndex, error) {
	h.mu.Lock()
	if h.list != nil && time.Since(h.listAt) < h.opts.IndexTTL && h.listGen == h.gen {
		l := h.list
		h.mu.Unlock()
		return l, nil
	}
	gen := h.gen
	h.mu.Unlock()
	var (
		out   []*gemIndex
		after string
	)
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(ctx, hosted.PackageFilter{Protocol: Protocol}, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			g, err := h.indexOf(ctx, p)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		if next == "" {
			break
		}
		after = next
	}
	h.mu.Lock()
	h.list, h.listAt, h.listGen = out, time.Now(), gen
	h.mu.Unlock()
	return out, nil
}

// changed makes the next listing read the catalog again.
func (h *Handler) changed() {
	h.mu.Lock()
	h.gen++
	h.mu.Unlock()
}

// readable returns the hosted gems the caller may read. Credentials are
// checked first, so bad ones are Unauthorized rather than a shorter list.
func (h *Handler) readable(ctx *fasthttp.RequestCtx) (all, visible []*gemIndex, err error) {
	if _, err := h.r.Who(ctx); err != nil {
		return nil, nil, err
	}
	all, err = h.hostedGems(edge.Context(ctx))
	if err != nil {
		return nil, nil, err
	}
	for _, g := range all {
		_, ref, ok, err := h.r.Hosted(edge.Context(ctx), Protocol, g.pkg.Name)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue // a released claim: the name is no longer served from here
		}
		if _, err := h.r.May(ctx, ref, auth.Read); err == nil {
			visible = append(visible, g)
		}
	}
	return all, visible, nil
}

// doc is a prepared document stored as a blob.
type doc struct {
	digest blob.Digest
	md5    string
	size   int64
}

// docFor returns the stored document for key, building and storing it on
// first use. key must name everything the document is built from.
func (h *Handler) docFor(ctx context.Context, key string, build func() ([]byte, error)) (doc, error) {
	if d, ok := h.docs.Get(key); ok {
		return d, nil
	}
	b, err := build()
	if err != nil {
		return doc{}, err
	}
	w, err := h.r.Blobs.Create(ctx)
	if err != nil {
		return doc{}, err
	}
	defer w.Cancel(context.WithoutCancel(ctx)) // even past the deadline
	if _, err := w.Write(b); err != nil {
		return doc{}, err
	}
	info, err := w.Commit(ctx)
	if err != nil {
		return doc{}, err
	}
	d := doc{digest: info.Digest, md5: md5hex(b), size: info.Size}
	h.docs.Add(key, d)
	return d, nil
}

// serveDoc streams a document with the compact index's validators: ETag
// is the quoted MD5 of the whole body (Bundler compares it with the MD5 of
// its copy after appending a range), Repr-Digest and Digest its sha256.
func serveDoc(ctx *fasthttp.RequestCtx, blobs blob.Store, d blob.Digest, md5 string, contentType string) error {
	if sum, err := hex.DecodeString(d.Hex()); err == nil {
		b64 := base64.StdEncoding.EncodeToString(sum)
		ctx.Response.Header.Set("Repr-Digest", "sha-256=:"+b64+":")
		ctx.Response.Header.Set("Digest", "sha-256="+b64)
	}
	etag := ""
	if md5 != "" {
		etag = `"` + md5 + `"`
	}
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	return edge.ServeBlob(ctx, blobs, edge.Blob{Digest: d, ContentType: contentType, ETag: etag})
}

// push answers POST /api/v1/gems (gem push) through edge.Publish. Only
// the gem names itself, so the caller is first authorized to publish at
// all, the gem spooled, and the write on the name its first entry gives
// authorized before the rest is read; a
// version pushed already is refused once the write is authorized, so
// that no one learns a private gem's versions by pushing them.
func (h *Handler) push(ctx *fasthttp.RequestCtx) error {
	g := &gemUpload{h: h}
	return h.r.Publish(ctx, edge.PublishSpec{
		Protocol:    Protocol,
		SignIn:      "authentication required to push: set GEM_HOST_API_KEY to an Entrepot API token",
		Coordinates: func(_ *edge.Publication, body io.Reader) (io.Reader, error) { return body, nil },
		Name:        g.name, Validate: g.validate, Check: g.check, Record: g.record,
		Package: func(pub *edge.Publication) hosted.Package {
			return hosted.Package{Name: pub.Name, DisplayName: pub.Name, Description: g.spec.Summary}
		},
		Changed: func(*edge.Publication) { h.changed() }, Respond: g.respond,
		Refused: func(pub *edge.Publication, err error) error { return pushRefused(pub.Name, pub.Claimed, err) },
	})
}

// gemUpload is one gem push: its pieces of edge.Publish.
type gemUpload struct {
	h    *Handler
	spec *Spec
	key  string
}

// name reads the gem's name from its first entry.
func (g *gemUpload) name(pub *edge.Publication, up *edge.Upload) error {
	if name := gemName(up.Reader()); name != "" {
		pub.Name, pub.Namespaces, pub.Upstream = name, []string{name}, g.h.onUpstream()
	}
	return nil
}

// validate reads the gem's specification, which must name the gem.
func (g *gemUpload) validate(pub *edge.Publication) error {
	spec, err := readGem(pub.Upload.Reader(), archive.Budget(pub.Upload.Size(), 0))
	if err != nil {
		return err
	}
	if spec.Name != pub.Name {
		return fault.New("rubygems.push", fault.Invalid, "the gem's metadata.gz does not name the gem it holds")
	}
	g.spec, g.key = spec, versionKey(spec.Version, spec.Platform)
	pub.Version = g.key
	return nil
}

// check refuses a version pushed already.
func (g *gemUpload) check(ctx context.Context, pub *edge.Publication) error {
	if _, err := g.h.r.Catalog.Version(ctx, Protocol, pub.Name, g.key); err == nil {
		return fault.Newf("rubygems.push", fault.Conflict, "Repushing of gem versions is not allowed: %s exists already (versions are immutable; yank it and push a new version)", g.spec.FullName())
	} else if !fault.Is(err, fault.NotFound) {
		return err
	}
	return nil
}

// record writes the version.
func (g *gemUpload) record(ctx context.Context, pub *edge.Publication) error {
	const op = "rubygems.push"
	name, spec, info := pub.Name, g.spec, pub.Blob
	spec.SHA256, spec.Size = info.Digest.Hex(), info.Size
	meta, _ := json.Marshal(versionMeta{Spec: *spec})
	_, err := g.h.r.Catalog.AddVersion(ctx, hosted.Version{
		Protocol: Protocol, Package: name, Version: g.key, OrgID: pub.Package.OrgID, Meta: meta,
		PublishedBy: pub.Principal.UserID,
		Files: []hosted.File{{
			Name: spec.FullName() + ".gem", Digest: string(info.Digest), Size: info.Size,
			ContentType: "application/octet-stream", UploadedAt: time.Now().UTC(),
		}},
	})
	if fault.Is(err, fault.Conflict) {
		return fault.Newf(op, fault.Conflict, "Repushing of gem versions is not allowed: %s exists already", spec.FullName())
	}
	if err != nil {
		return err
	}
	_, err = g.h.r.Catalog.Touch(ctx, Protocol, name)
	return err
}

func (g *gemUpload) respond(ctx *fasthttp.RequestCtx, pub *edge.Publication) error {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("Successfully registered gem: " + pub.Name + " (" + g.key + ")")
	return nil
}

// pushRefused words a push refused on a claimed name.
func pushRefused(name string, claimed bool, err error) error {
	if claimed && fault.Is(err, fault.Forbidden) {
		return fault.WrapMsg("rubygems.push", fault.Forbidden, "the gem name "+name+" belongs to another organization, or you may not push to it", err)
	}
	return err
}

// yankParams reads gem_name, version and platform from the form body or
// the query, as gem yank sends them.
func yankParams(ctx *fasthttp.RequestCtx) (name, key string, err error) {
	const op = "rubygems.yankParams"
	raw, err := edge.ReadBody(ctx, 64<<10)
	if err != nil {
		return "", "", err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return "", "", fault.WrapMsg(op, fault.Invalid, "malformed form body", err)
	}
	get := func(k string) string {
		if v := form.Get(k); v != "" {
			return v
		}
		return string(ctx.QueryArgs().Peek(k))
	}
	name, version, platform := get("gem_name"), get("version"), get("platform")
	if !validName(name) {
		return "", "", fault.Newf(op, fault.Invalid, "invalid or missing gem_name %q", trunc(name))
	}
	if !validVersion(version) {
		return "", "", fault.Newf(op, fault.Invalid, "invalid or missing version %q", trunc(version))
	}
	if platform == "" {
		platform = "ruby"
	}
	if !validPlatform(platform) {
		return "", "", fault.Newf(op, fault.Invalid, "invalid platform %q", trunc(platform))
	}
	return name, versionKey(version, platform), nil
}

func (h *Handler) yank(ctx *fasthttp.RequestCtx) error   { return h.setYanked(ctx, true) }
func (h *Handler) unyank(ctx *fasthttp.RequestCtx) error { return h.setYanked(ctx, false) }

// setYanked is gem yank (DELETE /api/v1/gems/yank) and its reverse (PUT
// /api/v1/gems/unyank). A yanked version leaves the compact index and
// the legacy indexes, and its .gem is no longer served; its name and
// version stay taken.
func (h *Handler) setYanked(ctx *fasthttp.RequestCtx, yanked bool) error {
	const op = "rubygems.yank"
	rctx := edge.Context(ctx)
	name, key, err := yankParams(ctx)
	if err != nil {
		return err
	}
	if _, err := h.claimOf(ctx, name, auth.Delete); err != nil {
		return err
	}
	action := "rubygems.yank"
	if !yanked {
		action = "rubygems.unyank"
	}
	changed := false
	v, err := h.r.Catalog.UpdateVersion(rctx, Protocol, name, key, func(v *hosted.Version) error {
		changed = false
		if v.Deleted {
			return fault.Newf(op, fault.NotFound, "The version %s of %s does not exist", key, name)
		}
		if v.Yanked == yanked {
			return nil
		}
		var m versionMeta
		if err := json.Unmarshal(v.Meta, &m); err != nil {
			return fault.Wrap(op, fault.Internal, err)
		}
		m.Events = append(m.Events, yankEvent{At: time.Now().UTC(), Yanked: yanked})
		b, _ := json.Marshal(m)
		v.Meta, v.Yanked, changed = b, yanked, true
		return nil
	})
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "The version %s of %s does not exist", key, name)
	}
	if err != nil {
		return err
	}
	if changed {
		if _, err := h.r.Catalog.Touch(rctx, Protocol, name); err != nil {
			return err
		}
		h.changed()
		h.r.Record(ctx, action, name+"@"+key, v.OrgID, "success", "")
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	if yanked {
		ctx.SetBodyString("Successfully deleted gem: " + name + " (" + key + ")")
	} else {
		ctx.SetBodyString("Successfully unyanked gem: " + name + " (" + key + ")")
	}
	return nil
}

// hostedInfo serves /info/{name} of a hosted gem.
func (h *Handler) hostedInfo(ctx *fasthttp.RequestCtx, name string) error {
	rctx := edge.Context(ctx)
	g, err := h.index(rctx, name)
	if fault.Is(err, fault.NotFound) {
		return fault.Newf("rubygems.info", fault.NotFound, "This rubygem could not be found: %s", name)
	}
	if err != nil {
		return err
	}
	d, err := h.docFor(rctx, "info\x00"+name+"\x00"+g.pkg.Stamp().String(), func() ([]byte, error) { return g.info, nil })
	if err != nil {
		return err
	}
	return serveDoc(ctx, h.r.Blobs, d.digest, d.md5, "text/plain; charset=utf-8")
}

// hostedVersion finds a live hosted version by its full name.
func (h *Handler) hostedVersion(ctx context.Context, full string) (*gemIndex, *versionMeta, hosted.Version, error) {
	const op = "rubygems.hostedVersion"
	ref, err := h.r.Catalog.File(ctx, Protocol, full+".gem")
	if err != nil || ref.Deleted {
		return nil, nil, hosted.Version{}, fault.Newf(op, fault.NotFound, "%s is not hosted here", full)
	}
	g, err := h.index(ctx, ref.Package)
	if err != nil {
		return nil, nil, hosted.Version{}, err
	}
	for i, v := range g.versions {
		if v.Version == ref.Version {
			if v.Yanked {
				return nil, nil, hosted.Version{}, fault.Newf(op, fault.NotFound, "%s has been yanked", full)
			}
			return g, g.metas[i], v, nil
		}
	}
	return nil, nil, hosted.Version{}, fault.Newf(op, fault.NotFound, "%s is not hosted here", full)
}

// hostedGem streams a hosted .gem.
func (h *Handler) hostedGem(ctx *fasthttp.RequestCtx, full string) error {
	_, _, v, err := h.hostedVersion(edge.Context(ctx), full)
	if err != nil {
		return err
	}
	if len(v.Files) == 0 {
		return fault.Newf("rubygems.gem", fault.NotFound, "%s has no file", full)
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: blob.Digest(v.Files[0].Digest), Immutable: true})
}

// hostedGemspec answers the Marshal gemspec of a hosted version, built
// from its stored specification.
func (h *Handler) hostedGemspec(ctx *fasthttp.RequestCtx, full string) error {
	_, m, _, err := h.hostedVersion(edge.Context(ctx), full)
	if err != nil {
		return err
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(marshalSpec(&m.Spec))
	zw.Close()
	edge.ServeDocument(ctx, z.Bytes(), edge.DocOptions{
		ContentType: "application/octet-stream", ETag: `"` + md5hex(z.Bytes()) + `"`, NoGzip: true,
	})
	return nil
}

// specs serves a legacy index, derived from the served /versions: the
// same hosted gems the caller may read and the same mirrored ones.
// `gem install NAME` looks the name up in these before it resolves
// dependencies through the compact index.
func (h *Handler) specs(kind specsKind) edge.HandlerFunc {
	return func(ctx *fasthttp.RequestCtx) error {
		rctx := edge.Context(ctx)
		v, err := h.versionsDoc(ctx)
		if err != nil {
			return err
		}
		d, err := h.docFor(rctx, "specs\x00"+string(rune('0'+kind))+"\x00"+string(v.digest), func() ([]byte, error) {
			rc, err := h.r.Blobs.Open(rctx, v.digest, 0, -1)
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				return nil, fault.Wrap("rubygems.specs", fault.Unavailable, err)
			}
			return specsFile(kind, versionsTuples(b)), nil
		})
		if err != nil {
			return err
		}
		return serveDoc(ctx, h.r.Blobs, d.digest, d.md5, "application/octet-stream")
	}
}

// gemJSON is GET /api/v1/gems/{name}.json: the latest live version of a
// hosted gem, in rubygems.org's shape.
func (h *Handler) gemJSON(ctx *fasthttp.RequestCtx) error {
	name, ok := strings.CutSuffix(ctx.UserValue("file").(string), ".json")
	g, err := h.hostedReadable(ctx, name, ok)
	if err != nil {
		return err
	}
	var latest *Spec
	var at time.Time
	for i, v := range g.versions {
		s := &g.metas[i].Spec
		if v.Yanked {
			continue
		}
		if latest == nil || (s.Prerelease() == latest.Prerelease() && compareVersions(s.Version, latest.Version) > 0) ||
			(latest.Prerelease() && !s.Prerelease()) {
			latest, at = s, v.PublishedAt
		}
	}
	if latest == nil {
		return fault.Newf("rubygems.gemJSON", fault.NotFound, "This rubygem could not be found: every version of %s is yanked", name)
	}
	base := h.mount.For(ctx)
	deps := map[string][]map[string]string{"runtime": {}, "development": {}}
	for _, d := range latest.Dependencies {
		deps[d.Type] = append(deps[d.Type], map[string]string{"name": d.Name, "requirements": ReqDisplay(d.Requirement)})
	}
	uri := func(k string) any {
		if v, ok := latest.Metadata[k]; ok {
			return v
		}
		return nil
	}
	out := map[string]any{
		"name": latest.Name, "downloads": 0, "version": latest.Version, "version_created_at": at,
		"version_downloads": 0, "platform": latest.Platform, "authors": strings.Join(latest.Authors, ", "),
		"info": firstNonEmpty(latest.Description, latest.Summary), "licenses": nonNil(latest.Licenses),
		"metadata": nonNilMap(latest.Metadata), "yanked": false, "sha": latest.SHA256,
		"project_uri":  base + "/api/v1/gems/" + latest.Name + ".json",
		"gem_uri":      base + "/gems/" + latest.FullName() + ".gem",
		"homepage_uri": nilIfEmpty(latest.Homepage), "wiki_uri": uri("wiki_uri"),
		"documentation_uri": uri("documentation_uri"), "mailing_list_uri": uri("mailing_list_uri"),
		"source_code_uri": uri("source_code_uri"), "bug_tracker_uri": uri("bug_tracker_uri"),
		"changelog_uri": uri("changelog_uri"), "funding_uri": uri("funding_uri"),
		"dependencies": deps,
	}
	return writeJSON(ctx, out)
}

// versionsJSON is GET /api/v1/versions/{name}.json: every version of a
// hosted gem, newest first, in rubygems.org's shape.
func (h *Handler) versionsJSON(ctx *fasthttp.RequestCtx) error {
	name, ok := strings.CutSuffix(ctx.UserValue("file").(string), ".json")
	g, err := h.hostedReadable(ctx, name, ok)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for i, v := range g.versions {
		s := &g.metas[i].Spec
		out = append(out, map[string]any{
			"authors": strings.Join(s.Authors, ", "), "built_at": s.Date, "created_at": v.PublishedAt,
			"description": s.Description, "downloads_count": 0, "metadata": nonNilMap(s.Metadata),
			"number": s.Version, "summary": s.Summary, "platform": s.Platform,
			"rubygems_version": ReqDisplay(s.RequiredRubygemsVersion), "ruby_version": ReqDisplay(s.RequiredRubyVersion),
			"prerelease": s.Prerelease(), "licenses": nonNil(s.Licenses), "requirements": []string{},
			"sha": s.SHA256, "yanked": v.Yanked,
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return compareVersions(out[i]["number"].(string), out[j]["number"].(string)) > 0
	})
	return writeJSON(ctx, out)
}

// hostedReadable resolves a JSON API name: hosted gems only (the upstream
// is a compact-index source, with no JSON API to pass on).
func (h *Handler) hostedReadable(ctx *fasthttp.RequestCtx, name string, ok bool) (*gemIndex, error) {
	const op = "rubygems.api"
	if !ok || !validName(name) {
		return nil, fault.Newf(op, fault.NotFound, "This rubygem could not be found.")
	}
	if _, err := h.resolveHosted(ctx, name); err != nil {
		return nil, err
	}
	g, err := h.index(edge.Context(ctx), name)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.Newf(op, fault.NotFound, "This rubygem could not be found.")
	}
	return g, err
}

// owners answers gem owner NAME: the owners of a hosted gem are its
// organization, listed as one owner.
func (h *Handler) owners(ctx *fasthttp.RequestCtx) error {
	name := ctx.UserValue("name").(string)
	what := ctx.UserValue("what").(string)
	if !strings.HasPrefix(what, "owners") {
		return fault.Newf("rubygems.owners", fault.NotFound, "no route for %s", ctx.Path())
	}
	org, err := h.ownerOf(ctx, name)
	if err != nil {
		return err
	}
	owners := []map[string]any{{"id": org.ID, "handle": org.Name}}
	if strings.HasSuffix(what, ".yaml") {
		ctx.SetContentType("application/x-yaml")
		ctx.SetBodyString("---\n- id: " + org.ID + "\n  handle: " + org.Name + "\n")
		return nil
	}
	return writeJSON(ctx, owners)
}

// ownersChange refuses gem owner --add/--remove: ownership is membership
// of the organization, managed in Entrepot.
func (h *Handler) ownersChange(ctx *fasthttp.RequestCtx) error {
	name := ctx.UserValue("name").(string)
	org, err := h.ownerOf(ctx, name)
	if err != nil {
		return err
	}
	return fault.Newf("rubygems.owners", fault.Forbidden, "the owners of %s are the members of the organization %s: manage them in Entrepot", name, org.Name)
}

// ownerOf is the organization that owns hosted gem name.
func (h *Handler) ownerOf(ctx *fasthttp.RequestCtx, name string) (auth.Org, error) {
	cl, err := h.resolveHosted(ctx, name)
	if err != nil {
		return auth.Org{}, err
	}
	return h.r.Auth.GetOrg(edge.Context(ctx), cl.OrgID)
}

// resolveHosted is resolve for names that only exist hosted.
func (h *Handler) resolveHosted(ctx *fasthttp.RequestCtx, name string) (hosted.Claim, error) {
	if !validName(name) {
		return hosted.Claim{}, fault.New("rubygems.resolve", fault.NotFound, "This rubygem could not be found.")
	}
	return h.claimOf(ctx, name, auth.Read)
}

// claimOf is the one decision and permission check (edge.Resolve) for
// action on a gem that must be hosted here: the upstream is not asked.
func (h *Handler) claimOf(ctx *fasthttp.RequestCtx, name string, a auth.Action) (hosted.Claim, error) {
	o, err := h.r.Resolve(ctx, edge.Coords{Protocol: Protocol, Namespaces: []string{name}, Name: name, Action: a,
		Unknown: "This rubygem could not be found: %s is not hosted here"})
	return o.Claim, err
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fault.Wrap("rubygems.writeJSON", fault.Internal, err)
	}
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBody(b)
	return nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
