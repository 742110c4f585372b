package maven

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
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

// How hosted files are kept: one hosted package per groupId:artifactId,
// and one catalog version per deployed file, named
// "{version}/{file name}", holding that one file. Maven deploys a version
// file by file, and catalog versions are immutable, so this makes every
// file immutable on its own (a release's files can never be replaced, and
// two racing uploads of one path have one winner), while metadata is
// generated from the list of files.

// hashes computes the checksums Maven clients ask for, in one pass.
type hashes struct {
	md5, sha1, sha256, sha512 hash.Hash
	w                         io.Writer
}

func newHashes() *hashes {
	h := &hashes{md5: md5.New(), sha1: sha1.New(), sha256: sha256.New(), sha512: sha512.New()}
	h.w = io.MultiWriter(h.md5, h.sha1, h.sha256, h.sha512)
	return h
}

func (h *hashes) Write(p []byte) (int, error) { return h.w.Write(p) }

// sums returns the hex digests by algorithm name.
func (h *hashes) sums() map[string]string {
	return map[string]string{
		"md5":    hex.EncodeToString(h.md5.Sum(nil)),
		"sha1":   hex.EncodeToString(h.sha1.Sum(nil)),
		"sha256": hex.EncodeToString(h.sha256.Sum(nil)),
		"sha512": hex.EncodeToString(h.sha512.Sum(nil)),
	}
}

func sumsOf(b []byte) map[string]string {
	h := newHashes()
	h.Write(b)
	return h.sums()
}

// contentType is what a file is served as.
func contentType(ext string) string {
	switch {
	case ext == "pom" || ext == "xml":
		return "text/xml"
	case ext == "jar" || ext == "war" || ext == "ear" || ext == "aar":
		return "application/java-archive"
	case strings.HasSuffix(ext, ".asc"):
		return "application/pgp-signature"
	case ext == "module" || ext == "json":
		return "application/json"
	}
	return "application/octet-stream"
}

// putFile stores a deployed artifact file through edge.Publish
// (fileUpload): the path names the file, so the write is authorized
// before the body is read, and a file deployed already is refused then;
// the body is spooled while its checksums are computed (a POM checked
// against its path), and committed to the blob store and recorded only
// once the deploy is claimed, so that a refused or failed upload leaves
// nothing.
func (h *Handler) putFile(ctx *fasthttp.RequestCtx, c Coords) error {
	f := &fileUpload{h: h, c: c, pom: c.Extension == "pom" && c.Classifier == ""}
	limit := h.r.MaxUpload
	if f.pom {
		limit = h.opts.MaxDocument
	}
	return h.r.Publish(ctx, edge.PublishSpec{
		Protocol: Protocol, SignIn: "authentication required to deploy", Limit: limit,
		Hashes:      []string{blob.MD5, blob.SHA1, blob.SHA512},
		Coordinates: f.coordinates, Validate: f.validate, Check: f.check, Record: f.record,
		Package: func(*edge.Publication) hosted.Package { return hosted.Package{Name: c.Package()} },
		Respond: func(ctx *fasthttp.RequestCtx, _ *edge.Publication) error {
			ctx.SetStatusCode(fasthttp.StatusCreated)
			return nil
		},
	})
}

// fileUpload is one deployed file: its pieces of edge.Publish.
type fileUpload struct {
	h   *Handler
	c   Coords
	pom bool // the artifact's POM, checked against its path
}

// coordinates: the groupId is claimed by the longest of its prefixes an
// organization holds, else, on a first deploy, exactly.
func (f *fileUpload) coordinates(pub *edge.Publication, body io.Reader) (io.Reader, error) {
	c := f.c
	if c.Snapshot() && c.Build == 0 {
		return nil, fault.Newf("maven.putFile", fault.Invalid, "%s: deploy SNAPSHOTs with unique, timestamped file names (as Maven 3 and Gradle do)", c.FileName())
	}
	pub.Name, pub.Version, pub.File = c.Package(), c.Version, c.FileName()
	pub.Namespaces, pub.Upstream = c.Groups(), f.h.onUpstream(c)
	return body, nil
}

