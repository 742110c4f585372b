package composer

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	arc "entrepot/edge/archive"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// packageMeta is what Package.Meta holds for a Composer package.
type packageMeta struct {
	// LastModified is the Unix second the p2 documents changed last. It
	// grows by at least one second with every publish, so that a client
	// revalidating with If-Modified-Since (at HTTP dates' one-second
	// resolution) never misses a publish made within the same second.
	LastModified int64 `json:"lastModified"`
}

// lastModified is the Last-Modified of a hosted package's documents.
func lastModified(p hosted.Package) time.Time {
	var m packageMeta
	json.Unmarshal(p.Meta, &m)
	// UpdatedAt rounded up covers changes made elsewhere (a delete
	// through the API) after the last publish.
	up := p.UpdatedAt.Truncate(time.Second)
	if up.Before(p.UpdatedAt) {
		up = up.Add(time.Second)
	}
	return time.Unix(max(m.LastModified, up.Unix()), 0).UTC()
}

// hostedMetadata answers a p2 document of a hosted package.
func (h *Handler) hostedMetadata(ctx *fasthttp.RequestCtx, req metadataReq) error {
	c := edge.Context(ctx)
	pkg, err := h.r.Catalog.Package(c, Protocol, req.Name)
	if fault.Is(err, fault.NotFound) {
		return fault.Newf("composer.hostedMetadata", fault.NotFound, "package %s not found", req.Name)
	}
	if err != nil {
		return err
	}
	lm := lastModified(pkg)
	if edge.Unchanged(ctx, lm) {
		return nil
	}
	base := h.mount.For(ctx)
	key := fmt.Sprintf("hosted\x00%s\x00%s\x00%t\x00%t\x00%s", req.Name, pkg.Stamp(), req.Dev, req.Provider, base)
	doc, ok := h.docs.Get(key)
	if !ok {
		vs, err := h.r.Catalog.Versions(c, Protocol, req.Name, false)
		if err != nil {
			return err
		}
		render := renderHosted
		if req.Provider {
			render = func(name string, vs []hosted.Version, _ bool, base string) ([]byte, error) {
				return renderProvider(name, vs, base)
			}
		}
		if doc, err = render(req.Name, vs, req.Dev, base); err != nil {
			return fault.Wrap("composer.hostedMetadata", fault.Internal, err)
		}
		h.docs.Add(key, doc)
	}
	writeJSON(ctx, doc, lm)
	return nil
}

// renderHosted writes the p2 document of a hosted package: its tagged
// versions (or, with dev, its branches), newest first, each with a dist
// on the edge at base, minified.
func renderHosted(name string, vs []hosted.Version, dev bool, base string) ([]byte, error) {
	out, err := hostedVersions(name, vs, func(v hosted.Version) bool { return IsDev(v.Version) == dev }, base)
	if err != nil {
		return nil, err
	}
	doc := &p2{names: []string{name}, versions: map[string][]object{name: out}}
	return doc.render()
}

// renderProvider writes Composer 1's provider file of a hosted package:
// {"packages": {NAME: {VERSION: version}}}, every version, tagged and
// development, whole (Composer 1 knows no minified form).
func renderProvider(name string, vs []hosted.Version, base string) ([]byte, error) {
	out, err := hostedVersions(name, vs, func(hosted.Version) bool { return true }, base)
	if err != nil {
		return nil, err
	}
	byVersion := object{}
	for _, o := range out {
		v, _ := o.str("version")
		j, _ := o.MarshalJSON()
		byVersion.set(v, j)
	}
	versions, _ := byVersion.MarshalJSON()
	packages, _ := object{{name, versions}}.MarshalJSON()
	return object{{"packages", packages}}.MarshalJSON()
}

