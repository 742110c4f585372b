package edge

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Publish is the publish pipeline every protocol's publish runs through;
// the protocol supplies its format's pieces (PublishSpec) and Publish
// owns their order:
//
//  1. the caller, signed in (anonymous is Unauthorized, in the
//     protocol's words), and the body limit (Body: a declared
//     Content-Length over the limit is refused before a byte is read);
//  2. the coordinates, read from the request before its content (the
//     URL, or a small header of the body: a form's fields, a metadata
//     frame);
//  3. the organization (publishTo) and the authorization, before any
//     heavy work: MayPublish, or, when only the upload names the package
//     (a gem), mayPublishAny before and MayPublish once the spooled
//     upload has given the name;
//  4. the upload spooled to a local file (NewUpload, Spool), hashed on the
//     way in, never held in memory;
//  5. the protocol's validator and manifest reader over the spooled file,
//     reading archives through edge/archive (entry checks, bounded
//     decompression), then its check of what the upload refers to (Refs);
//  6. accept: ClaimForPublish, the authoritative check, which takes the
//     name on a first publish, then the protocol's last check (a version
//     that exists: asked right after step 3 instead when the coordinates
//     name the version, so that a doomed upload is not read), then the
//     commit into the blob store — the only way an Upload reaches it, so
//     a refused publish leaves nothing behind;
//  7. the catalog write (the package on its first publish, then the
//     protocol's record of the version), the cache invalidation (Forget,
//     and the protocol's own: an index document to rebuild), the answer,
//     and the audit entry of either outcome (recordPublish).
//
// A signed-in caller's publish is audited whatever stops it, with what
// is known of it by then. An OCI push runs its manifest through here; its
// blobs, sent before in upload sessions of many requests each, are
// authorized with MayPublish before a byte is read and claimed with
// ClaimForPublish before they become visible.
//
// It returns the error the client is told (after spec.Refused), or
// ErrNoUpload, unaudited, when the request turned out to carry no upload.
func (r *Registry) Publish(ctx *fasthttp.RequestCtx, spec PublishSpec) (err error) {
	const op = "edge.Publish"
	pub := &Publication{}
	if pub.Principal, err = r.Who(ctx); err != nil {
		return err
	}
	if pub.Principal.Anonymous() {
		return fault.New(op, fault.Unauthorized, cmp.Or(spec.SignIn, "authentication required to publish"))
	}
	var up *Upload
	defer func() {
		up.Close()
		if errors.Is(err, ErrNoUpload) {
			return
		}
		if err != nil && spec.Refused != nil {
			err = spec.Refused(pub, err)
		}
		r.recordPublish(ctx, cmp.Or(spec.Action, "package.publish"), pub.target(spec.Protocol), cmp.Or(pub.Claim.OrgID, pub.Org.ID), err, string(pub.Blob.Digest))
	}()
	body, err := Body(ctx, cmp.Or(spec.Limit, r.MaxUpload))
	if err != nil {
		return err // a refused body is drained by the edge
	}
	content, err := spec.Coordinates(pub, body)
	if err != nil {
		return err
	}
	spool := func() (*Upload, error) {
		if spec.Spool != nil {
			return spec.Spool(pub, content)
		}
		return r.Spool(spec.Protocol, content, spec.Hashes...)
	}
	if len(pub.Namespaces) == 0 && spec.Name != nil {
		if err := r.mayPublishAny(ctx); err != nil {
			return err
		}
		if up, err = spool(); err != nil {
			return err
		}
		if err := spec.Name(pub, up); err != nil {
			return err
		}
	}
	if len(pub.Namespaces) > 0 {
		if err := r.authorizePublish(ctx, spec.Protocol, pub); err != nil {
			return err
		}
	}
	check := spec.Check
	if check != nil && pub.Version != "" && pub.Namespace != "" {
		if err := check(Context(ctx), pub); err != nil {
			return err
		}
		check = nil
	}
	if up == nil {
		if up, err = spool(); err != nil {
			return err
		}
		if up == nil {
			return ErrNoUpload
		}
	}
	pub.Upload = up
	if err := spec.Validate(pub); err != nil {
		return err
	}
	if pub.Namespace == "" { // the upload never named its package
		return fault.New(op, fault.Invalid, "the upload does not name the package it holds")
	}
	if spec.Refs != nil {
		if err := spec.Refs(Context(ctx), pub); err != nil {
			return err
		}
	}
	req := ClaimRequest{Protocol: spec.Protocol, Namespace: pub.Namespace, Org: pub.Org, Upstream: pub.Upstream}
	var last func() error
	if check != nil {
		last = func() error { return check(Context(ctx), pub) }
	}
	cl, ref, info, err := r.accept(ctx, req, up, last)
	if err != nil {
		return err
	}
	pub.Claim, pub.Blob, pub.RepoID = cl, info, cmp.Or(ref.ID, cl.RepoID)
	bg := Context(ctx)
	if pub.Package, pub.Created, err = r.ensurePackage(bg, spec.Protocol, spec.Package(pub), pub); err != nil {
		return err
	}
	if err := spec.Record(bg, pub); err != nil {
		return err
	}
	r.Forget(spec.Protocol, pub.Namespace)
	if spec.Changed != nil {
		spec.Changed(pub)
	}
	return spec.Respond(ctx, pub)
}

