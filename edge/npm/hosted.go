package npm

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// tarballBase is the URL prefix of n's tarballs at the edge.
// base is the mount point's public URL (Handler.mount).
func tarballBase(base string, n Name) string { return base + "/" + n.String() + "/-/" }

// filePath is the catalog path of a hosted tarball: "<name>/-/<file>".
func filePath(n Name, file string) string { return n.String() + "/-/" + file }

// hostedDocument returns the prepared packument of a hosted package:
// built once per stamp and base URL, then served from memory.
func (h *Handler) hostedDocument(ctx *fasthttp.RequestCtx, n Name, abbreviated bool) (*edge.Document, error) {
	const op = "npm.hostedDocument"
	form, ct := "full", typeFull
	if abbreviated {
		form, ct = "abbr", typeAbbreviated
	}
	base := h.mount.For(ctx)
	var pkg *hosted.Package
	stamp, ok := h.docs.stamp(n)
	if !ok {
		p, err := h.r.Catalog.Package(edge.Context(ctx), Protocol, n.String())
		if err != nil {
			return nil, notFound(op, n, err)
		}
		pkg, stamp = &p, p.Stamp()
		h.docs.setStamp(n, stamp)
	}
	key := docKey(form, n.String(), "s"+stamp.String(), base)
	if d, ok := h.docs.get(key); ok {
		return d, nil
	}
	if pkg == nil {
		p, err := h.r.Catalog.Package(edge.Context(ctx), Protocol, n.String())
		if err != nil {
			return nil, notFound(op, n, err)
		}
		pkg = &p
	}
	live, err := h.r.Catalog.Versions(edge.Context(ctx), Protocol, n.String(), false)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	if len(live) == 0 {
		return nil, notFound(op, n, nil)
	}
	body, err := BuildPackument(*pkg, live, n, tarballBase(base, n), abbreviated)
	if err != nil {
		return nil, err
	}
	d := h.docs.newDocument(body, ct, "no-cache")
	// Keyed by the stamp read with the package: a change since then has
	// another stamp and builds its own document.
	h.docs.add(docKey(form, n.String(), "s"+pkg.Stamp().String(), base), d)
	return d, nil
}

// notFound turns a catalog NotFound into npm's plain 404, keeping other
// errors as they are.
func notFound(op string, n Name, err error) error {
	if err == nil || fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "%s: not found", n)
	}
	return fault.Op(op, err)
}

// hostedLive reads hosted package n and its live versions.
func (h *Handler) hostedLive(ctx *fasthttp.RequestCtx, op string, n Name) (hosted.Package, []hosted.Version, error) {
	p, err := h.r.Catalog.Package(edge.Context(ctx), Protocol, n.String())
	if err != nil {
		return p, nil, notFound(op, n, err)
	}
	live, err := h.r.Catalog.Versions(edge.Context(ctx), Protocol, n.String(), false)
	return p, live, fault.Op(op, err)
}

// hostedVersion answers one version's manifest, by version or dist-tag.
func (h *Handler) hostedVersion(ctx *fasthttp.RequestCtx, n Name, spec string) error {
	const op = "npm.hostedVersion"
	p, live, err := h.hostedLive(ctx, op, n)
	if err != nil {
		return err
	}
	if v, ok := liveTags(decodeMeta(p.Meta).DistTags, live)[spec]; ok {
		spec = v
	}
	for _, v := range live {
		if v.Version == spec {
			b, err := marshal(manifestOf(v, n, tarballBase(h.mount.For(ctx), n)))
			if err != nil {
				return err
			}
			ctx.SetContentType(typeFull)
			ctx.SetBody(b)
			return nil
		}
	}
	return fault.Newf(op, fault.NotFound, "version %q of %s not found", spec, n)
}