// hostedVersions are the live versions of a hosted package that keep
// takes, newest first, each with a dist on the edge at base.
func hostedVersions(name string, vs []hosted.Version, keep func(hosted.Version) bool, base string) ([]object, error) {
	vs = slices.DeleteFunc(slices.Clone(vs), func(v hosted.Version) bool { return v.Deleted || !keep(v) })
	slices.SortFunc(vs, func(a, b hosted.Version) int { return compareVersions(b.Version, a.Version) })
	out := make([]object, 0, len(vs))
	for _, v := range vs {
		o, err := parseObject(v.Meta)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Version, err)
		}
		if len(v.Files) > 0 {
			f := v.Files[0]
			sha := f.Hashes[blob.SHA1]
			d := object{}
			d.setString("type", "zip")
			d.setString("url", edgeDistURL(base, name, v.Version, sha, "zip"))
			d.setString("reference", sha)
			d.setString("shasum", sha)
			j, _ := d.MarshalJSON()
			o.set("dist", j)
		}
		out = append(out, o)
	}
	return out, nil
}

// hostedDist serves a hosted version's archive.
func (h *Handler) hostedDist(ctx *fasthttp.RequestCtx, req distReq) error {
	const op = "composer.hostedDist"
	v, err := h.r.Catalog.Version(edge.Context(ctx), Protocol, req.Name, req.Version)
	if fault.Is(err, fault.NotFound) || err == nil && (v.Deleted || len(v.Files) == 0) {
		return fault.Newf(op, fault.NotFound, "%s has no version %s", req.Name, req.Version)
	}
	if err != nil {
		return err
	}
	f := v.Files[0]
	if req.Ref != refSegment(f.Hashes[blob.SHA1]) || req.Type != "zip" {
		return fault.Newf(op, fault.NotFound, "no such archive of %s %s", req.Name, req.Version)
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: blob.Digest(f.Digest), ContentType: "application/zip", Immutable: true})
}

// root answers packages.json.
func (h *Handler) root(ctx *fasthttp.RequestCtx) error {
	base := h.mount.For(ctx)
	doc := object{{"packages", json.RawMessage("[]")}}
	doc.setString("metadata-url", base+"/p2/%package%.json")
	// Composer 1 reads the provider files of the packages a listing
	// names; Composer 2 reads metadata-url and ignores this.
	doc.setString("providers-url", base+"/p/%package%.json")
	doc.setString("notify-batch", base+"/downloads")
	doc.setString("search", base+"/search.json?q=%query%&type=%type%")
	if h.up == nil {
		// Without a mirror, tell Composer which names exist here, so
		// that it asks for nothing else. With one, every name may exist.
		pkgs, err := h.visible(ctx, "")
		if err != nil {
			return err
		}
		names := make([]string, 0, len(pkgs))
		for _, p := range pkgs {
			names = append(names, p.Name)
		}
		j, _ := json.Marshal(names)
		doc.set("available-packages", j)
	}
	b, err := doc.MarshalJSON()
	if err != nil {
		return fault.Wrap("composer.root", fault.Internal, err)
	}
	// The answer depends on who asks.
	ctx.Response.Header.Set("Cache-Control", "private, no-cache")
	writeJSON(ctx, b, time.Time{})
	return nil
}

// visible lists the hosted packages the caller may read whose name
// contains query.
func (h *Handler) visible(ctx *fasthttp.RequestCtx, query string) ([]hosted.Package, error) {
	p, err := h.r.Who(ctx)
	if err != nil {
		return nil, err
	}
	c := edge.Context(ctx)
	pkgs, _, err := h.r.Catalog.ListPackages(c, hosted.PackageFilter{Protocol: Protocol}, "", 0)
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	out := pkgs[:0]
	for _, pkg := range pkgs {
		if query != "" && !strings.Contains(pkg.Name, query) && !strings.Contains(strings.ToLower(pkg.Description), query) {
			continue
		}
		ok, seen := allowed[pkg.RepoID]
		if !seen {
			ref := auth.RepoRef{OrgID: pkg.OrgID, Protocol: Protocol}
			if repo, err := h.r.Auth.GetRepo(c, pkg.RepoID); err == nil {
				ref = repo.Ref()
			}
			ok = h.r.Auth.Authorize(c, p, ref, auth.Read) == nil
			allowed[pkg.RepoID] = ok
		}
		if ok {
			out = append(out, pkg)
		}
	}
	return out, nil
}