// ErrNoUpload is Publish's answer to a request that carries no upload
// after all (PublishSpec.Spool found none): nothing was stored or
// audited, and the protocol answers the request otherwise (npm's PUT of
// a document without attachments changes deprecation messages).
var ErrNoUpload = errors.New("edge: the request carries no upload")

// PublishSpec is a protocol's part in a publish (Registry.Publish): its
// format's pieces, each called at most once, in the pipeline's order.
// The pieces share the request's Publication, and a protocol keeps what
// its pieces learn (a parsed manifest) in the value they are methods of.
type PublishSpec struct {
	Protocol string
	// Action is the audit action of the publish; "" is "package.publish".
	Action string
	// SignIn is the Unauthorized message for an anonymous caller: how to
	// sign in with the protocol's client.
	SignIn string
	// Limit bounds the request body (0: MaxUpload).
	Limit int64
	// Hashes are the algorithms the upload is hashed with besides sha256
	// (blob's names), for the default Spool.
	Hashes []string

	// Coordinates reads what is published from the request before its
	// content: the URL, or a small header of body. It sets Name (and
	// Version, File, when known), Named, Namespaces and Upstream, and
	// returns the content to spool (body, or what follows the header).
	// No Namespaces means only the upload names the package: see Name.
	Coordinates func(pub *Publication, body io.Reader) (io.Reader, error)
	// Name, when Coordinates set no Namespaces, reads them (and Name)
	// from the spooled upload: a gem names itself in its first entry.
	Name func(pub *Publication, up *Upload) error
	// Spool copies the content into an Upload; nil is Registry.Spool with
	// Hashes. A nil Upload without an error means the request carries no
	// upload (ErrNoUpload).
	Spool func(pub *Publication, content io.Reader) (*Upload, error)
	// Validate is the protocol's validator and manifest reader over the
	// spooled pub.Upload: pure (no store), reading archives through
	// edge/archive. It may set Version and File.
	Validate func(pub *Publication) error
	// Refs, nil for none, checks against the store what the validated
	// upload refers to, before anything is claimed, so that a refusal
	// claims nothing: the blobs and child manifests an OCI manifest names,
	// pushed before it.
	Refs func(ctx context.Context, pub *Publication) error
	// Check is the protocol's last check once the write is authorized,
	// nil for none: a version that exists, told only to a writer. It is
	// asked before the content is read when Coordinates set Version,
	// else after ClaimForPublish, before the commit.
	Check func(ctx context.Context, pub *Publication) error
	// Package is the catalog's record of the package as a first publish
	// creates it (Name, DisplayName, Description: the pipeline sets the
	// protocol, the organization and the repository); the pipeline reads
	// the package, or creates it, into pub.Package before Record.
	Package func(pub *Publication) hosted.Package
	// Record writes the catalog records of the accepted publish: the
	// version, and what the package's record keeps of it.
	Record func(ctx context.Context, pub *Publication) error
	// Changed, nil for none, drops what the protocol derived from the
	// catalog and holds in memory (an index document to rebuild).
	Changed func(pub *Publication)
	// Respond writes the success answer.
	Respond func(ctx *fasthttp.RequestCtx, pub *Publication) error
	// Refused, nil for none, words a refusal in the protocol's terms
	// before it is audited and returned.
	Refused func(pub *Publication, err error) error
}