// hostedTarball streams a hosted tarball from the blob store.
func (h *Handler) hostedTarball(ctx *fasthttp.RequestCtx, n Name, rawFile string) error {
	const op = "npm.hostedTarball"
	v, err := TarballVersion(n, rawFile)
	if err != nil {
		return err
	}
	path := filePath(n, TarballFile(n, v))
	d, ok := h.files.Get(path)
	if !ok {
		ref, err := h.r.Catalog.File(edge.Context(ctx), Protocol, path)
		if err != nil {
			return notFound(op, n, err)
		}
		if ref.Deleted || ref.Package != n.String() {
			return fault.Newf(op, fault.NotFound, "%s@%s was unpublished", n, v)
		}
		d = blob.Digest(ref.Digest)
		h.files.Add(path, d)
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: d, Immutable: true})
}

// span is a JSON value left where it is in the request body: decoding
// into it copies nothing (encoding/json hands Unmarshalers a slice of its
// input), so a large base64 attachment is never held twice.
type span []byte

func (s *span) UnmarshalJSON(b []byte) error { *s = b; return nil }

// attachment is one entry of a publish's _attachments.
type attachment struct {
	ContentType string `json:"content_type"`
	Data        span   `json:"data"`
	Length      int64  `json:"length"`
}

// putBody is the packument a client PUTs (publish, deprecate, unpublish).
type putBody struct {
	top         map[string]span
	Versions    map[string]json.RawMessage
	DistTags    map[string]string
	Attachments map[string]attachment
}

func parsePutBody(n Name, body []byte) (putBody, error) {
	const op = "npm.parsePutBody"
	var b putBody
	if err := json.Unmarshal(body, &b.top); err != nil || b.top == nil {
		return b, fault.WrapMsg(op, fault.Invalid, "invalid JSON body", cmp.Or(err, errNull))
	}
	var name, id string
	if err := decodeField(b.top, "name", &name); err != nil {
		return b, err
	}
	if err := decodeField(b.top, "_id", &id); err != nil {
		return b, err
	}
	if name != "" && name != n.String() || id != "" && id != n.String() {
		return b, fault.Newf(op, fault.Invalid, "the document names %q, not %s", name+id, n)
	}
	if err := decodeField(b.top, "versions", &b.Versions); err != nil {
		return b, err
	}
	if err := decodeField(b.top, "dist-tags", &b.DistTags); err != nil {
		return b, err
	}
	if err := decodeField(b.top, "_attachments", &b.Attachments); err != nil {
		return b, err
	}
	return b, nil
}

func decodeField(top map[string]span, key string, v any) error {
	raw, ok := top[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fault.WrapMsg("npm.decodeField", fault.Invalid, "invalid "+key, err)
	}
	return nil
}

// put is PUT /<name>: a publish when the document carries attachments,
// otherwise a change of deprecation messages.
//
// A publish goes through edge.Publish (tarballUpload). The URL names the
// package, so the write is authorized before the body is read, and a
// caller without it costs no more than the refusal; the body is then
// streamed: the tarball's base64 is decoded into a spooled Upload as it
// arrives, and only the rest of the document is held.
func (h *Handler) put(ctx *fasthttp.RequestCtx) error {
	n, err := nameOf(ctx)
	if err != nil {
		return err
	}
	if err := n.CheckNew(); err != nil {
		return err
	}
	t := &tarballUpload{h: h, n: n}
	err = h.r.Publish(ctx, edge.PublishSpec{
		Protocol: Protocol, SignIn: "you must be logged in to publish packages",
		Coordinates: t.coordinates, Spool: t.spool, Validate: t.validate, Check: t.check,
		Package: func(*edge.Publication) hosted.Package { return hosted.Package{Name: n.String()} },
		Record:  t.record, Changed: func(*edge.Publication) { h.forget(n) },
		Respond: func(ctx *fasthttp.RequestCtx, _ *edge.Publication) error {
			return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true, "id": n.String(), "success": true})
		},
		Refused: func(pub *edge.Publication, err error) error {
			if pub.Org.ID == "" { // no organization to publish to: said as it is
				return err
			}
			return forbidPublish(n, err)
		},
	})
	if errors.Is(err, edge.ErrNoUpload) {
		return h.deprecate(ctx, n, t.doc)
	}
	return err
}

// tarballUpload is one npm publish: its pieces of edge.Publish.
type tarballUpload struct {
	h        *Handler
	n        Name
	doc      putBody
	version  string
	manifest json.RawMessage // as stored
	want     []blob.Digest
	tags     map[string]string
}

