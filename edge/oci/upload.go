package oci

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	mirrorkit "entrepot/edge/mirror"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Upload sessions are shared by every edge of one metadata store and blob
// store, so that any edge takes any request of a session, whichever
// started it (behind a load balancer without sticky sessions). A session
// is a record in the metadata store (oci_uploads) that lists the chunks
// received so far, in order; each chunk's bytes are a scratch object of
// the blob store (blob.Scratch: files under the data directory, or objects
// in the bucket), named by the session and the chunk's offset
// (chunkObject). A PATCH stores its chunk whole first, then appends it to
// the record by compare-and-swap on the record's revision: of two chunks
// racing for one offset, on one edge or two, one is appended and the other
// is refused with the 416 the spec gives an out-of-order chunk (and its
// object deleted). So the record's Size, which the status GET and every
// Range header report, counts exactly the bytes any edge can complete,
// and a session survives the edge that took its last chunk. The final PUT
// streams the chunks, then its own body, into a blob writer that verifies
// the digest before the blob becomes visible, and only then links it and
// deletes the record and the chunks: an edge that dies meanwhile leaves
// the session to be finished by the client's retry on another edge, or
// swept once it expires (Sweep, which any edge may run). Nothing is held
// in memory.

// maxChunks bounds the chunks of one session, so that its record stays
// small (S3's multipart uploads stop at the same figure).
const maxChunks = 10000

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// chunkPrefix is where the chunk objects of session id live; chunkObject
// the one place that names a chunk: by offset, and a nonce, so that two
// chunks racing for one offset never overwrite each other's bytes.
func chunkPrefix(id string) string { return chunksRoot + id + "/" }

const chunksRoot = "oci-uploads/"

func chunkObject(id string, offset int64) string {
	return fmt.Sprintf("%s%020d-%s", chunkPrefix(id), offset, newID()[:8])
}

// startUpload answers POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=&from=), a monolithic upload (?digest=), or a new session.
// A push into a namespace nothing claims yet is authorized here, before a
// byte is read or stored (mayPush), so that a refused push leaves nothing.
func (h *Handler) startUpload(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Write)
	if err != nil {
		return err
	}
	if err := h.mayPush(ctx, t); err != nil {
		return err
	}
	bg := edge.Context(ctx)
	args := ctx.QueryArgs()
	if m := args.Peek("mount"); len(m) > 0 {
		d, err := ParseDigest(string(m))
		mounted := false
		if err == nil {
			if mounted, err = h.mount(ctx, &t, d, string(args.Peek("from"))); err != nil {
				return err
			}
		}
		if mounted {
			return h.created(ctx, c.Name, d)
		}
		// Not mounted: the client gets a session and pushes the blob.
	} else if dv := args.Peek("digest"); len(dv) > 0 {
		d, err := ParseDigest(string(dv))
		if err != nil {
			return err
		}
		body, err := edge.Body(ctx, h.opts.MaxBlobSize)
		if err != nil {
			return bodyError(err)
		}
		if err := h.commit(ctx, t, d, nil, exact(body, int64(ctx.Request.Header.ContentLength()))); err != nil {
			return err
		}
		return h.created(ctx, c.Name, d)
	}
	if h.scratch == nil {
		return fault.New("oci.startUpload", fault.Unavailable, "the blob store keeps no upload sessions")
	}
	now := time.Now().UTC()
	rec := uploadRec{ID: newID(), Repo: c.Name, Shared: true, CreatedAt: now, UpdatedAt: now}
	if err := createUpload(bg, h, rec); err != nil {
		return err
	}
	h.sessionHeaders(ctx, rec)
	ctx.Response.Header.Set("OCI-Chunk-Min-Length", strconv.FormatInt(h.opts.ChunkMinLength, 10))
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	return nil
}

