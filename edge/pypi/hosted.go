package pypi

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"path"
	"slices"
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

// fileMeta is what the catalog keeps of a hosted file besides its digest
// (hosted.File.Meta).
type fileMeta struct {
	Filetype       Kind        `json:"filetype"`
	PythonVersion  string      `json:"pyversion,omitempty"`
	RequiresPython string      `json:"requiresPython,omitempty"`
	Metadata       blob.Digest `json:"metadata,omitempty"` // the extracted METADATA's blob
	MetadataSize   int64       `json:"metadataSize,omitempty"`
}

// releaseMeta is the core metadata of a release, from the upload form of
// its first file (hosted.Version.Meta), for the JSON API.
type releaseMeta struct {
	Name                   string   `json:"name"` // as uploaded
	Version                string   `json:"version"`
	Summary                string   `json:"summary,omitempty"`
	Description            string   `json:"description,omitempty"`
	DescriptionContentType string   `json:"descriptionContentType,omitempty"`
	Author                 string   `json:"author,omitempty"`
	AuthorEmail            string   `json:"authorEmail,omitempty"`
	Maintainer             string   `json:"maintainer,omitempty"`
	MaintainerEmail        string   `json:"maintainerEmail,omitempty"`
	License                string   `json:"license,omitempty"`
	HomePage               string   `json:"homePage,omitempty"`
	Keywords               string   `json:"keywords,omitempty"`
	RequiresPython         string   `json:"requiresPython,omitempty"`
	RequiresDist           []string `json:"requiresDist,omitempty"`
	Classifiers            []string `json:"classifiers,omitempty"`
	ProjectURLs            []string `json:"projectUrls,omitempty"`
}

// hostedPage builds the simple page of a hosted project from the catalog.
func (h *Handler) hostedPage(ctx context.Context, name string) (*page, error) {
	const op = "pypi.hostedPage"
	pkg, err := h.r.Catalog.Package(ctx, Protocol, name)
	if fault.Is(err, fault.NotFound) {
		return nil, fault.Newf(op, fault.NotFound, "project %s not found", name)
	}
	if err != nil {
		return nil, fault.Op(op, err)
	}
	// Every change to a project bumps its serial: a page built at the
	// current stamp (serial, and creation: a project deleted and created
	// again starts its serial over) is still right.
	if p, ok := h.built.Get(name); ok && p.stamp == pkg.Stamp() {
		return p, nil
	}
	vs, err := h.r.Catalog.Versions(ctx, Protocol, name, false)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	p := &page{Name: name, Serial: pkg.Serial, stamp: pkg.Stamp()}
	order := make([]string, 0, len(vs))
	byVersion := map[string]hosted.Version{}
	for _, v := range vs {
		order = append(order, v.Version)
		byVersion[v.Version] = v
	}
	sortVersions(order)
	for _, ver := range order {
		v := byVersion[ver]
		for _, f := range v.Files {
			p.Files = append(p.Files, hostedPageFile(v, f))
		}
	}
	h.built.Add(name, p)
	return p, nil
}

func hostedPageFile(v hosted.Version, f hosted.File) pageFile {
	var m fileMeta
	json.Unmarshal(f.Meta, &m)
	pf := pageFile{
		Filename:       f.Name,
		Hashes:         map[string]string{"sha256": blob.Digest(f.Digest).Hex()},
		RequiresPython: m.RequiresPython,
		Yanked:         v.Yanked,
		YankReason:     v.YankReason,
		Size:           f.Size,
		UploadTime:     f.UploadedAt,
		Version:        v.Version,
	}
	for alg, h := range f.Hashes {
		pf.Hashes[alg] = h
	}
	if m.Metadata != "" {
		pf.Metadata = true
		pf.MetadataHashes = map[string]string{"sha256": m.Metadata.Hex()}
	}
	return pf
}