// coordinates: the organization holding n's claim (its scope's or its
// own), else the one named by n's scope (a scope belongs to the
// organization of the same name), else the caller's.
func (t *tarballUpload) coordinates(pub *edge.Publication, body io.Reader) (io.Reader, error) {
	n := t.n
	pub.Name, pub.Named, pub.Namespaces, pub.Upstream = n.String(), n.Scope, []string{n.String()}, t.h.onUpstream(n)
	if n.Scope != "" {
		pub.Namespaces = []string{n.ScopeNamespace(), n.String()}
	}
	return body, nil
}

// spool reads the document, its attachment's data decoded into an Upload
// as it streams by; a document without attachments is no publish.
func (t *tarballUpload) spool(_ *edge.Publication, body io.Reader) (*edge.Upload, error) {
	var up *edge.Upload
	raw, err := splitAttachments(body, min(t.h.r.MaxUpload, maxDocument), func(string) (io.Writer, error) {
		if up != nil {
			return nil, fault.New("npm.publish", fault.Invalid, "a publish carries exactly one version and one attachment")
		}
		var err error
		up, err = t.h.r.NewUpload(Protocol, blob.SHA1, blob.SHA512)
		return up, err
	})
	if err == nil {
		t.doc, err = parsePutBody(t.n, raw)
	}
	if err != nil || len(t.doc.Attachments) == 0 {
		up.Close()
		return nil, err
	}
	if up == nil { // the data was not streamed (an escaped key, say)
		if len(t.doc.Attachments) != 1 {
			return nil, fault.New("npm.publish", fault.Invalid, "a publish carries exactly one version and one attachment")
		}
		for _, a := range t.doc.Attachments {
			return t.h.spoolAttachment(a)
		}
	}
	return up, nil
}

// validate checks the version's manifest and dist-tags, and the tarball
// against dist.shasum/dist.integrity and the package.json inside.
func (t *tarballUpload) validate(pub *edge.Publication) error {
	const op = "npm.publish"
	doc, n := t.doc, t.n
	if len(doc.Versions) != 1 || len(doc.Attachments) != 1 {
		return fault.New(op, fault.Invalid, "a publish carries exactly one version and one attachment")
	}
	var manifest json.RawMessage
	for k, m := range doc.Versions {
		t.version, manifest = k, m
	}
	if _, err := ParseVersion(t.version); err != nil {
		return err
	}
	pub.Version = t.version
	var err error
	if t.manifest, t.want, err = checkManifest(n, t.version, manifest); err != nil {
		return err
	}
	t.tags = map[string]string{}
	for tag, v := range doc.DistTags {
		if _, err := ParseTag(tag); err != nil {
			return err
		}
		if v != t.version {
			return fault.Newf(op, fault.Invalid, "dist-tag %q points at %s, not the published %s", tag, v, t.version)
		}
		t.tags[tag] = v
	}
	for _, a := range doc.Attachments {
		return checkTarball(pub.Upload, a, t.want, n, t.version)
	}
	return nil
}

// check refuses a version that exists or existed.
func (t *tarballUpload) check(ctx context.Context, _ *edge.Publication) error {
	if _, err := t.h.r.Catalog.Version(ctx, Protocol, t.n.String(), t.version); err == nil {
		return republish(t.version)
	} else if !fault.Is(err, fault.NotFound) {
		return fault.Op("npm.publish", err)
	}
	return nil
}