// mount links blob d of repository from into t when the caller may read
// it there; false sends the client on to a normal upload (a blob the
// caller cannot read is just not mounted, never an error). The link is a
// push: into a namespace nothing claims yet, it claims it first, and a
// refused claim is the error.
func (h *Handler) mount(ctx *fasthttp.RequestCtx, t *target, d blob.Digest, from string) (bool, error) {
	bg := edge.Context(ctx)
	if _, err := h.link(bg, t.name, d); err == nil {
		return true, nil // already there
	}
	if from == "" || !ValidName(from) {
		return false, nil
	}
	p, err := h.who(ctx)
	if err != nil {
		return false, nil
	}
	ft, found, err := h.locate(bg, p, from, false)
	if err != nil || !found {
		return false, nil
	}
	var l linkRec
	if ft.mirror != nil {
		e, ok := h.r.Cache.Peek(bg, mirrorkit.OCIBlob(d))
		if !ok || e.Negative {
			return false, nil
		}
		if _, err := h.r.MayMirror(ctx, "oci"); err != nil {
			return false, nil
		}
		l = linkRec{Digest: d, Blob: e.Digest, Size: e.Size}
	} else {
		if h.r.Auth.Authorize(bg, p, ft.ref, auth.Read) != nil {
			return false, nil
		}
		if l, err = h.link(bg, from, d); err != nil {
			return false, nil
		}
	}
	if _, err := h.r.Blobs.Stat(bg, l.Blob); err != nil {
		return false, nil
	}
	if err := h.claim(ctx, t); err != nil {
		return false, err
	}
	l.Repo = t.name
	return h.saveLink(bg, l) == nil, nil
}

// commit streams the chunks of u (nil: none) and then body into the blob
// store under d, and links the blob into t's repository. The bytes are
// checked against d first, then the namespace is claimed when nothing
// claims it yet (claim: authorized before the upload by mayPush), and only
// then does the blob become visible: a short body, a digest mismatch or a
// refused claim leaves neither a blob nor a claim behind.
func (h *Handler) commit(ctx *fasthttp.RequestCtx, t target, d blob.Digest, u *uploadRec, body io.Reader) error {
	const op = "oci.commit"
	bg := edge.Context(ctx)
	w, err := h.r.Blobs.Create(bg, d)
	if err != nil {
		return fault.Op(op, err)
	}
	defer w.Cancel(bg)
	if u != nil {
		for _, ch := range u.Chunks {
			if err := h.copyChunk(bg, w, u.ID, ch); err != nil {
				return err
			}
		}
	}
	if _, err := io.Copy(w, body); err != nil {
		return bodyError(err)
	}
	if !slices.Contains(w.Sums(), d) {
		return errf(codeDigestInvalid, fault.Invalid, op, "the uploaded bytes do not match %s", d)
	}
	if err := h.claim(ctx, &t); err != nil {
		return err
	}
	info, err := w.Commit(bg)
	if fault.Is(err, fault.Conflict) {
		return withCode(codeDigestInvalid, fault.WrapMsg(op, fault.Invalid, "the uploaded bytes do not match "+string(d), err))
	}
	if err != nil {
		return fault.Op(op, err)
	}
	return h.saveLink(bg, linkRec{Repo: t.name, Digest: d, Blob: info.Digest, Size: info.Size})
}

// errNoPromote: the upload is not one chunk of the digest announced.
var errNoPromote = errors.New("oci: the upload cannot be promoted")

// promote makes the only chunk of an upload, whose sha256 was taken on
// its way in and is d, the blob d without copying its bytes again (the
// single streamed PATCH of docker, podman and skopeo), once the namespace
// is claimed, and links it into t's repository. Unavailable when the
// store cannot: the caller then copies the chunk (commit).
func (h *Handler) promote(ctx *fasthttp.RequestCtx, t target, d blob.Digest, ch chunkRec) error {
	if err := h.claim(ctx, &t); err != nil {
		return err
	}
	bg := edge.Context(ctx)
	info, err := h.scratch.PromoteScratch(bg, ch.Object, d)
	if fault.Is(err, fault.NotFound) {
		return errf(codeBlobUploadUnknown, fault.NotFound, "oci.promote", "upload of %s has expired", d)
	}
	if err != nil {
		return fault.Op("oci.promote", err)
	}
	return h.saveLink(bg, linkRec{Repo: t.name, Digest: d, Blob: info.Digest, Size: info.Size})
}