// Publication is one publish on its way through Registry.Publish: what
// the protocol's pieces say of it, and what the pipeline has established.
type Publication struct {
	// Name, Version and File say what is published: the audit target
	// "<protocol>:<name>[@<version>][/<file>]". The protocol's pieces set
	// them as they learn them.
	Name, Version, File string
	// Named is the organization the request names (an npm scope, a
	// Composer vendor), "" for none.
	Named string
	// Namespaces are where a claim is looked for, most specific first; a
	// first publish claims Namespaces[0] (publishTo).
	Namespaces []string
	// Upstream is ClaimRequest.Upstream, nil for none.
	Upstream func(ctx context.Context, spelling string) (bool, error)

	Principal auth.Principal // the signed-in caller
	Org       auth.Org       // the organization published to (publishTo)
	Namespace string         // the namespace claimed, or to claim
	Claimed   bool           // whether Namespace was claimed before this publish
	Upload    *Upload        // the spooled upload, closed by Publish
	// Set once the publish is accepted: the claim in force, the
	// repository the package goes to, the blob stored.
	Claim  hosted.Claim
	RepoID string
	Blob   blob.Info
	// Package is the catalog's package, read or created (Created) by
	// the pipeline once the publish is accepted.
	Package hosted.Package
	Created bool
}

// ensurePackage returns the catalog's package first names, creating it
// (with pub's organization and repository) when this is its first
// publish; created reports whether this call did. A racing first publish
// that created it meanwhile is read back.
func (r *Registry) ensurePackage(ctx context.Context, protocol string, first hosted.Package, pub *Publication) (hosted.Package, bool, error) {
	pkg, err := r.Catalog.Package(ctx, protocol, first.Name)
	if !fault.Is(err, fault.NotFound) {
		return pkg, false, err
	}
	first.Protocol, first.OrgID, first.RepoID = protocol, pub.Claim.OrgID, pub.RepoID
	pkg, err = r.Catalog.CreatePackage(ctx, first)
	if fault.Is(err, fault.Conflict) {
		pkg, err = r.Catalog.Package(ctx, protocol, first.Name)
		return pkg, false, err
	}
	return pkg, err == nil, err
}

// target is the publish's audit target.
func (p *Publication) target(protocol string) string {
	t := protocol + ":" + p.Name
	if p.Version != "" {
		t += "@" + p.Version
	}
	if p.File != "" {
		t += "/" + p.File
	}
	return t
}

// authorizePublish picks the organization of pub (publishTo) and
// authorizes the write before the body is read (MayPublish).
func (r *Registry) authorizePublish(ctx *fasthttp.RequestCtx, protocol string, pub *Publication) error {
	org, ns, claimed, err := r.publishTo(Context(ctx), pub.Principal, protocol, pub.Named, pub.Namespaces...)
	if err != nil {
		return err
	}
	pub.Org, pub.Namespace, pub.Claimed = org, ns, claimed
	return r.MayPublish(ctx, protocol, org, ns)
}

// publishTo picks the organization a publish goes to and the namespace
// it claims: the organization holding the first of namespaces that is
// claimed (so that a member of several publishes a new version without
// choosing), with that claim's namespace and claimed true; else
// PublishOrg(p, named), with namespaces[0]. It authorizes nothing.
func (r *Registry) publishTo(ctx context.Context, p auth.Principal, protocol, named string, namespaces ...string) (auth.Org, string, bool, error) {
	const op = "edge.publishTo"
	cl, _, claimed, err := r.Hosted(ctx, protocol, namespaces...)
	if err != nil {
		return auth.Org{}, "", false, fault.Op(op, err)
	}
	if claimed {
		org, err := r.Auth.GetOrg(ctx, cl.OrgID)
		return org, cl.Namespace, true, fault.Op(op, err)
	}
	org, err := r.PublishOrg(ctx, p, named)
	return org, namespaces[0], false, err
}