// record writes the version, and the package's dist-tags and top-level
// fields.
func (t *tarballUpload) record(ctx context.Context, pub *edge.Publication) error {
	const op = "npm.publish"
	n, version, man := t.n, t.version, t.manifest
	orgID := pub.Claim.OrgID
	hashes := map[string]string{blob.SHA256: pub.Blob.Digest.Hex()}
	for _, w := range t.want {
		hashes[w.Algorithm()] = w.Hex()
	}
	file := hosted.File{
		Name:        filePath(n, TarballFile(n, version)),
		Digest:      string(pub.Blob.Digest),
		Size:        pub.Blob.Size,
		ContentType: "application/octet-stream",
		Hashes:      hashes,
	}
	_, err := t.h.r.Catalog.AddVersion(ctx, hosted.Version{
		Protocol: Protocol, Package: n.String(), Version: version, OrgID: orgID,
		Files: []hosted.File{file}, Meta: man, PublishedBy: pub.Principal.UserID,
	})
	if fault.Is(err, fault.Conflict) {
		return republish(version)
	}
	if err != nil {
		return fault.Op(op, err)
	}
	// Top-level fields as the document gives them, else as the version's
	// manifest does (npm puts keywords, license, ... there only).
	var inManifest map[string]json.RawMessage
	json.Unmarshal(man, &inManifest)
	fields := map[string]json.RawMessage{}
	for _, f := range keptFields {
		if v, ok := t.doc.top[f]; ok {
			fields[f] = append(json.RawMessage(nil), v...)
		} else if v, ok := inManifest[f]; ok {
			fields[f] = v
		}
	}
	var desc string
	json.Unmarshal(fields["description"], &desc)
	_, err = t.h.r.Catalog.UpdatePackage(ctx, Protocol, n.String(), func(pk *hosted.Package) error {
		m := decodeMeta(pk.Meta)
		for tag, v := range t.tags {
			m.DistTags[tag] = v
		}
		if _, ok := m.DistTags["latest"]; !ok {
			m.DistTags["latest"] = version
		}
		m.Fields = fields
		pk.Description = desc
		raw, err := json.Marshal(m)
		pk.Meta = raw
		return err
	})
	if err != nil {
		t.h.forget(n) // the version is recorded
		return fault.Op(op, err)
	}
	return nil
}

// maxDocument bounds a PUT document without its attachment.
const maxDocument = 64 << 20

// onUpstream is the probe edge.Registry.ClaimForPublish asks before a
// first publish of n takes its name: does the upstream registry serve
// the packument of that spelling of it? A scope is an organization's
// name, created by an administrator, so it is never probed; nor is
// anything without a mirror.
func (h *Handler) onUpstream(n Name) func(context.Context, string) (bool, error) {
	if h.up == nil || n.Scope != "" {
		return nil
	}
	return func(ctx context.Context, spelling string) (bool, error) {
		if _, err := h.upstreamPackument(ctx, Name{Base: spelling}, true); err != nil {
			return false, err
		}
		return true, nil
	}
}

// forbidPublish words a refused publish the way the npm registry does,
// with the reason; a read refusal turned NotFound would be misleading
// here.
func forbidPublish(n Name, err error) error {
	switch fault.KindOf(err) {
	case fault.Forbidden, fault.NotFound:
		return fault.WrapMsg("npm.publish", fault.Forbidden, fmt.Sprintf("you do not have permission to publish %q (%s). Are you logged in as the correct user?", n.String(), fault.Message(err)), err)
	}
	return err
}

// republish is npm's refusal of a version that exists or existed.
func republish(version string) error {
	return edge.WithStatus(fasthttp.StatusForbidden, fault.Newf("npm.publish", fault.Conflict,
		"You cannot publish over the previously published versions: %s.", version))
}