// copyChunk copies one stored chunk of session id into w.
func (h *Handler) copyChunk(ctx context.Context, w io.Writer, id string, ch chunkRec) error {
	const op = "oci.copyChunk"
	rc, err := h.scratch.OpenScratch(ctx, ch.Object)
	if fault.Is(err, fault.NotFound) {
		return errf(codeBlobUploadUnknown, fault.NotFound, op, "upload %s has expired", id)
	}
	if err != nil {
		return fault.Op(op, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, rc)
	if err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	if n != ch.Size {
		return fault.Newf(op, fault.Internal, "chunk %s holds %d bytes, not %d", ch.Object, n, ch.Size)
	}
	return nil
}

// bodyError classifies a failure reading a request body: over the limit,
// or cut short.
func bodyError(err error) error {
	if fault.Is(err, fault.TooLarge) {
		return edge.WithStatus(fasthttp.StatusRequestEntityTooLarge, withCode(codeSizeInvalid, err))
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return err
	}
	if fault.Is(err, fault.Unavailable) { // the store's, not the body's
		return err
	}
	return withCode(codeBlobUploadInvalid, fault.WrapMsg("oci.body", fault.Invalid, "the upload was cut short", err))
}

// exact reads r and fails at its end unless it gave want bytes (want < 0:
// any number), so that a store reading it to the end keeps nothing of a
// body that was cut short or overlong.
func exact(r io.Reader, want int64) io.Reader {
	if want < 0 {
		return r
	}
	return &exactReader{r: r, left: want, want: want}
}

type exactReader struct {
	r          io.Reader
	left, want int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left < 0:
		return n, errf(codeBlobUploadInvalid, fault.Invalid, "oci.exact", "the body is longer than the %d bytes announced", e.want)
	case err == io.EOF && e.left > 0:
		return n, errf(codeBlobUploadInvalid, fault.Invalid, "oci.exact", "received %d bytes of %d", e.want-e.left, e.want)
	}
	return n, err
}

func (h *Handler) created(ctx *fasthttp.RequestCtx, name string, d blob.Digest) error {
	ctx.Response.Header.Set("Location", "/v2/"+name+"/blobs/"+string(d))
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.SetStatusCode(fasthttp.StatusCreated)
	return nil
}

// sessionHeaders writes Location, Range and the session id.
func (h *Handler) sessionHeaders(ctx *fasthttp.RequestCtx, u uploadRec) {
	hd := &ctx.Response.Header
	hd.Set("Location", "/v2/"+u.Repo+"/blobs/uploads/"+u.ID)
	hd.Set("Range", "0-"+strconv.FormatInt(max(u.Size-1, 0), 10))
	hd.Set("Docker-Upload-UUID", u.ID)
	hd.SetContentLength(0)
}

// session loads upload c.Upload of repository c.Name. A session written
// by a version of this server that kept its bytes on one edge's disk
// cannot be completed anywhere: it is unknown.
func (h *Handler) session(ctx *fasthttp.RequestCtx, c Coord) (uploadRec, error) {
	u, err := h.upload(edge.Context(ctx), c.Upload)
	if fault.Is(err, fault.NotFound) || err == nil && (u.Repo != c.Name || !u.Shared) {
		return uploadRec{}, errf(codeBlobUploadUnknown, fault.NotFound, "oci.session", "upload %s is not known", c.Upload)
	}
	return u, err
}

// uploadStatus answers GET /v2/<name>/blobs/uploads/<id>: 204 with the
// Range received, which any edge can complete.
func (h *Handler) uploadStatus(ctx *fasthttp.RequestCtx, c Coord) error {
	if _, err := h.resolve(ctx, c.Name, auth.Write); err != nil {
		return err
	}
	u, err := h.session(ctx, c)
	if err != nil {
		return err
	}
	h.sessionHeaders(ctx, u)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// patchUpload answers PATCH /v2/<name>/blobs/uploads/<id>: a chunk with
// Content-Range (which must start where the session is: 416 otherwise),
// or the whole stream without it (docker, podman).
func (h *Handler) patchUpload(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Write)
	if err != nil {
		return err
	}
	if err := h.mayPush(ctx, t); err != nil {
		return err
	}
	u, err := h.session(ctx, c)
	if err != nil {
		return err
	}
	if u, err = h.appendChunk(ctx, u); err != nil {
		return err
	}
	h.sessionHeaders(ctx, u)
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	return nil
}

