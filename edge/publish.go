package edge

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// The publish pipeline every protocol's publish runs through, in order:
//
//  1. the body limit: Body refuses a declared Content-Length over
//     MaxUpload before a byte is read, and reads through a limited reader;
//  2. the organization (PublishOrg) and the authorization, before any
//     heavy work: MayPublish when the name is known before the archive
//     (from the URL, or a small header of the body), MayPublishAny when
//     only the archive names it;
//  3. the upload spooled to a local file (NewUpload, Spool), hashed on the
//     way in, never held in memory;
//  4. the protocol's validator and manifest reader over the spooled file,
//     reading archives through edge/archive (entry checks, bounded
//     decompression);
//  5. Accept: ClaimForPublish, the authoritative check, which takes the
//     name on a first publish, then the protocol's last check (a version
//     that exists), then the commit into the blob store — the only way an
//     Upload reaches it, so a refused publish leaves nothing behind;
//  6. the catalog write, the protocol's cache invalidation (Forget and its
//     own), and the audit entry of either outcome (RecordPublish).

// PublishTo picks the organization a publish goes to and the namespace
// it claims: the organization holding the first of namespaces that is
// claimed (so that a member of several publishes a new version without
// choosing), with that claim's namespace and claimed true; else
// PublishOrg(p, named), with namespaces[0]. It authorizes nothing.
func (r *Registry) PublishTo(ctx context.Context, p auth.Principal, protocol, named string, namespaces ...string) (auth.Org, string, bool, error) {
	const op = "edge.PublishTo"
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
// is valid.
func (r *Registry) MayPublish(ctx *fasthttp.RequestCtx, protocol string, org auth.Org, namespace string) error {
	const op = "edge.MayPublish"
	p, err := r.publisher(ctx)
	if err != nil {
		return err
	}
	bg := context.Background()
	cl, ref, claimed, err := r.Hosted(bg, protocol, namespace)
	if err != nil {
		return err
	}
	if claimed {
		if cl.OrgID != org.ID {
			return fault.Newf(op, fault.Conflict, "%s belongs to another organization", namespace)
		}
		_, err := r.MayOpenly(ctx, ref, auth.Write)
		return err
	}
	if err := r.member(bg, p, org); err != nil {
		return err
	}
	repo, err := r.Auth.RepoByName(bg, org.ID, protocol, DefaultRepo)
	switch {
	case fault.Is(err, fault.NotFound):
		_, err = r.MayOpenly(ctx, auth.RepoRef{OrgID: org.ID, Protocol: protocol}, auth.Write)
	case err == nil:
		_, err = r.MayOpenly(ctx, repo.Ref(), auth.Write)
	}
	return err
}

// MayPublishAny is the authorization possible before the body is read
// when only the uploaded archive names the package (a gem): the caller is
// signed in and belongs to an organization, or is a platform admin.
func (r *Registry) MayPublishAny(ctx *fasthttp.RequestCtx) error {
	const op = "edge.MayPublishAny"
	p, err := r.publisher(ctx)
	if err != nil {
		return err
	}
	if p.PlatformAdmin {
		return nil
	}
	ms, _, err := r.Auth.UserOrgs(context.Background(), p.UserID, auth.Page{Limit: 1})
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
		return fault.Newf("edge.MayPublish", fault.Forbidden, "you are not a member of the organization %q", org.Name)
	} else if err != nil {
		return err
	}
	return nil
}

// Upload is a publish's file on local disk, under SpoolDir, hashed as it
// is written: what a validator reads (at offsets, for zips) and what
// Accept copies into the blob store once the publish is accepted. It is
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
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, err)
	}
	u.f = f
	return u, nil
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

// Accept is the end of a publish whose upload is valid: ClaimForPublish
// (which authorizes the write and takes the name on a first publish),
// then check (nil for none: a version that exists is refused only now,
// so that only a writer learns of it), then the upload is copied into
// the blob store, where it becomes visible under its sha256. Any error
// stops it there, with nothing stored. The Upload still needs Close.
func (r *Registry) Accept(ctx *fasthttp.RequestCtx, req ClaimRequest, up *Upload, check func() error) (hosted.Claim, auth.RepoRef, blob.Info, error) {
	cl, ref, err := r.ClaimForPublish(ctx, req)
	if err != nil {
		return cl, ref, blob.Info{}, err
	}
	if check != nil {
		if err := check(); err != nil {
			return cl, ref, blob.Info{}, err
		}
	}
	info, err := up.commit(context.Background(), r.Blobs)
	return cl, ref, info, err
}

// RecordPublish writes the audit entry of a publish's outcome: success
// with detail when err is nil, else failure with what the client was
// told.
func (r *Registry) RecordPublish(ctx *fasthttp.RequestCtx, action, target, orgID string, err error, detail string) {
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
	defer w.Cancel(ctx)
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