// checkManifest validates a published version's manifest and returns it
// as stored (dist.tarball dropped: it is written per request) and the
// digests its tarball must have.
func checkManifest(n Name, version string, raw json.RawMessage) (json.RawMessage, []blob.Digest, error) {
	const op = "npm.checkManifest"
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, nil, fault.WrapMsg(op, fault.Invalid, "invalid manifest of version "+version, cmp.Or(err, errNull))
	}
	var name, v string
	json.Unmarshal(m["name"], &name)
	json.Unmarshal(m["version"], &v)
	if name != n.String() || v != version {
		return nil, nil, fault.Newf(op, fault.Invalid, "the manifest names %s@%s, not %s@%s", name, v, n, version)
	}
	var dist map[string]json.RawMessage
	if err := json.Unmarshal(m["dist"], &dist); err != nil || dist == nil {
		return nil, nil, fault.New(op, fault.Invalid, "the manifest has no dist")
	}
	var d Dist
	json.Unmarshal(dist["integrity"], &d.Integrity)
	json.Unmarshal(dist["shasum"], &d.Shasum)
	var want []blob.Digest
	if d.Integrity != "" {
		w := Dist{Integrity: d.Integrity}.Want()
		if len(w) == 0 {
			return nil, nil, fault.Newf(op, fault.Invalid, "invalid dist.integrity %q", d.Integrity)
		}
		want = append(want, w...)
	}
	if d.Shasum != "" {
		w := Dist{Shasum: d.Shasum}.Want()
		if len(w) == 0 {
			return nil, nil, fault.Newf(op, fault.Invalid, "invalid dist.shasum %q", d.Shasum)
		}
		if len(want) == 0 || want[0].Algorithm() != blob.SHA1 {
			want = append(want, w...)
		}
	}
	if len(want) == 0 {
		return nil, nil, fault.New(op, fault.Invalid, "the manifest has neither dist.integrity nor dist.shasum")
	}
	delete(dist, "tarball")
	var err error
	if m["dist"], err = marshal(dist); err != nil {
		return nil, nil, err
	}
	delete(m, "_attachments")
	out, err := marshal(m)
	return out, want, err
}

// spoolAttachment spools an attachment whose data stayed in the
// document.
func (h *Handler) spoolAttachment(att attachment) (*edge.Upload, error) {
	data, err := attachmentData(att.Data)
	if err != nil {
		return nil, err
	}
	up, err := h.r.Spool(Protocol, base64.NewDecoder(base64.StdEncoding, bytes.NewReader(data)), blob.SHA1, blob.SHA512)
	if fault.Is(err, fault.Invalid) {
		return nil, fault.WrapMsg("npm.publish", fault.Invalid, "the attachment is not valid base64", err)
	}
	return up, err
}

// attachmentData returns the base64 text of an attachment's "data", in
// place when it holds no escapes (it never does from npm).
func attachmentData(raw span) ([]byte, error) {
	const op = "npm.attachmentData"
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, fault.New(op, fault.Invalid, "the attachment has no data")
	}
	inner := raw[1 : len(raw)-1]
	if len(inner) == 0 {
		return nil, fault.New(op, fault.Invalid, "the attachment has no data")
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fault.WrapMsg(op, fault.Invalid, "the attachment data is not a JSON string", err)
	}
	return []byte(s), nil
}

// checkTarball checks a spooled tarball: its announced length, its
// digests (want), and the package.json inside.
func checkTarball(up *edge.Upload, att attachment, want []blob.Digest, n Name, version string) error {
	const op = "npm.checkTarball"
	if up.Size() == 0 {
		return fault.New(op, fault.Invalid, "the attachment has no data")
	}
	if att.Length > 0 && up.Size() != att.Length {
		return fault.Newf(op, fault.Invalid, "the attachment is %d bytes, not the announced %d", up.Size(), att.Length)
	}
	if err := up.Verify("the tarball does not match dist.integrity/dist.shasum", want...); err != nil {
		return err
	}
	return readPackageJSON(up.Reader(), archive.Budget(up.Size(), 0), n, version)
}

// maxManifest bounds the package.json read from a tarball.
const maxManifest = 4 << 20