// chunkLength checks the request's Content-Range against u: it must start
// where u ends (416 with u's Range otherwise). It returns the length the
// body must have, -1 when nothing says.
func (h *Handler) chunkLength(ctx *fasthttp.RequestCtx, u uploadRec) (int64, error) {
	const op = "oci.chunkLength"
	cl := int64(ctx.Request.Header.ContentLength())
	cr := ctx.Request.Header.Peek("Content-Range")
	if len(cr) == 0 {
		return max(cl, -1), nil
	}
	start, end, ok := parseContentRange(string(cr))
	if !ok || start != u.Size {
		return 0, h.outOfRange(ctx, u, errf(codeRangeInvalid, fault.Invalid, op, "chunk %s does not start at %d, the end of what was received", clip(string(cr)), u.Size))
	}
	want := end - start + 1
	if cl >= 0 && cl != want {
		return 0, errf(codeBlobUploadInvalid, fault.Invalid, op, "Content-Range %s does not match Content-Length %d", clip(string(cr)), cl)
	}
	return want, nil
}

// outOfRange is the spec's answer to a chunk that does not start where
// the session is: 416, with the session's headers saying where it is.
func (h *Handler) outOfRange(ctx *fasthttp.RequestCtx, u uploadRec, err error) error {
	h.sessionHeaders(ctx, u)
	return edge.WithStatus(fasthttp.StatusRequestedRangeNotSatisfiable, err)
}

// errMoved stops appendChunk's update when another chunk got in first.
var errMoved = errors.New("oci: the session moved")

// appendChunk stores the request body as the session's next chunk and
// appends it to the record. A body that fails part-way, or a chunk that
// another one beat to its offset, leaves the session as it was.
func (h *Handler) appendChunk(ctx *fasthttp.RequestCtx, u uploadRec) (uploadRec, error) {
	const op = "oci.appendChunk"
	want, err := h.chunkLength(ctx, u)
	if err != nil || want == 0 {
		return u, err
	}
	if len(u.Chunks) >= maxChunks {
		return u, errf(codeBlobUploadInvalid, fault.Invalid, op, "upload %s has %d chunks, the most a session takes: send larger ones", u.ID, maxChunks)
	}
	body, err := edge.Body(ctx, h.opts.MaxBlobSize-u.Size)
	if err != nil {
		return u, bodyError(err)
	}
	bg := edge.Context(ctx)
	start := u.Size
	ch := chunkRec{Object: chunkObject(u.ID, start)}
	src := exact(body, want)
	var sum hash.Hash
	if start == 0 { // perhaps the whole blob, streamed in one PATCH
		sum = sha256.New()
		src = io.TeeReader(src, sum)
	}
	if ch.Size, err = h.scratch.PutScratch(bg, ch.Object, src); err != nil {
		return u, bodyError(err)
	}
	if sum != nil {
		ch.SHA256 = blob.NewDigest(blob.SHA256, sum.Sum(nil))
	}
	if ch.Size == 0 { // a streamed body without bytes
		h.dropChunks(bg, ch)
		return u, nil
	}
	var moved uploadRec
	u, err = updateUpload(bg, h, u.ID, func(v *uploadRec) error {
		if v.Size != start {
			moved = *v
			return errMoved
		}
		v.Chunks = append(v.Chunks, ch)
		v.Size += ch.Size
		v.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err == nil {
		return u, nil
	}
	h.dropChunks(bg, ch)
	switch {
	case errors.Is(err, errMoved):
		return moved, h.outOfRange(ctx, moved, errf(codeRangeInvalid, fault.Invalid, op, "another chunk was received at %d meanwhile: the upload is at %d", start, moved.Size))
	case fault.Is(err, fault.NotFound):
		return u, errf(codeBlobUploadUnknown, fault.NotFound, op, "upload %s has expired", u.ID)
	}
	return u, err
}

// parseContentRange reads "start-end" (also "bytes start-end/total").
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "bytes"))
	s, _, _ = strings.Cut(s, "/")
	a, b, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	return start, end, true
}