// check refuses a first deploy under a groupId too broad to claim, and a
// file deployed already (releases are immutable; a SNAPSHOT's files have
// unique names).
func (f *fileUpload) check(ctx context.Context, pub *edge.Publication) error {
	const op = "maven.putFile"
	c := f.c
	if !pub.Claimed {
		if _, err := NormalizeClaim(pub.Org.Name, c.Group); err != nil {
			return fault.Newf(op, fault.Invalid, "groupId %s is too broad: a first deploy claims its exact groupId for your organization, and a claim needs at least two segments, such as com.%s", c.Group, pub.Org.Name)
		}
	}
	ref, err := f.h.r.Catalog.File(ctx, Protocol, c.Target)
	switch {
	case fault.Is(err, fault.NotFound):
		return nil
	case err != nil:
		return err
	case ref.Deleted:
		return fault.Newf(op, fault.Conflict, "%s was withdrawn and cannot be deployed again", c.FileName())
	case !c.Snapshot():
		return fault.Newf(op, fault.Conflict, "release %s:%s:%s is immutable: %s is deployed already; deploy a new version", c.Group, c.Artifact, c.Version, c.FileName())
	}
	return fault.Newf(op, fault.Conflict, "%s is deployed already", c.FileName())
}

// validate checks a POM against its path.
func (f *fileUpload) validate(pub *edge.Publication) error {
	if !f.pom {
		return nil
	}
	b, err := io.ReadAll(pub.Upload.Reader())
	if err != nil {
		return fault.Wrap("maven.putFile", fault.Unavailable, err)
	}
	return CheckPOM(b, f.c.Group, f.c.Artifact, f.c.Version)
}

// record writes the file's version.
func (f *fileUpload) record(ctx context.Context, pub *edge.Publication) error {
	c, info := f.c, pub.Blob
	sums := pub.Upload.Hashes()
	_, err := f.h.r.Catalog.AddVersion(ctx, hosted.Version{
		Protocol: Protocol,
		Package:  c.Package(),
		Version:  c.Version + "/" + c.FileName(),
		OrgID:    pub.Claim.OrgID,
		Files: []hosted.File{{
			Name:        c.Target,
			Digest:      string(info.Digest),
			Size:        info.Size,
			ContentType: contentType(c.Extension),
			Hashes:      map[string]string{"md5": sums["md5"], "sha1": sums["sha1"], "sha512": sums["sha512"]},
			UploadedAt:  time.Now().UTC(),
		}},
		PublishedBy: pub.Principal.UserID,
	})
	if fault.Is(err, fault.Conflict) {
		return fault.Newf("maven.putFile", fault.Conflict, "%s was deployed by a concurrent upload", c.FileName())
	}
	if err != nil {
		return err
	}
	if _, err := f.h.r.Catalog.Touch(ctx, Protocol, c.Package()); err != nil {
		f.h.r.Log.Warn("maven: package serial not bumped", "package", c.Package(), "err", err)
	}
	return nil
}

// checksumLen is the hex length of each algorithm's digest.
var checksumLen = map[string]int{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

// parseChecksum reads a checksum file: the hex digest, optionally followed
// by a file name ("<hex>  <name>", as sha1sum writes it).
func parseChecksum(b []byte, alg string) (string, bool) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "", false
	}
	s := strings.ToLower(f[0])
	if len(s) != checksumLen[alg] {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// fileHash is the hex digest of a stored file for alg.
func fileHash(f hosted.File, alg string) string {
	if alg == "sha256" {
		return blob.Digest(f.Digest).Hex()
	}
	return f.Hashes[alg]
}

// putChecksum checks an uploaded checksum against the stored file; the
// server keeps its own, so nothing is stored. A contradicting checksum
// sent by the uploader soon after the upload means the file was corrupted
// on its way: the file is withdrawn, so that nobody resolves it.
func (h *Handler) putChecksum(ctx *fasthttp.RequestCtx, c Coords, p auth.Principal, hostedGroup bool) error {
	const op = "maven.putChecksum"
	b, err := edge.ReadBody(ctx, 1<<10)
	if err != nil {
		return err
	}
	sum, ok := parseChecksum(b, c.Checksum)
	if !ok {
		return fault.Newf(op, fault.Invalid, "%s is not a %s checksum", c.FileName()+"."+c.Checksum, c.Checksum)
	}
	bctx := edge.Context(ctx)
	f, v, err := h.hostedFile(bctx, c.Target)
	if err == nil && !hostedGroup {
		// Released groupId: its files are not served any more.
		err = fault.New(op, fault.NotFound, "not hosted")
	}
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.Invalid, "%s is not deployed: deploy it before its checksum", c.FileName())
	}
	if err != nil {
		return err
	}
	have := fileHash(f, c.Checksum)
	if sum == have {
		ctx.SetStatusCode(fasthttp.StatusCreated)
		return nil
	}
	if v.PublishedBy == p.UserID && time.Since(v.PublishedAt) < h.opts.WithdrawWindow {
		if _, err := h.r.Catalog.DeleteVersion(bctx, Protocol, v.Package, v.Version); err != nil {
			return err
		}
		if _, err := h.r.Catalog.Touch(bctx, Protocol, v.Package); err != nil {
			h.r.Log.Warn("maven: package serial not bumped", "package", v.Package, "err", err)
		}
		h.r.Record(ctx, "maven.withdraw", v.Package+":"+v.Version, v.OrgID, "success", "checksum mismatch")
		return fault.Newf(op, fault.Invalid, "checksum mismatch: %s's %s is %s, the uploaded one %s; the file was corrupted in transit and has been withdrawn", c.FileName(), c.Checksum, have, sum)
	}
	return fault.Newf(op, fault.Invalid, "checksum mismatch: %s's %s is %s, not %s", c.FileName(), c.Checksum, have, sum)
}