// MayPublish authorizes a publish to org under namespace (as the protocol
// compares names) before its body is read, so that a caller without the
// write is refused cheaply: the write on the repository of namespace's
// claim, or, for a name nobody holds, membership of org and the write on
// its repository for protocol. A claim held by another organization is a
// Conflict. ClaimForPublish checks again, authoritatively, once the upload
// is valid: both are mayWrite. Publish calls it; a protocol whose upload
// does not run through Publish (OCI's push, chunk by chunk) calls it before
// it reads a chunk, and ClaimForPublish right before its commit.
func (r *Registry) MayPublish(ctx *fasthttp.RequestCtx, protocol string, org auth.Org, namespace string) error {
	_, err := r.mayWrite(ctx, protocol, org, namespace)
	return err
}

// writeAccess is what mayWrite found: the claim in force on the
// namespace (claimed), else the organization's repository for the
// protocol (a zero repo when it does not exist yet).
type writeAccess struct {
	p       auth.Principal
	claim   hosted.Claim
	ref     auth.RepoRef
	claimed bool
	repo    auth.Repository
}

// mayWrite is the authorization of a publish of namespace to org, the one
// MayPublish and ClaimForPublish share: the caller is signed in; a
// namespace another organization holds is a Conflict; a claimed one needs
// the write on its claim's repository; an unclaimed one needs membership
// of org (or a platform admin) and the write on org's repository for the
// protocol, or, while that does not exist, the write anywhere in org
// (its owners and admins), so that a refused publish creates nothing.
func (r *Registry) mayWrite(ctx *fasthttp.RequestCtx, protocol string, org auth.Org, namespace string) (writeAccess, error) {
	const op = "edge.mayPublish"
	var a writeAccess
	p, err := r.publisher(ctx)
	if err != nil {
		return a, err
	}
	a.p = p
	bg := Context(ctx)
	if a.claim, a.ref, a.claimed, err = r.Hosted(bg, protocol, namespace); err != nil {
		return a, err
	}
	if a.claimed {
		if a.claim.OrgID != org.ID {
			return a, fault.Newf(op, fault.Conflict, "%s belongs to another organization", namespace)
		}
		_, err := r.MayOpenly(ctx, a.ref, auth.Write)
		return a, err
	}
	if err := r.member(bg, p, org); err != nil {
		return a, err
	}
	a.repo, err = r.Auth.RepoByName(bg, org.ID, protocol, DefaultRepo)
	switch {
	case fault.Is(err, fault.NotFound):
		a.repo = auth.Repository{}
		_, err = r.MayOpenly(ctx, auth.RepoRef{OrgID: org.ID, Protocol: protocol}, auth.Write)
	case err == nil:
		_, err = r.MayOpenly(ctx, a.repo.Ref(), auth.Write)
	}
	return a, err
}

// mayPublishAny is the authorization possible before the body is read
// when only the uploaded archive names the package (a gem): the caller is
// signed in and belongs to an organization, or is a platform admin.
func (r *Registry) mayPublishAny(ctx *fasthttp.RequestCtx) error {
	const op = "edge.mayPublishAny"
	p, err := r.publisher(ctx)
	if err != nil {
		return err
	}
	if p.PlatformAdmin {
		return nil
	}
	ms, _, err := r.Auth.UserOrgs(Context(ctx), p.UserID, auth.Page{Limit: 1})
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return fault.New(op, fault.Forbidden, "you belong to no organization: create one or ask to be added to one before publishing")
	}
	return nil
}

// publisher is the signed-in caller of a publish; anonymous is
// Unauthorized.
func (r *Registry) publisher(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	p, err := r.Who(ctx)
	if err == nil && p.Anonymous() {
		err = fault.New("edge.publish", fault.Unauthorized, "authentication required to publish")
	}
	return p, err
}