// readPackageJSON reads a gzipped tar of at most limit bytes expanded,
// checking every entry (edge/archive), and the package.json at the top of
// its first directory ("package/" in practice): its name and version.
func readPackageJSON(r io.Reader, limit int64, n Name, version string) error {
	const op = "npm.checkTarball"
	tr, err := archive.NewTarGz(r, limit)
	if err != nil {
		return fault.WrapMsg(op, fault.Invalid, "the attachment is not a gzipped tarball", err)
	}
	found := false
	err = tr.Walk(func(hd *tar.Header) error {
		dir, rest, ok := strings.Cut(strings.TrimPrefix(hd.Name, "./"), "/")
		if found || !ok || dir == "" || rest != "package.json" || hd.Typeflag != tar.TypeReg {
			return nil
		}
		found = true
		b, err := archive.ReadAll(tr, maxManifest, "the tarball's package.json")
		if err != nil {
			return err
		}
		var pj struct{ Name, Version string }
		if err := json.Unmarshal(b, &pj); err != nil {
			return fault.WrapMsg(op, fault.Invalid, "the tarball's package.json is not valid JSON", err)
		}
		if pj.Name != n.String() || pj.Version != version {
			return fault.Newf(op, fault.Invalid, "the tarball's package.json names %s@%s, not %s@%s", pj.Name, pj.Version, n, version)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fault.New(op, fault.Invalid, "the tarball holds no package.json")
	}
	return nil
}

// hostedPath is hostedFor of the package the path names (nameOf).
func (h *Handler) hostedPath(ctx *fasthttp.RequestCtx, a auth.Action) (Name, edge.Origin, error) {
	n, err := nameOf(ctx)
	if err != nil {
		return n, edge.Origin{}, err
	}
	o, err := h.hostedFor(ctx, n, a)
	return n, o, err
}

// hostedFor resolves n for a change: it must be hosted (the mirror is
// not asked), and the caller must hold action on it.
func (h *Handler) hostedFor(ctx *fasthttp.RequestCtx, n Name, a auth.Action) (edge.Origin, error) {
	c := h.coords(n, a)
	c.Upstream, c.Unknown = "", "%s: not found"
	o, err := h.r.Resolve(ctx, c)
	if err != nil && a != auth.Read && fault.Is(err, fault.Forbidden) {
		err = fault.Newf("npm.hostedFor", fault.Forbidden, "you do not have permission to change %q", n.String())
	}
	return o, err
}

// deprecate applies the "deprecated" fields of a PUT packument to the
// versions it lists (npm deprecate; an empty message undeprecates).
func (h *Handler) deprecate(ctx *fasthttp.RequestCtx, n Name, doc putBody) error {
	const op = "npm.deprecate"
	o, err := h.hostedFor(ctx, n, auth.Delete)
	if err != nil {
		return err
	}
	live, err := h.r.Catalog.Versions(edge.Context(ctx), Protocol, n.String(), false)
	if err != nil {
		return fault.Op(op, err)
	}
	if len(live) == 0 {
		return notFound(op, n, nil)
	}
	changed := 0
	for _, v := range live {
		raw, ok := doc.Versions[v.Version]
		if !ok {
			continue
		}
		var in struct {
			Deprecated *string `json:"deprecated"`
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			return fault.WrapMsg(op, fault.Invalid, "invalid manifest of version "+v.Version, err)
		}
		msg := ""
		if in.Deprecated != nil {
			msg = *in.Deprecated
		}
		var cur struct {
			Deprecated string `json:"deprecated"`
		}
		json.Unmarshal(v.Meta, &cur)
		if cur.Deprecated == msg {
			continue
		}
		_, err := h.r.Catalog.UpdateVersion(edge.Context(ctx), Protocol, n.String(), v.Version, func(ver *hosted.Version) error {
			m := map[string]json.RawMessage{}
			json.Unmarshal(ver.Meta, &m)
			if msg == "" {
				delete(m, "deprecated")
			} else {
				m["deprecated"], _ = marshal(msg)
			}
			var err error
			ver.Meta, err = marshal(m)
			return err
		})
		if err != nil {
			return fault.Op(op, err)
		}
		changed++
	}
	if changed > 0 {
		if _, err := h.r.Catalog.Touch(edge.Context(ctx), Protocol, n.String()); err != nil {
			return fault.Op(op, err)
		}
		h.forget(n)
		h.r.Record(ctx, "npm.deprecate", n.String(), o.OrgID, "success", itoa(uint64(changed))+" versions")
	}
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true, "id": n.String()})
}