// finishUpload answers PUT /v2/<name>/blobs/uploads/<id>?digest=: the
// stored chunks and the last one (the body, optional) are verified into
// the blob store. The session ends once the blob is linked, or when the
// bytes do not match the digest; a failure of the stores or of the body
// leaves it for the client to retry, on any edge.
func (h *Handler) finishUpload(ctx *fasthttp.RequestCtx, c Coord) error {
	t, err := h.resolve(ctx, c.Name, auth.Write)
	if err != nil {
		return err
	}
	if err := h.mayPush(ctx, t); err != nil {
		return err
	}
	u, err := h.session(ctx, c)
	if err != nil {
		return err
	}
	d, err := ParseDigest(string(ctx.QueryArgs().Peek("digest")))
	if err != nil {
		return err
	}
	want, err := h.chunkLength(ctx, u)
	if err != nil {
		return err
	}
	err = errNoPromote
	if want == 0 && len(u.Chunks) == 1 && u.Chunks[0].SHA256 == d {
		err = h.promote(ctx, t, d, u.Chunks[0])
	}
	if errors.Is(err, errNoPromote) || fault.Is(err, fault.Unavailable) {
		body, berr := edge.Body(ctx, h.opts.MaxBlobSize-u.Size)
		if berr != nil {
			return bodyError(berr)
		}
		err = h.commit(ctx, t, d, &u, exact(body, want))
	}
	if err == nil || codeOf(err) == codeDigestInvalid {
		h.endSession(edge.Context(ctx), u)
	}
	if err != nil {
		return err
	}
	return h.created(ctx, c.Name, d)
}

// cancelUpload answers DELETE /v2/<name>/blobs/uploads/<id>.
func (h *Handler) cancelUpload(ctx *fasthttp.RequestCtx, c Coord) error {
	if _, err := h.resolve(ctx, c.Name, auth.Write); err != nil {
		return err
	}
	u, err := h.session(ctx, c)
	if err != nil {
		return err
	}
	h.endSession(edge.Context(ctx), u)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// endSession removes a session's record, then its chunks (what a failure
// in between leaves, Sweep removes). It runs detached from the request,
// with its own deadline, so that a client leaving does not strand chunks.
func (h *Handler) endSession(ctx context.Context, u uploadRec) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := h.store().Delete(ctx, uploadsC, u.ID); err != nil {
		h.r.Log.Warn("oci: upload record not deleted", "upload", u.ID, "error", err)
		return
	}
	h.dropChunks(ctx, u.Chunks...)
}

// cleanupTimeout bounds the removal of a session's leftovers.
const cleanupTimeout = time.Minute

// dropChunks deletes chunk objects, detached from the request.
func (h *Handler) dropChunks(ctx context.Context, chunks ...chunkRec) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for _, ch := range chunks {
		if err := h.scratch.DeleteScratch(ctx, ch.Object); err != nil {
			h.r.Log.Warn("oci: upload chunk not deleted", "object", ch.Object, "error", err)
		}
	}
}

// Sweep ends the sessions idle for longer than UploadTTL at now, with
// their chunks, and deletes the chunk objects no session lists (a PATCH
// cut between storing its chunk and recording it, a session whose end
// was cut short) once they are older than SweepInterval, which no PATCH
// in flight is. Every edge may run it at once. It returns how many
// sessions it ended.
func (h *Handler) Sweep(ctx context.Context, now time.Time) int {
	cutoff := now.Add(-h.opts.UploadTTL)
	listed := map[string]bool{} // chunk objects of live sessions
	var doomed []uploadRec
	err := h.eachRecord(ctx, uploadsC, "", "", "", func(r hosted.Record) bool {
		u, err := decode[uploadRec](r)
		if err != nil || u.UpdatedAt.Before(cutoff) || !u.Shared {
			doomed = append(doomed, uploadRec{ID: r.ID, Chunks: u.Chunks})
			return true
		}
		for _, ch := range u.Chunks {
			listed[ch.Object] = true
		}
		return true
	})
	if err != nil {
		h.r.Log.Warn("oci: sweep", "error", err)
		return 0
	}
	for _, u := range doomed {
		h.endSession(ctx, u)
	}
	if h.scratch != nil {
		var orphans []chunkRec
		err = h.scratch.ListScratch(ctx, chunksRoot, func(name string, stored time.Time) bool {
			if !listed[name] && stored.Before(now.Add(-h.opts.SweepInterval)) {
				orphans = append(orphans, chunkRec{Object: name})
			}
			return true
		})
		if err != nil {
			h.r.Log.Warn("oci: sweep of upload chunks", "error", err)
		}
		h.dropChunks(ctx, orphans...)
	}
	h.sweepLegacySpool(cutoff)
	return len(doomed)
}

// sweepLegacySpool removes the spool files of sessions that earlier
// versions kept on the edge's own disk, once they are past cutoff.
func (h *Handler) sweepLegacySpool(cutoff time.Time) {
	dir := filepath.Join(h.r.SpoolDir, "oci")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && validID(e.Name()) && info.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