// member refuses a caller who is neither a member of org nor a platform
// admin.
func (r *Registry) member(ctx context.Context, p auth.Principal, org auth.Org) error {
	if p.PlatformAdmin {
		return nil
	}
	if _, err := r.Auth.OrgMember(ctx, org.ID, p.UserID); fault.Is(err, fault.NotFound) {
		return fault.Newf("edge.mayPublish", fault.Forbidden, "you are not a member of the organization %q", org.Name)
	} else if err != nil {
		return err
	}
	return nil
}

// Upload is a publish's file on local disk, under SpoolDir, hashed as it
// is written: what a validator reads (at offsets, for zips) and what
// accept copies into the blob store once the publish is accepted. It is
// not safe for concurrent use; Close removes the file, so `defer
// u.Close()` is the idiom, and a refused publish leaves nothing.
type Upload struct {
	f      *os.File
	size   int64
	hashes []hash.Hash // sha256 first
	algs   []string
}

// NewUpload starts an empty Upload of protocol, hashed with sha256 and
// algs (blob's algorithm names; unknown ones are ignored). Its file lives
// in SpoolDir/<protocol>.
func (r *Registry) NewUpload(protocol string, algs ...string) (*Upload, error) {
	const op = "edge.NewUpload"
	u := &Upload{hashes: []hash.Hash{sha256.New()}, algs: []string{blob.SHA256}}
	for _, a := range algs {
		if h := blob.NewHash(a); h != nil && !slices.Contains(u.algs, a) {
			u.hashes, u.algs = append(u.hashes, h), append(u.algs, a)
		}
	}
	dir := filepath.Join(r.SpoolDir, protocol)
	if r.SpoolDir == "" {
		dir = filepath.Join(os.TempDir(), "entrepot-"+protocol)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, err)
	}
	f, err := os.CreateTemp(dir, spoolPrefix+"*")
	if err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, err)
	}
	u.f = f
	return u, nil
}

// spoolPrefix starts the name of every Upload's file, so that SweepSpool
// tells them from other data under SpoolDir (the spool files of OCI upload
// sessions of earlier versions, which OCI's sweep removes).
const spoolPrefix = "upload-"