// putMetadata reconciles a client's maven-metadata.xml with the store and
// sets it aside: the server serves the document it generates.
func (h *Handler) putMetadata(ctx *fasthttp.RequestCtx, c Coords) error {
	b, err := edge.ReadBody(ctx, h.opts.MaxDocument)
	if err != nil {
		return err
	}
	d, err := parseMetadata(b)
	if err != nil {
		return err
	}
	n := len(c.Dirs)
	switch {
	case n >= 3 && IsSnapshot(c.Dirs[n-1]) && d.Version != "" && d.ArtifactID == c.Dirs[n-2]:
		group, artifact, version := strings.Join(c.Dirs[:n-2], "."), c.Dirs[n-2], c.Dirs[n-1]
		files, err := h.storedFiles(edge.Context(ctx), group+":"+artifact)
		if err != nil {
			return err
		}
		err = Reconcile(b, group, artifact, version, files)
		if err != nil {
			return err
		}
	case d.ArtifactID == "" && d.Plugins != nil:
		// Group-level metadata (plugin prefixes) is accepted and not
		// served: builds name hosted plugins by their coordinates.
	case n >= 2:
		group, artifact := strings.Join(c.Dirs[:n-1], "."), c.Dirs[n-1]
		files, err := h.storedFiles(edge.Context(ctx), group+":"+artifact)
		if err != nil {
			return err
		}
		if err := Reconcile(b, group, artifact, "", files); err != nil {
			return err
		}
	default:
		return fault.New("maven.putMetadata", fault.Invalid, "maven-metadata.xml at this path names no artifact")
	}
	ctx.SetStatusCode(fasthttp.StatusCreated)
	return nil
}

// hostedFile returns the stored file at path and its catalog version.
// Withdrawn files are NotFound.
func (h *Handler) hostedFile(ctx context.Context, path string) (hosted.File, hosted.Version, error) {
	const op = "maven.hostedFile"
	ref, err := h.r.Catalog.File(ctx, Protocol, path)
	if err != nil {
		return hosted.File{}, hosted.Version{}, err
	}
	if ref.Deleted {
		return hosted.File{}, hosted.Version{}, fault.New(op, fault.NotFound, "withdrawn")
	}
	v, err := h.r.Catalog.Version(ctx, Protocol, ref.Package, ref.Version)
	if err != nil {
		return hosted.File{}, hosted.Version{}, err
	}
	if v.Deleted || len(v.Files) != 1 {
		return hosted.File{}, hosted.Version{}, fault.New(op, fault.NotFound, "withdrawn")
	}
	return v.Files[0], v, nil
}

// storedFiles lists the live files of a hosted package, for metadata.
func (h *Handler) storedFiles(ctx context.Context, pkg string) ([]StoredFile, error) {
	vs, err := h.r.Catalog.Versions(ctx, Protocol, pkg, false)
	if err != nil {
		return nil, err
	}
	out := make([]StoredFile, 0, len(vs))
	for _, v := range vs {
		if len(v.Files) != 1 {
			continue
		}
		c, err := Parse(v.Files[0].Name)
		if err != nil || c.Kind != Artifact {
			continue
		}
		out = append(out, StoredFile{
			Version: c.Version, Classifier: c.Classifier, Extension: c.Extension,
			Timestamp: c.Timestamp, Build: c.Build, Uploaded: v.Files[0].UploadedAt,
		})
	}
	return out, nil
}