// hostedFile streams a hosted file, or its core metadata.
func (h *Handler) hostedFile(ctx *fasthttp.RequestCtx, t Target) error {
	const op = "pypi.hostedFile"
	bg := edge.Context(ctx)
	notFound := fault.Newf(op, fault.NotFound, "file %s not found", t.Filename)
	ref, err := h.r.Catalog.File(bg, Protocol, t.Filename)
	if fault.Is(err, fault.NotFound) || (err == nil && (ref.Deleted || ref.Package != t.Project)) {
		return notFound
	}
	if err != nil {
		return fault.Op(op, err)
	}
	v, err := h.r.Catalog.Version(bg, Protocol, ref.Package, ref.Version)
	if fault.Is(err, fault.NotFound) || (err == nil && v.Deleted) {
		return notFound
	}
	if err != nil {
		return fault.Op(op, err)
	}
	for _, f := range v.Files {
		if f.Name != t.Filename {
			continue
		}
		if !t.Metadata {
			return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: blob.Digest(f.Digest), ContentType: f.ContentType, Immutable: true})
		}
		var m fileMeta
		json.Unmarshal(f.Meta, &m)
		if m.Metadata == "" {
			return fault.Newf(op, fault.NotFound, "%s has no core metadata", t.Filename)
		}
		return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: m.Metadata, ContentType: "text/plain; charset=utf-8", Immutable: true})
	}
	return notFound
}

// Limits of an upload's form, besides the file (MAX_UPLOAD_SIZE).
const (
	maxFields      = 8 << 20 // all fields together
	maxDescription = 4 << 20
	maxField       = 64 << 10
)

// uploadForm holds the fields of the legacy upload API that matter here.
type uploadForm struct {
	fields map[string][]string
}