// SweepSpool removes the files of Uploads last modified before cutoff,
// in every protocol's folder under SpoolDir, and returns how many: what
// a process that died mid-publish left behind (Close removes the file of
// every publish that ends). Other files there are left alone. Safe
// while serving with a cutoff older than the longest upload
// (UploadTimeout).
func (r *Registry) SweepSpool(cutoff time.Time) (int, error) {
	if r.SpoolDir == "" {
		return 0, nil
	}
	dirs, err := os.ReadDir(r.SpoolDir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fault.Wrap("edge.SweepSpool", fault.Unavailable, err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(r.SpoolDir, d.Name())
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			if !f.Type().IsRegular() || !strings.HasPrefix(f.Name(), spoolPrefix) {
				continue
			}
			if fi, err := f.Info(); err == nil && fi.ModTime().Before(cutoff) && os.Remove(filepath.Join(dir, f.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

// Spool copies src into a new Upload of protocol (see NewUpload). A read error is
// Invalid ("did not arrive whole") unless it has a kind (TooLarge from
// Body's limit); on any error nothing remains.
func (r *Registry) Spool(protocol string, src io.Reader, algs ...string) (*Upload, error) {
	u, err := r.NewUpload(protocol, algs...)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(u, src); err != nil {
		u.Close()
		if k := fault.KindOf(err); k != fault.Internal {
			return nil, err
		}
		return nil, fault.WrapMsg("edge.Spool", fault.Invalid, "the upload did not arrive whole", err)
	}
	return u, nil
}

// Write appends p to the file and the hashes.
func (u *Upload) Write(p []byte) (int, error) {
	n, err := u.f.Write(p)
	for _, h := range u.hashes {
		h.Write(p[:n])
	}
	u.size += int64(n)
	if err != nil {
		return n, fault.Wrap("edge.Upload", fault.Unavailable, err)
	}
	return n, nil
}

// Size is the number of bytes written.
func (u *Upload) Size() int64 { return u.size }

// Sum returns the digest of what was written with algorithm alg, "" when
// the Upload does not hash with it.
func (u *Upload) Sum(alg string) blob.Digest {
	if i := slices.Index(u.algs, alg); i >= 0 {
		return blob.NewDigest(alg, u.hashes[i].Sum(nil))
	}
	return ""
}

// Hashes returns the hex digests of what was written, by algorithm, as
// hosted.File keeps them.
func (u *Upload) Hashes() map[string]string {
	out := make(map[string]string, len(u.algs))
	for _, a := range u.algs {
		out[a] = u.Sum(a).Hex()
	}
	return out
}

// Verify compares what was written with want: a digest of an algorithm
// not hashed, or a mismatch, is Invalid, with msg as the message.
func (u *Upload) Verify(msg string, want ...blob.Digest) error {
	for _, w := range want {
		if u.Sum(w.Algorithm()) != w {
			return fault.New("edge.Upload.Verify", fault.Invalid, msg)
		}
	}
	return nil
}

// Reader reads the file from its start; each call returns a new reader.
func (u *Upload) Reader() io.Reader { return io.NewSectionReader(u.f, 0, u.size) }

// ReaderAt reads the file at offsets (archive/zip needs it).
func (u *Upload) ReaderAt() io.ReaderAt { return u.f }

// accept is the end of a publish whose upload is valid: ClaimForPublish
// (which authorizes the write and takes the name on a first publish),
// then check (nil for none: a version that exists is refused only now,
// so that only a writer learns of it), then the organization's quota
// (Quota: TooLarge, 413 in every protocol's format), then the upload is copied into
// the blob store, where it becomes visible under its sha256. Any error
// stops it there, with nothing stored. The Upload still needs Close.
func (r *Registry) accept(ctx *fasthttp.RequestCtx, req ClaimRequest, up *Upload, check func() error) (hosted.Claim, auth.RepoRef, blob.Info, error) {
	cl, ref, err := r.ClaimForPublish(ctx, req)
	if err != nil {
		return cl, ref, blob.Info{}, err
	}
	if check != nil {
		if err := check(); err != nil {
			return cl, ref, blob.Info{}, err
		}
	}
	if r.Quota != nil {
		if err := r.Quota.Allow(Context(ctx), cl.OrgID, up.Size()); err != nil {
			return cl, ref, blob.Info{}, err
		}
	}
	info, err := up.commit(Context(ctx), r.Blobs)
	return cl, ref, info, err
}

// recordPublish writes the audit entry of a publish's outcome: success
// with detail when err is nil, else failure with what the client was
// told.
func (r *Registry) recordPublish(ctx *fasthttp.RequestCtx, action, target, orgID string, err error, detail string) {
	outcome := "success"
	if err != nil {
		outcome, detail = "failure", ClientMessage(err, RequestID(ctx))
	}
	r.Record(ctx, action, target, orgID, outcome, detail)
}

// commit copies the file into blobs, where it becomes visible.
func (u *Upload) commit(ctx context.Context, blobs blob.Store) (blob.Info, error) {
	const op = "edge.Upload.commit"
	w, err := blobs.Create(ctx, u.Sum(blob.SHA256))
	if err != nil {
		return blob.Info{}, fault.Op(op, err)
	}
	defer w.Cancel(context.WithoutCancel(ctx)) // a no-op after Commit; past the deadline too
	if _, err := io.Copy(w, u.Reader()); err != nil {
		return blob.Info{}, fault.Op(op, err)
	}
	info, err := w.Commit(ctx)
	return info, fault.Op(op, err)
}

// Close removes the file. It is safe to call more than once, and on nil.
func (u *Upload) Close() error {
	if u == nil || u.f == nil {
		return nil
	}
	u.f.Close()
	err := os.Remove(u.f.Name())
	u.f = nil
	return err
}