// serveHosted answers a read of hosted content.
func (h *Handler) serveHosted(ctx *fasthttp.RequestCtx, c Coords) error {
	const op = "maven.serveHosted"
	bctx := edge.Context(ctx)
	if c.Kind == Metadata {
		doc, err := h.hostedMetadata(bctx, c)
		if err != nil {
			return err
		}
		if c.Checksum != "" {
			return serveChecksum(ctx, sumsOf(doc)[c.Checksum])
		}
		return serveDocument(ctx, doc)
	}
	path := c.Target
	if c.Snapshot() && c.Build == 0 {
		// A SNAPSHOT's plain name stands for its newest build.
		p, err := h.newestBuild(bctx, c)
		if err != nil {
			return err
		}
		path = p
	}
	f, _, err := h.hostedFile(bctx, path)
	if fault.Is(err, fault.NotFound) {
		return fault.Newf(op, fault.NotFound, "%s not found", c.Target)
	}
	if err != nil {
		return err
	}
	if c.Checksum != "" {
		return serveChecksum(ctx, fileHash(f, c.Checksum))
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{
		Digest:      blob.Digest(f.Digest),
		ContentType: f.ContentType,
		Immutable:   path == c.Target,
	})
}

// newestBuild finds the path of a SNAPSHOT file's newest timestamped build.
func (h *Handler) newestBuild(ctx context.Context, c Coords) (string, error) {
	files, err := h.storedFiles(ctx, c.Package())
	if err != nil {
		return "", err
	}
	var best StoredFile
	for _, f := range files {
		if f.Version == c.Version && f.Classifier == c.Classifier && f.Extension == c.Extension && (best.Build == 0 || newer(f, best)) {
			best = f
		}
	}
	if best.Build == 0 {
		return "", fault.Newf("maven.newestBuild", fault.NotFound, "%s not found", c.Target)
	}
	name := c.Artifact + "-" + strings.TrimSuffix(c.Version, "SNAPSHOT") + best.Timestamp + "-" + strconv.Itoa(best.Build)
	if best.Classifier != "" {
		name += "-" + best.Classifier
	}
	name += "." + best.Extension
	return strings.Join(c.Dirs, "/") + "/" + name, nil
}

// hostedMetadata generates the maven-metadata.xml a path asks for: at the
// SNAPSHOT version level when the last directory is a SNAPSHOT version
// with files, else at the artifact level. Group-level metadata is not
// kept (NotFound).
func (h *Handler) hostedMetadata(ctx context.Context, c Coords) ([]byte, error) {
	const op = "maven.hostedMetadata"
	n := len(c.Dirs)
	if n >= 3 && IsSnapshot(c.Dirs[n-1]) {
		group, artifact, version := strings.Join(c.Dirs[:n-2], "."), c.Dirs[n-2], c.Dirs[n-1]
		files, err := h.storedFiles(ctx, group+":"+artifact)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if f.Version == version && f.Build > 0 {
				return SnapshotMetadata(group, artifact, version, files), nil
			}
		}
	}
	if n >= 2 {
		group, artifact := strings.Join(c.Dirs[:n-1], "."), c.Dirs[n-1]
		files, err := h.storedFiles(ctx, group+":"+artifact)
		if err != nil {
			return nil, err
		}
		if len(files) > 0 {
			return ArtifactMetadata(group, artifact, files), nil
		}
	}
	return nil, fault.Newf(op, fault.NotFound, "%s not found", c.Target)
}

// serveDocument answers with generated metadata, which changes with every
// deploy: clients must revalidate.
func serveDocument(ctx *fasthttp.RequestCtx, doc []byte) error {
	edge.ServeDocument(ctx, doc, edge.DocOptions{ContentType: "text/xml", CacheControl: "no-cache", ETag: `"` + sumsOf(doc)["sha1"] + `"`})
	return nil
}

// serveChecksum answers a checksum companion: the hex digest alone.
func serveChecksum(ctx *fasthttp.RequestCtx, sum string) error {
	if sum == "" {
		return fault.New("maven.serveChecksum", fault.NotFound, "no such checksum")
	}
	ctx.SetContentType("text/plain")
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(sum))
		ctx.Response.SkipBody = true
		return nil
	}
	ctx.SetBodyString(sum)
	return nil
}