// search answers `composer search`: hosted packages the caller may read.
func (h *Handler) search(ctx *fasthttp.RequestCtx) error {
	q := strings.ToLower(strings.TrimSpace(string(ctx.QueryArgs().Peek("q"))))
	typ := string(ctx.QueryArgs().Peek("type"))
	pkgs, err := h.visible(ctx, q)
	if err != nil {
		return err
	}
	type result struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		URL         string `json:"url"`
		Repository  string `json:"repository"`
		Downloads   int64  `json:"downloads"`
	}
	base := h.mount.For(ctx)
	results := []result{}
	for _, p := range pkgs {
		var m struct {
			Type string `json:"type"`
		}
		json.Unmarshal(p.Meta, &m)
		if typ != "" && m.Type != "" && m.Type != typ {
			continue
		}
		results = append(results, result{
			Name: p.Name, Description: p.Description,
			URL:        base + "/p2/" + p.Name + ".json",
			Repository: base,
			Downloads:  h.downloadCount(p.Name),
		})
	}
	b, _ := json.Marshal(map[string]any{"results": results, "total": len(results)})
	writeJSON(ctx, b, time.Time{})
	return nil
}

// notify takes Composer's notify-batch: {"downloads":[{"name","version"}]}.
// Counts are kept in memory (they are informational).
func (h *Handler) notify(ctx *fasthttp.RequestCtx) error {
	body, err := edge.ReadBody(ctx, 1<<20)
	if err != nil {
		return err
	}
	var in struct {
		Downloads []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"downloads"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return fault.WrapMsg("composer.notify", fault.Invalid, "invalid notify-batch body", err)
	}
	for _, d := range in.Downloads {
		name := strings.ToLower(d.Name)
		if len(name) > maxNameLen || !nameRE.MatchString(name) {
			continue
		}
		n, _ := h.downloads.LoadOrStore(name, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"success"}`)
	return nil
}

func (h *Handler) downloadCount(name string) int64 {
	if n, ok := h.downloads.Load(name); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// publish takes PUT /composer/packages/{vendor}/{package}?version=X, the
// zip as the body, through edge.Publish (zipUpload).
func (h *Handler) publish(ctx *fasthttp.RequestCtx) error {
	name, err := parseName(param(ctx, "vendor"), param(ctx, "package"))
	if err != nil {
		return err
	}
	z := &zipUpload{h: h, name: name, version: string(ctx.QueryArgs().Peek("version"))}
	return h.r.Publish(ctx, z.spec(nil))
}

// publishForm takes the multipart form: a file part (named "package",
// "file" or "archive", or any part with a file name) and an optional
// "version" field; ?version= works too.
func (h *Handler) publishForm(ctx *fasthttp.RequestCtx) error {
	const op = "composer.publishForm"
	name, err := parseName(param(ctx, "vendor"), param(ctx, "package"))
	if err != nil {
		return err
	}
	mt, params, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return fault.New(op, fault.Invalid, "send the archive as multipart/form-data (field \"package\"), or PUT it as the body")
	}
	z := &zipUpload{h: h, name: name, version: string(ctx.QueryArgs().Peek("version")), boundary: params["boundary"]}
	return h.r.Publish(ctx, z.spec(z.spoolForm))
}

// zipUpload is one Composer publish: its pieces of edge.Publish. The
// package's vendor is the organization that owns it: the write is
// authorized on the vendor before the body is read, the archive then
// spooled and checked (every entry, and composer.json), and a version
// that exists refused once the write is authorized. A refused publish
// stores nothing.
type zipUpload struct {
	h                  *Handler
	name, version      string // version as asked (?version=, or the form's field)
	boundary           string // of a form
	manifest           object
	meta               json.RawMessage
	pretty, normalized string
}

func (z *zipUpload) spec(spool func(*edge.Publication, io.Reader) (*edge.Upload, error)) edge.PublishSpec {
	return edge.PublishSpec{
		Protocol: Protocol, SignIn: "authentication required to publish", Hashes: []string{blob.SHA1},
		Coordinates: z.coordinates, Spool: spool, Validate: z.validate, Check: z.check,
		Package: z.pkg, Record: z.record, Respond: z.respond, Refused: z.refused,
	}
}

// coordinates: the vendor names the organization and is the claim.
func (z *zipUpload) coordinates(pub *edge.Publication, body io.Reader) (io.Reader, error) {
	vendor := vendorOf(z.name)
	pub.Name, pub.Named, pub.Namespaces, pub.Upstream = z.name, vendor, []string{vendor}, z.h.onUpstream(z.name)
	return body, nil
}

// spoolForm spools the archive part of a form, and reads its version
// field.
func (z *zipUpload) spoolForm(_ *edge.Publication, body io.Reader) (*edge.Upload, error) {
	const op = "composer.publishForm"
	var sp *edge.Upload
	fail := func(err error) (*edge.Upload, error) {
		sp.Close()
		return nil, err
	}
	mr := multipart.NewReader(body, z.boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if fault.Is(err, fault.TooLarge) {
				return fail(err)
			}
			return fail(fault.WrapMsg(op, fault.Invalid, "malformed multipart body", err))
		}
		switch field := part.FormName(); {
		case field == "version":
			b, err := io.ReadAll(io.LimitReader(part, maxVersionLen+1))
			if err != nil {
				return fail(fault.WrapMsg(op, fault.Invalid, "malformed multipart body", err))
			}
			z.version = strings.TrimSpace(string(b))
		case sp == nil && (field == "package" || field == "file" || field == "archive" || part.FileName() != ""):
			if sp, err = z.h.r.Spool(Protocol, part, blob.SHA1); err != nil {
				return nil, err
			}
		default:
			if _, err := io.Copy(io.Discard, part); err != nil {
				return fail(fault.WrapMsg(op, fault.Invalid, "malformed multipart body", err))
			}
		}
	}
	if sp == nil {
		return nil, fault.New(op, fault.Invalid, "the form has no archive: send the zip as the \"package\" file field")
	}
	return sp, nil
}

// validate checks the archive and its composer.json, and the version.
func (z *zipUpload) validate(pub *edge.Publication) error {
	var err error
	if z.manifest, err = z.h.inspect(pub.Upload); err != nil {
		return err
	}
	if z.meta, z.pretty, z.normalized, err = prepareVersion(z.manifest, z.name, z.version, time.Now().UTC()); err != nil {
		return err
	}
	pub.Version = z.normalized
	return nil
}

// check refuses a version that exists (AddVersion decides for racing
// uploads).
func (z *zipUpload) check(ctx context.Context, _ *edge.Publication) error {
	if old, err := z.h.r.Catalog.Version(ctx, Protocol, z.name, z.normalized); err == nil {
		return versionExists(z.name, z.pretty, z.normalized, old)
	}
	return nil
}

// description is what the package's record keeps of composer.json's.
func (z *zipUpload) description() string {
	d, _ := z.manifest.str("description")
	return truncate(d, 1000)
}

func (z *zipUpload) pkg(*edge.Publication) hosted.Package {
	return hosted.Package{Name: z.name, Description: z.description()}
}

// record writes the version, and the package's summary.
func (z *zipUpload) record(c context.Context, pub *edge.Publication) error {
	const op = "composer.publish"
	name, normalized, orgID, desc := z.name, z.normalized, pub.Claim.OrgID, z.description()
	if pub.Package.OrgID != orgID {
		return fault.Newf(op, fault.Conflict, "package %s belongs to another organization", name)
	}
	_, err := z.h.r.Catalog.AddVersion(c, hosted.Version{
		Protocol: Protocol,
		Package:  name,
		Version:  normalized,
		OrgID:    orgID,
		Files: []hosted.File{{
			Name:        name + "/" + normalized + ".zip",
			Digest:      string(pub.Blob.Digest),
			Size:        pub.Blob.Size,
			ContentType: "application/zip",
			Hashes:      map[string]string{blob.SHA1: pub.Upload.Sum(blob.SHA1).Hex()},
		}},
		Meta:        z.meta,
		PublishedBy: pub.Principal.UserID,
	})
	if fault.Is(err, fault.Conflict) {
		old, _ := z.h.r.Catalog.Version(c, Protocol, name, normalized)
		err = versionExists(name, z.pretty, normalized, old)
	}
	if err != nil {
		return err
	}
	typ, _ := z.manifest.str("type")
	if _, err := z.h.r.Catalog.UpdatePackage(c, Protocol, name, func(p *hosted.Package) error {
		var m struct {
			packageMeta
			Type string `json:"type,omitempty"`
		}
		json.Unmarshal(p.Meta, &m)
		// Past whatever Last-Modified was served before this change, and
		// past this update's own UpdatedAt.
		m.LastModified = max(time.Now().Unix()+1, lastModified(*p).Unix()+1)
		if !IsDev(normalized) {
			if desc != "" {
				p.Description = desc
			}
			m.Type = typ
		}
		p.Meta, _ = json.Marshal(m)
		return nil
	}); err != nil {
		// The version is recorded; only the package's summary lags.
		z.h.r.Log.Warn("composer: update package after publish", "package", name, "error", err)
	}
	return nil
}

func (z *zipUpload) respond(ctx *fasthttp.RequestCtx, pub *edge.Publication) error {
	sha1 := pub.Upload.Sum(blob.SHA1).Hex()
	b, _ := json.Marshal(map[string]any{
		"status":             "success",
		"name":               z.name,
		"version":            z.pretty,
		"version_normalized": z.normalized,
		"dist": map[string]string{
			"type":      "zip",
			"url":       edgeDistURL(z.h.mount.For(ctx), z.name, z.normalized, sha1, "zip"),
			"reference": sha1,
			"shasum":    sha1,
		},
	})
	ctx.SetStatusCode(fasthttp.StatusCreated)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// refused says what a vendor is when no organization has its name.
func (z *zipUpload) refused(pub *edge.Publication, err error) error {
	if pub.Org.ID == "" && fault.Is(err, fault.NotFound) {
		vendor := vendorOf(z.name)
		return fault.WrapMsg("composer.publish", fault.NotFound, fmt.Sprintf("no organization is named %q: the vendor of a Composer package is the organization that owns it, so create organization %q (or publish under your organization's name)", vendor, vendor), err)
	}
	return err
}

func versionExists(name, pretty, normalized string, old hosted.Version) error {
	if old.Deleted {
		return fault.Newf("composer.publish", fault.Conflict, "version %s (%s) of %s was deleted and cannot be published again: publish a new version", pretty, normalized, name)
	}
	return fault.Newf("composer.publish", fault.Conflict, "version %s (%s) of %s exists already: versions are immutable, publish a new version", pretty, normalized, name)
}

// inspect opens a spooled upload as a zip archive, checks every entry
// (names, kinds, sizes, checksums) and returns its composer.json. The
// archive may expand to the smaller of MaxExpandedSize and its
// expansion budget (edge/archive).
func (h *Handler) inspect(sp *edge.Upload) (object, error) {
	const op = "composer.inspect"
	zr, err := zip.NewReader(sp.ReaderAt(), sp.Size())
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Invalid, "the upload is not a zip archive", err)
	}
	opts := h.opts
	opts.MaxExpandedSize = arc.Budget(sp.Size(), opts.MaxExpandedSize)
	return checkArchive(zr, opts)
}

// checkArchive is inspect's pure part, over an open archive.
func checkArchive(zr *zip.Reader, opts Options) (object, error) {
	const op = "composer.inspect"
	if len(zr.File) > opts.MaxEntries {
		return nil, fault.Newf(op, fault.Invalid, "the archive has %d entries, over the limit of %d", len(zr.File), opts.MaxEntries)
	}
	if len(zr.File) == 0 {
		return nil, fault.New(op, fault.Invalid, "the archive is empty")
	}
	var total uint64
	tops := map[string]bool{}
	var rootManifest, nestedManifest *zip.File
	for _, f := range zr.File {
		if err := arc.CheckZip(f); err != nil {
			return nil, err
		}
		total += f.UncompressedSize64
		if total > uint64(opts.MaxExpandedSize) {
			return nil, fault.Newf(op, fault.TooLarge, "the archive expands to more than %d bytes", opts.MaxExpandedSize)
		}
		top, rest, nested := strings.Cut(strings.TrimPrefix(f.Name, "./"), "/")
		tops[top] = true
		switch {
		case !nested && top == "composer.json":
			rootManifest = f
		case nested && rest == "composer.json":
			nestedManifest = f
		}
	}
	manifest := rootManifest
	if manifest == nil && len(tops) == 1 {
		// A single top-level folder, as GitHub's zipballs have: Composer
		// unpacks its content as the package.
		manifest = nestedManifest
	}
	if manifest == nil {
		return nil, fault.New(op, fault.Invalid, "the archive has no composer.json at its root (or in its only top-level folder)")
	}
	// Read every entry to the end: archive/zip checks sizes and CRC-32s
	// there, so a corrupt archive is refused now rather than at install.
	var raw []byte
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fault.WrapMsg(op, fault.Invalid, fmt.Sprintf("the archive's entry %q cannot be read", truncate(f.Name, 200)), err)
		}
		var w io.Writer = io.Discard
		var buf strings.Builder
		if f == manifest {
			if f.UncompressedSize64 > uint64(opts.MaxManifestSize) {
				rc.Close()
				return nil, fault.Newf(op, fault.Invalid, "composer.json is over %d bytes", opts.MaxManifestSize)
			}
			w = &buf
		}
		_, err = io.Copy(w, rc)
		rc.Close()
		if err != nil {
			return nil, fault.WrapMsg(op, fault.Invalid, fmt.Sprintf("the archive's entry %q is corrupt", truncate(f.Name, 200)), err)
		}
		if f == manifest {
			raw = []byte(buf.String())
		}
	}
	o, err := parseObject(raw)
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Invalid, "composer.json is not a valid JSON object: "+err.Error(), err)
	}
	return o, nil
}

// notInVersion are composer.json keys that concern only a root project
// and are not part of a package's metadata (Packagist drops them too).
var notInVersion = []string{"repositories", "config", "minimum-stability", "prefer-stable", "scripts", "scripts-descriptions", "scripts-aliases", "archive", "dist", "source", "notification-url", "version_normalized", "time"}

// prepareVersion validates an upload's composer.json against the URL's
// name and the requested version (either, or both when they agree) and
// returns the version object the p2 documents will carry (without its
// dist, which depends on the base URL), the version as given and its
// normalized form.
func prepareVersion(manifest object, name, version string, now time.Time) (json.RawMessage, string, string, error) {
	const op = "composer.publish"
	if err := validateManifest(manifest); err != nil {
		return nil, "", "", err
	}
	mname, ok := manifest.str("name")
	if !ok || mname == "" {
		return nil, "", "", fault.New(op, fault.Invalid, "composer.json has no \"name\"")
	}
	if strings.ToLower(mname) != name {
		return nil, "", "", fault.Newf(op, fault.Invalid, "composer.json names the package %q, but it is published as %q", truncate(mname, 200), name)
	}
	mversion, hasVersion := manifest.str("version")
	if raw, present := manifest.get("version"); present && !hasVersion && !isNull(raw) {
		return nil, "", "", fault.New(op, fault.Invalid, "composer.json's \"version\" is not a string")
	}
	if version == "" && (!hasVersion || mversion == "") {
		return nil, "", "", fault.New(op, fault.Invalid, "no version: add ?version=X to the upload URL or a \"version\" to composer.json")
	}
	if version == "" {
		version = mversion
	}
	pretty, normalized, err := parsePublishVersion(version)
	if err != nil {
		return nil, "", "", err
	}
	if hasVersion && mversion != "" && mversion != version {
		_, mn, err := parsePublishVersion(mversion)
		if err != nil {
			return nil, "", "", fault.WrapMsg(op, fault.Invalid, "composer.json's version: "+fault.Message(err), err)
		}
		if mn != normalized {
			return nil, "", "", fault.Newf(op, fault.Invalid, "the upload is for version %s, but composer.json says %s", version, mversion)
		}
	}
	v := manifest.clone()
	for _, k := range notInVersion {
		v.del(k)
	}
	v.setString("name", name)
	v.setString("version", pretty)
	v.setString("version_normalized", normalized)
	v.setString("time", now.Format("2006-01-02T15:04:05-07:00"))
	j, err := v.MarshalJSON()
	if err != nil {
		return nil, "", "", fault.WrapMsg(op, fault.Invalid, "composer.json cannot be re-encoded", err)
	}
	return j, pretty, normalized, nil
}

// validateManifest checks the types of the composer.json keys Composer
// reads from a package's metadata, so that a broken manifest is refused
// at upload rather than breaking every install that meets it.
func validateManifest(m object) error {
	const op = "composer.publish"
	bad := func(key, want string) error {
		return fault.Newf(op, fault.Invalid, "composer.json: %q must be %s", key, want)
	}
	for _, kv := range m {
		v := json.RawMessage(kv.Val)
		if isNull(v) {
			continue
		}
		switch kv.Key {
		case "name", "description", "type", "homepage", "target-dir", "minimum-stability", "version":
			var s string
			if json.Unmarshal(v, &s) != nil {
				return bad(kv.Key, "a string")
			}
		case "require", "require-dev", "conflict", "replace", "provide", "suggest":
			var links map[string]string
			if !isEmptyArray(v) && json.Unmarshal(v, &links) != nil {
				return bad(kv.Key, "an object of package names to version constraints")
			}
			for pkg, constraint := range links {
				if pkg == "" || strings.ContainsAny(pkg, " \t\n") {
					return fault.Newf(op, fault.Invalid, "composer.json: %q names an invalid package %q", kv.Key, truncate(pkg, 200))
				}
				if kv.Key != "suggest" && strings.TrimSpace(constraint) == "" {
					return fault.Newf(op, fault.Invalid, "composer.json: %q has no version constraint for %q", kv.Key, truncate(pkg, 200))
				}
			}
		case "autoload", "autoload-dev", "extra", "support", "config":
			if !isEmptyArray(v) && !isObject(v) {
				return bad(kv.Key, "an object")
			}
		case "keywords", "authors", "funding", "include-path":
			var list []json.RawMessage
			if json.Unmarshal(v, &list) != nil {
				return bad(kv.Key, "a list")
			}
		case "license", "bin":
			var s string
			var list []string
			if json.Unmarshal(v, &s) != nil && json.Unmarshal(v, &list) != nil {
				return bad(kv.Key, "a string or a list of strings")
			}
		}
	}
	return nil
}

func isObject(v json.RawMessage) bool {
	var o map[string]json.RawMessage
	return json.Unmarshal(v, &o) == nil
}

func isEmptyArray(v json.RawMessage) bool {
	var a []json.RawMessage
	return json.Unmarshal(v, &a) == nil && len(a) == 0
}