// unpublishVersions is PUT /<name>/-rev/<rev>: the live versions missing
// from the document are unpublished, and its dist-tags are taken.
func (h *Handler) unpublishVersions(ctx *fasthttp.RequestCtx) error {
	const op = "npm.unpublishVersions"
	n, err := nameOf(ctx)
	if err != nil {
		return err
	}
	if _, err := h.r.Who(ctx); err != nil {
		return err
	}
	o, err := h.hostedFor(ctx, n, auth.Delete)
	if err != nil {
		return err
	}
	body, err := edge.ReadBody(ctx, h.r.MaxUpload)
	if err != nil {
		return err
	}
	doc, err := parsePutBody(n, body)
	if err != nil {
		return err
	}
	live, err := h.r.Catalog.Versions(edge.Context(ctx), Protocol, n.String(), false)
	if err != nil {
		return fault.Op(op, err)
	}
	var removed []string
	for _, v := range live {
		if _, ok := doc.Versions[v.Version]; ok {
			continue
		}
		if _, err := h.r.Catalog.DeleteVersion(edge.Context(ctx), Protocol, n.String(), v.Version); err != nil {
			return fault.Op(op, err)
		}
		h.files.Remove(filePath(n, TarballFile(n, v.Version)))
		removed = append(removed, v.Version)
	}
	if len(removed) == len(live) && len(live) > 0 {
		if err := h.r.Catalog.DeletePackage(edge.Context(ctx), Protocol, n.String()); err != nil {
			return fault.Op(op, err)
		}
	} else {
		_, err = h.r.Catalog.UpdatePackage(edge.Context(ctx), Protocol, n.String(), func(pk *hosted.Package) error {
			m := decodeMeta(pk.Meta)
			if doc.DistTags != nil {
				m.DistTags = map[string]string{}
				for t, v := range doc.DistTags {
					if _, err := ParseTag(t); err == nil {
						m.DistTags[t] = v
					}
				}
			}
			raw, err := json.Marshal(m)
			pk.Meta = raw
			return err
		})
		if err != nil {
			return fault.Op(op, err)
		}
	}
	h.forget(n)
	if len(removed) > 0 {
		h.r.Record(ctx, "npm.unpublish", n.String()+"@"+strings.Join(removed, ","), o.OrgID, "success", "")
	}
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true, "id": n.String()})
}

// unpublishPackage is DELETE /<name>/-rev/<rev>: every version goes. The
// name stays claimed by its organization, and its versions can never be
// published again.
func (h *Handler) unpublishPackage(ctx *fasthttp.RequestCtx) error {
	const op = "npm.unpublishPackage"
	n, o, err := h.hostedPath(ctx, auth.Delete)
	if err != nil {
		return err
	}
	live, err := h.r.Catalog.Versions(edge.Context(ctx), Protocol, n.String(), false)
	if err != nil {
		return fault.Op(op, err)
	}
	if err := h.r.Catalog.DeletePackage(edge.Context(ctx), Protocol, n.String()); err != nil {
		return notFound(op, n, err)
	}
	for _, v := range live {
		h.files.Remove(filePath(n, TarballFile(n, v.Version)))
	}
	h.forget(n)
	h.r.Record(ctx, "npm.unpublish", n.String(), o.OrgID, "success", "whole package")
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true, "id": n.String()})
}

// unpublishTarball is DELETE /<name>/-/<file>/-rev/<rev>, which npm sends
// after removing the version from the packument: the version is
// unpublished if it still is not.
func (h *Handler) unpublishTarball(ctx *fasthttp.RequestCtx) error {
	const op = "npm.unpublishTarball"
	n, o, err := h.hostedPath(ctx, auth.Delete)
	if err != nil {
		return err
	}
	raw, _ := ctx.UserValue("file").(string)
	version, err := TarballVersion(n, raw)
	if err != nil {
		return err
	}
	v, err := h.r.Catalog.Version(edge.Context(ctx), Protocol, n.String(), version)
	if err != nil {
		return notFound(op, n, err)
	}
	if !v.Deleted {
		if _, err := h.r.Catalog.DeleteVersion(edge.Context(ctx), Protocol, n.String(), version); err != nil {
			return fault.Op(op, err)
		}
		if _, err := h.r.Catalog.Touch(edge.Context(ctx), Protocol, n.String()); err != nil && !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
		h.r.Record(ctx, "npm.unpublish", n.String()+"@"+version, o.OrgID, "success", "")
	}
	h.files.Remove(filePath(n, TarballFile(n, version)))
	h.forget(n)
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true})
}

// writeJSON answers with a small JSON document.
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}