func (f *uploadForm) get(k string) string {
	if v := f.fields[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// upload takes one file through the legacy upload API (twine, uv), a
// multipart form with the metadata fields first and the file ("content")
// last, through edge.Publish (distUpload). Nothing becomes visible unless
// the whole upload is valid.
func (h *Handler) upload(ctx *fasthttp.RequestCtx) error {
	d := &distUpload{h: h, contentType: string(ctx.Request.Header.ContentType())}
	return h.r.Publish(ctx, edge.PublishSpec{
		Protocol:    Protocol,
		SignIn:      "authentication required to upload: use __token__ and an API token as the password",
		Limit:       h.r.MaxUpload + maxFields,
		Coordinates: d.coordinates, Spool: d.spool, Validate: d.validate, Check: d.check,
		Package: func(*edge.Publication) hosted.Package {
			return hosted.Package{Name: d.u.project, DisplayName: d.u.meta.Name, Description: d.u.meta.Summary}
		},
		Record: d.record, Respond: func(ctx *fasthttp.RequestCtx, _ *edge.Publication) error {
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("OK\n")
			return nil
		},
	})
}

// distUpload is one upload of a distribution file: its pieces of
// edge.Publish. The form's fields, before the file, name the project, so
// the write is authorized before the file is read; a file name once
// taken is refused then too, once the write is authorized, so that a
// private project's files stay unknown to outsiders.
type distUpload struct {
	h           *Handler
	contentType string
	u           checkedUpload
	fm          fileMeta
	md          []byte // a wheel's METADATA
}

// coordinates reads the form's fields, up to the file.
func (d *distUpload) coordinates(pub *edge.Publication, body io.Reader) (io.Reader, error) {
	const op = "pypi.upload"
	mt, params, err := mime.ParseMediaType(d.contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, fault.New(op, fault.Invalid, "an upload is a multipart/form-data request")
	}
	mr := multipart.NewReader(body, params["boundary"])
	form := uploadForm{fields: map[string][]string{}}
	var content *multipart.Part
	total := 0
	for content == nil {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, formError(op, err)
		}
		name := part.FormName()
		if name == "content" {
			content = part
			break
		}
		limit := maxField
		if name == "description" {
			limit = maxDescription
		}
		b, err := io.ReadAll(io.LimitReader(part, int64(limit)+1))
		if err != nil {
			return nil, formError(op, err)
		}
		if len(b) > limit {
			return nil, fault.Newf(op, fault.TooLarge, "form field %q is over %d bytes", clip(name), limit)
		}
		if total += len(b); total > maxFields {
			return nil, fault.Newf(op, fault.TooLarge, "the form's fields are over %d bytes", maxFields)
		}
		form.fields[name] = append(form.fields[name], string(b))
	}
	if content == nil {
		return nil, fault.New(op, fault.Invalid, "the upload has no file (the form's \"content\" field)")
	}
	if d.u, err = d.h.checkUpload(&form, content); err != nil {
		return nil, err
	}
	pub.Name, pub.Version, pub.File = d.u.project, d.u.version, d.u.dist.Filename
	pub.Namespaces, pub.Upstream = []string{d.u.project}, d.h.onUpstream()
	return content, nil
}

// check refuses a file name once taken (even by a deleted file).
func (d *distUpload) check(ctx context.Context, _ *edge.Publication) error {
	if _, err := d.h.r.Catalog.File(ctx, Protocol, d.u.dist.Filename); err == nil {
		return fault.Newf("pypi.upload", fault.Conflict, "File already exists: %s was uploaded before (file names are never reused, even after deletion)", d.u.dist.Filename)
	} else if !fault.Is(err, fault.NotFound) {
		return fault.Op("pypi.upload", err)
	}
	return nil
}

// spool spools the file, within the upload limit.
func (d *distUpload) spool(_ *edge.Publication, content io.Reader) (*edge.Upload, error) {
	const op = "pypi.upload"
	lr := &io.LimitedReader{R: content, N: d.h.r.MaxUpload + 1}
	up, err := d.h.r.Spool(Protocol, lr, blob.MD5)
	if err != nil {
		return nil, formError(op, err)
	}
	if lr.N <= 0 {
		up.Close()
		return nil, fault.Newf(op, fault.TooLarge, "file %s is over the upload limit of %d bytes", d.u.dist.Filename, d.h.r.MaxUpload)
	}
	return up, nil
}

// validate verifies the file against the form's digests and checks its
// archive: every entry, and a wheel's METADATA.
func (d *distUpload) validate(pub *edge.Publication) error {
	u, up := d.u, pub.Upload
	if err := up.Verify("the digest in the form does not match the uploaded file "+u.dist.Filename, u.want...); err != nil {
		return err
	}
	d.fm = fileMeta{Filetype: u.dist.Kind, PythonVersion: u.form.get("pyversion"), RequiresPython: u.meta.RequiresPython}
	limit := archive.Budget(up.Size(), 0)
	if u.dist.Kind == Wheel {
		var err error
		d.md, err = d.h.wheelMetadata(up.ReaderAt(), up.Size(), limit, u)
		return err
	}
	return checkSdist(up.ReaderAt(), up.Size(), limit, u.dist.Filename)
}

// record stores a wheel's METADATA, and writes the file in its release.
func (d *distUpload) record(bg context.Context, pub *edge.Publication) error {
	const op = "pypi.upload"
	u, fm := d.u, d.fm
	if d.md != nil {
		mw, err := d.h.r.Blobs.Create(bg)
		if err != nil {
			return fault.Op(op, err)
		}
		defer mw.Cancel(context.WithoutCancel(bg)) // past the deadline too
		mw.Write(d.md)
		mi, err := mw.Commit(bg)
		if err != nil {
			return fault.Op(op, err)
		}
		fm.Metadata, fm.MetadataSize = mi.Digest, mi.Size
	}
	rawMeta, _ := json.Marshal(fm)
	file := hosted.File{Name: u.dist.Filename, Digest: string(pub.Blob.Digest), Size: pub.Blob.Size, Meta: rawMeta, UploadedAt: time.Now().UTC()}
	if slices.ContainsFunc(u.want, func(d blob.Digest) bool { return d.Algorithm() == blob.MD5 }) {
		file.Hashes = map[string]string{"md5": pub.Upload.Sum(blob.MD5).Hex()}
	}
	if err := d.h.addFile(bg, u, file, pub.Claim.OrgID); err != nil {
		return err
	}
	if _, err := d.h.r.Catalog.Touch(bg, Protocol, u.project); err != nil {
		return fault.Op(op, err)
	}
	return nil
}

// onUpstream is the probe edge.Registry.ClaimForPublish asks before a
// first upload takes a project name: does the upstream index have a page
// for that spelling of it? Nil without a mirror.
func (h *Handler) onUpstream() func(context.Context, string) (bool, error) {
	if h.up == nil {
		return nil
	}
	return func(ctx context.Context, name string) (bool, error) {
		if _, err := h.upstreamPage(ctx, name); err != nil {
			return false, err
		}
		return true, nil
	}
}

func formError(op string, err error) error {
	if fault.Is(err, fault.TooLarge) {
		return err
	}
	return fault.WrapMsg(op, fault.Invalid, "malformed multipart form", err)
}

// checkedUpload is an upload whose form passed every check.
type checkedUpload struct {
	form    *uploadForm
	dist    Dist
	project string // normalized
	version string // normalized
	want    []blob.Digest
	meta    releaseMeta
}

// checkUpload validates the form against the file's name: the action, the
// project name, the PEP 440 version, the file type and the digests.
func (h *Handler) checkUpload(form *uploadForm, content *multipart.Part) (checkedUpload, error) {
	const op = "pypi.upload"
	if len(form.fields) == 0 {
		return checkedUpload{}, fault.New(op, fault.Invalid, "the form's metadata fields must come before the file (content)")
	}
	if a := form.get(":action"); a != "file_upload" {
		return checkedUpload{}, fault.Newf(op, fault.Invalid, "unsupported :action %q: only file_upload is", clip(a))
	}
	name := form.get("name")
	if err := ValidName(name); err != nil {
		return checkedUpload{}, fault.Op(op, err)
	}
	_, version, err := ParseVersion(form.get("version"))
	if err != nil {
		return checkedUpload{}, fault.Op(op, err)
	}
	// The raw file name: multipart's FileName would strip a path, hiding
	// the trick instead of refusing it.
	_, cd, err := mime.ParseMediaType(content.Header.Get("Content-Disposition"))
	filename := cd["filename"]
	if err != nil || filename == "" {
		return checkedUpload{}, fault.New(op, fault.Invalid, "the file part has no file name")
	}
	project := Normalize(name)
	d, err := ParseFilename(filename, name)
	if err != nil {
		return checkedUpload{}, fault.Op(op, err)
	}
	if Normalize(d.Project) != project {
		return checkedUpload{}, fault.Newf(op, fault.Invalid, "file %s does not belong to project %s", d.Filename, name)
	}
	if d.Normal != version {
		return checkedUpload{}, fault.Newf(op, fault.Invalid, "the version of file %s (%s) does not match the version in the form (%s)", d.Filename, d.Normal, version)
	}
	if ft := form.get("filetype"); ft != "" && Kind(ft) != d.Kind {
		return checkedUpload{}, fault.Newf(op, fault.Invalid, "filetype %q does not match file %s", clip(ft), d.Filename)
	}
	var want []blob.Digest
	for _, w := range []struct{ field, alg string }{{"sha256_digest", blob.SHA256}, {"md5_digest", blob.MD5}} {
		v := strings.ToLower(strings.TrimSpace(form.get(w.field)))
		if v == "" {
			continue
		}
		dg, err := blob.ParseDigest(w.alg + ":" + v)
		if err != nil {
			return checkedUpload{}, fault.Newf(op, fault.Invalid, "invalid %s %q", w.field, clip(v))
		}
		want = append(want, dg)
	}
	if len(want) == 0 || want[0].Algorithm() != blob.SHA256 {
		return checkedUpload{}, fault.New(op, fault.Invalid, "the form needs a sha256_digest of the file")
	}
	f := form.fields
	meta := releaseMeta{
		Name: name, Version: version,
		Summary: form.get("summary"), Description: form.get("description"),
		DescriptionContentType: form.get("description_content_type"),
		Author:                 form.get("author"), AuthorEmail: form.get("author_email"),
		Maintainer: form.get("maintainer"), MaintainerEmail: form.get("maintainer_email"),
		License: form.get("license"), HomePage: form.get("home_page"), Keywords: form.get("keywords"),
		RequiresPython: form.get("requires_python"),
		RequiresDist:   nonEmpty(f["requires_dist"]), Classifiers: nonEmpty(f["classifiers"]), ProjectURLs: nonEmpty(f["project_urls"]),
	}
	return checkedUpload{form: form, dist: d, project: project, version: version, want: want, meta: meta}, nil
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkSdist checks every entry of an sdist (a .tar.gz or a .zip, in ra
// of size bytes), which may expand to limit bytes.
func checkSdist(ra io.ReaderAt, size, limit int64, filename string) error {
	const op = "pypi.checkSdist"
	if strings.HasSuffix(strings.ToLower(filename), ".zip") {
		if _, err := archive.OpenZip(ra, size, limit); err != nil {
			return fault.WrapMsg(op, fault.KindOf(err), "invalid sdist "+filename+": "+fault.Message(err), err)
		}
		return nil
	}
	tr, err := archive.NewTarGz(io.NewSectionReader(ra, 0, size), limit)
	if err == nil {
		err = tr.Walk(func(*tar.Header) error { return nil })
	}
	if err != nil {
		return fault.WrapMsg(op, fault.KindOf(err), "invalid sdist "+filename+": "+fault.Message(err), err)
	}
	return nil
}

// addFile records file in its release, creating the release with the
// first file (a racing upload of another file of the same release may
// create it first).
func (h *Handler) addFile(ctx context.Context, u checkedUpload, file hosted.File, orgID string) error {
	const op = "pypi.upload"
	for try := 0; try < 2; try++ {
		v, err := h.r.Catalog.Version(ctx, Protocol, u.project, u.version)
		switch {
		case err == nil && v.Deleted:
			return fault.Newf(op, fault.Conflict, "release %s of %s was deleted and cannot be uploaded again", u.version, u.project)
		case err == nil:
			_, err = h.r.Catalog.AddFile(ctx, Protocol, u.project, u.version, file)
			return fault.Op(op, err)
		case !fault.Is(err, fault.NotFound):
			return fault.Op(op, err)
		}
		meta, _ := json.Marshal(u.meta)
		_, err = h.r.Catalog.AddVersion(ctx, hosted.Version{Protocol: Protocol, Package: u.project, Version: u.version, OrgID: orgID, Files: []hosted.File{file}, Meta: meta})
		if err == nil {
			return nil
		}
		if !fault.Is(err, fault.Conflict) {
			return fault.Op(op, err)
		}
		if _, ferr := h.r.Catalog.File(ctx, Protocol, file.Name); ferr == nil {
			return fault.Op(op, err) // the file name, not the release, was taken
		}
	}
	return fault.Newf(op, fault.Conflict, "release %s of %s is being changed concurrently; try again", u.version, u.project)
}

// wheelMetadata reads the METADATA of a wheel (ra, of size bytes, its
// entries checked and expanding to at most limit bytes) and checks that
// it names the project and version of the upload.
func (h *Handler) wheelMetadata(ra io.ReaderAt, size, limit int64, u checkedUpload) ([]byte, error) {
	const op = "pypi.wheelMetadata"
	invalid := func(msg string, err error) error {
		return fault.WrapMsg(op, fault.Invalid, "invalid wheel "+u.dist.Filename+": "+msg, err)
	}
	zr, err := archive.OpenZip(ra, size, limit)
	if fault.Is(err, fault.TooLarge) {
		return nil, fault.WrapMsg(op, fault.TooLarge, "invalid wheel "+u.dist.Filename+": "+fault.Message(err), err)
	}
	if err != nil {
		return nil, invalid(fault.Message(err), err)
	}
	var found *zip.File
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		if base != "METADATA" || strings.Count(dir, "/") != 1 || !strings.HasSuffix(dir, ".dist-info/") {
			continue
		}
		stem := strings.TrimSuffix(dir, ".dist-info/")
		if i := strings.LastIndexByte(stem, '-'); i > 0 && Normalize(stem[:i]) == u.project {
			found = f
			break
		}
	}
	if found == nil {
		return nil, invalid("no "+u.dist.Project+"-"+u.dist.Version+".dist-info/METADATA in it", nil)
	}
	if found.UncompressedSize64 > uint64(h.opts.MaxMetadata) {
		return nil, fault.Newf(op, fault.TooLarge, "the METADATA of %s is over %d bytes", u.dist.Filename, h.opts.MaxMetadata)
	}
	md, err := archive.ReadFile(found, h.opts.MaxMetadata)
	if fault.Is(err, fault.TooLarge) {
		return nil, fault.Newf(op, fault.TooLarge, "the METADATA of %s is over %d bytes", u.dist.Filename, h.opts.MaxMetadata)
	}
	if err != nil {
		return nil, invalid("unreadable METADATA", err)
	}
	hdr, err := textproto.NewReader(bufio.NewReader(strings.NewReader(string(md)))).ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, invalid("METADATA is not in the core metadata format", err)
	}
	if n := hdr.Get("Name"); Normalize(n) != u.project {
		return nil, invalid("its METADATA names project \""+clip(n)+"\"", nil)
	}
	if _, v, err := ParseVersion(hdr.Get("Version")); err != nil || v != u.version {
		return nil, invalid("its METADATA says version \""+clip(hdr.Get("Version"))+"\"", nil)
	}
	return md, nil
}

// yank returns the handler that yanks (or unyanks) a release (PEP 592).
func (h *Handler) yank(on bool) edge.HandlerFunc {
	return func(ctx *fasthttp.RequestCtx) error {
		const op = "pypi.yank"
		name, version, o, err := h.manageTarget(ctx, auth.Write)
		if err != nil {
			return err
		}
		var body struct {
			Reason string `json:"reason"`
		}
		if on {
			b, err := edge.ReadBody(ctx, 64<<10)
			if err != nil {
				return err
			}
			if len(strings.TrimSpace(string(b))) > 0 {
				if err := json.Unmarshal(b, &body); err != nil {
					return fault.WrapMsg(op, fault.Invalid, `the body is JSON: {"reason": "..."}`, err)
				}
			}
		}
		bg := edge.Context(ctx)
		_, err = h.r.Catalog.UpdateVersion(bg, Protocol, name, version, func(v *hosted.Version) error {
			if v.Deleted {
				return fault.Newf(op, fault.NotFound, "release %s of %s not found", version, name)
			}
			v.Yanked, v.YankReason = on, ""
			if on {
				v.YankReason = body.Reason
			}
			return nil
		})
		action := "version.unyank"
		if on {
			action = "version.yank"
		}
		target := Protocol + ":" + name + "@" + version
		if err != nil {
			h.r.Record(ctx, action, target, o.Claim.OrgID, "failure", fault.Message(err))
			return notFoundRelease(op, name, version, err)
		}
		h.r.Catalog.Touch(bg, Protocol, name)
		h.r.Record(ctx, action, target, o.Claim.OrgID, "success", body.Reason)
		return writeJSON(ctx, map[string]any{"project": name, "version": version, "yanked": on, "reason": body.Reason})
	}
}

// deleteRelease deletes a release: its files disappear, their names stay
// taken.
func (h *Handler) deleteRelease(ctx *fasthttp.RequestCtx) error {
	const op = "pypi.deleteRelease"
	name, version, o, err := h.manageTarget(ctx, auth.Delete)
	if err != nil {
		return err
	}
	bg := edge.Context(ctx)
	target := Protocol + ":" + name + "@" + version
	v, err := h.r.Catalog.Version(bg, Protocol, name, version)
	if err == nil && v.Deleted {
		err = fault.Newf(op, fault.NotFound, "release %s of %s not found", version, name)
	}
	if err == nil {
		_, err = h.r.Catalog.DeleteVersion(bg, Protocol, name, version)
	}
	if err != nil {
		h.r.Record(ctx, "version.delete", target, o.Claim.OrgID, "failure", fault.Message(err))
		return notFoundRelease(op, name, version, err)
	}
	h.r.Catalog.Touch(bg, Protocol, name)
	h.r.Record(ctx, "version.delete", target, o.Claim.OrgID, "success", "")
	return writeJSON(ctx, map[string]any{"project": name, "version": version, "deleted": true})
}

// deleteProject deletes every release of a project; the organization
// keeps the name, so it never falls through to the mirror.
func (h *Handler) deleteProject(ctx *fasthttp.RequestCtx) error {
	const op = "pypi.deleteProject"
	raw := param(ctx, "project")
	if err := ValidName(raw); err != nil {
		return fault.Op(op, err)
	}
	name := Normalize(raw)
	o, err := h.manageResolve(ctx, name, auth.Delete)
	if err != nil {
		return err
	}
	err = h.r.Catalog.DeletePackage(edge.Context(ctx), Protocol, name)
	if err != nil {
		h.r.Record(ctx, "package.delete", Protocol+":"+name, o.Claim.OrgID, "failure", fault.Message(err))
		if fault.Is(err, fault.NotFound) {
			return fault.Newf(op, fault.NotFound, "project %s not found", name)
		}
		return fault.Op(op, err)
	}
	h.r.Record(ctx, "package.delete", Protocol+":"+name, o.Claim.OrgID, "success", "")
	return writeJSON(ctx, map[string]any{"project": name, "deleted": true})
}

// manageTarget parses {project}/{version} and checks action on the hosted
// project; a name no organization holds is NotFound.
func (h *Handler) manageTarget(ctx *fasthttp.RequestCtx, action auth.Action) (string, string, edge.Origin, error) {
	const op = "pypi.manage"
	raw := param(ctx, "project")
	if err := ValidName(raw); err != nil {
		return "", "", edge.Origin{}, fault.Op(op, err)
	}
	_, version, err := ParseVersion(param(ctx, "version"))
	if err != nil {
		return "", "", edge.Origin{}, fault.Op(op, err)
	}
	name := Normalize(raw)
	o, err := h.manageResolve(ctx, name, action)
	return name, version, o, err
}

func (h *Handler) manageResolve(ctx *fasthttp.RequestCtx, name string, action auth.Action) (edge.Origin, error) {
	c := h.coords(name, action)
	c.Upstream, c.Unknown = "", "project %s is not hosted here"
	return h.r.Resolve(ctx, c)
}

func notFoundRelease(op, name, version string, err error) error {
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "release %s of %s not found", version, name)
	}
	return fault.Op(op, err)
}

func writeJSON(ctx *fasthttp.RequestCtx, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fault.Wrap("pypi.writeJSON", fault.Internal, err)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
	return nil
}
