package oci

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	mirrorkit "entrepot/edge/mirror"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Upload sessions: a record in the metadata store (oci_uploads) and a
// spool file <spool>/<id> holding the bytes received so far. The record's
// Size counts the bytes synced to the file, so a session survives a
// restart of the edge: bytes past Size (a PATCH cut by the crash) are cut
// off on the next write. A completed upload is streamed from the spool
// file into a blob writer that verifies its digest before the blob
// becomes visible; nothing is ever held in memory.

type sessionLock struct {
	mu   sync.Mutex
	refs int
}

// lockSession serialises writes to one session in this process.
func (h *Handler) lockSession(id string) func() {
	h.locksMu.Lock()
	l := h.locks[id]
	if l == nil {
		l = &sessionLock{}
		h.locks[id] = l
	}
	l.refs++
	h.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		h.locksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(h.locks, id)
		}
		h.locksMu.Unlock()
	}
}

func (h *Handler) spoolPath(id string) string { return filepath.Join(h.spool, id) }

func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startUpload answers POST /v2/<name>/blobs/uploads/: a cross-repository
// mount (?mount=&from=), a monolithic upload (?digest=), or a new session.
func (h *Handler) startUpload(ctx *fasthttp.RequestCtx, c Coord) error {
	const op = "oci.startUpload"
	t, err := h.resolve(ctx, c.Name, auth.Write)
	if err != nil {
		return err
	}
	bg := context.Background()
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
			ctx.Response.Header.Set("Location", "/v2/"+c.Name+"/blobs/"+string(d))
			ctx.Response.Header.Set("Docker-Content-Digest", string(d))
			ctx.SetStatusCode(fasthttp.StatusCreated)
			return nil
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
		if err := h.commit(ctx, &t, d, body, int64(ctx.Request.Header.ContentLength())); err != nil {
			return err
		}
		return h.created(ctx, c.Name, d)
	}
	id := newID()
	f, err := os.OpenFile(h.spoolPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	f.Close()
	now := time.Now().UTC()
	rec := uploadRec{ID: id, Repo: c.Name, CreatedAt: now, UpdatedAt: now}
	if err := createUpload(bg, h, rec); err != nil {
		os.Remove(h.spoolPath(id))
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
	bg := context.Background()
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

// commit streams body into the blob store under d and links it into t's
// repository, claiming t's namespace first when nothing claims it yet
// (claim). want is the declared length (< 0: unknown). A short body or a
// digest mismatch leaves nothing behind; a refused claim leaves the
// verified blob unreferenced, and no link.
func (h *Handler) commit(ctx *fasthttp.RequestCtx, t *target, d blob.Digest, body io.Reader, want int64) error {
	const op = "oci.commit"
	bg := context.Background()
	w, err := h.r.Blobs.Create(bg, d)
	if err != nil {
		return fault.Op(op, err)
	}
	defer w.Cancel(bg)
	n, err := io.Copy(w, body)
	if err != nil {
		return bodyError(err)
	}
	if want >= 0 && n != want {
		return errf(codeBlobUploadInvalid, fault.Invalid, op, "received %d bytes of %d", n, want)
	}
	info, err := w.Commit(bg)
	if fault.Is(err, fault.Conflict) {
		return withCode(codeDigestInvalid, fault.WrapMsg(op, fault.Invalid, "the uploaded bytes do not match "+string(d), err))
	}
	if err != nil {
		return fault.Op(op, err)
	}
	if err := h.claim(ctx, t); err != nil {
		return err
	}
	return h.saveLink(bg, linkRec{Repo: t.name, Digest: d, Blob: info.Digest, Size: info.Size})
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
	return withCode(codeBlobUploadInvalid, fault.WrapMsg("oci.body", fault.Invalid, "the upload was cut short", err))
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

// session loads upload c.Upload of repository c.Name.
func (h *Handler) session(c Coord) (uploadRec, error) {
	u, err := h.upload(context.Background(), c.Upload)
	if fault.Is(err, fault.NotFound) || err == nil && u.Repo != c.Name {
		return uploadRec{}, errf(codeBlobUploadUnknown, fault.NotFound, "oci.session", "upload %s is not known", c.Upload)
	}
	return u, err
}

// uploadStatus answers GET /v2/<name>/blobs/uploads/<id>: 204 with the
// Range received.
func (h *Handler) uploadStatus(ctx *fasthttp.RequestCtx, c Coord) error {
	if _, err := h.resolve(ctx, c.Name, auth.Write); err != nil {
		return err
	}
	u, err := h.session(c)
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
	if _, err := h.resolve(ctx, c.Name, auth.Write); err != nil {
		return err
	}
	defer h.lockSession(c.Upload)()
	u, err := h.session(c)
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

// appendChunk appends the request body to the session's spool file and
// records the new size. A body that fails part-way is cut off again, so
// the session stays where it was.
func (h *Handler) appendChunk(ctx *fasthttp.RequestCtx, u uploadRec) (uploadRec, error) {
	const op = "oci.appendChunk"
	cl := int64(ctx.Request.Header.ContentLength())
	var want int64 = -1
	if cr := ctx.Request.Header.Peek("Content-Range"); len(cr) > 0 {
		start, end, ok := parseContentRange(string(cr))
		if !ok || start != u.Size {
			h.sessionHeaders(ctx, u)
			return u, edge.WithStatus(fasthttp.StatusRequestedRangeNotSatisfiable,
				errf(codeRangeInvalid, fault.Invalid, op, "chunk %s does not start at %d, the end of what was received", clip(string(cr)), u.Size))
		}
		want = end - start + 1
		if cl >= 0 && cl != want {
			return u, errf(codeBlobUploadInvalid, fault.Invalid, op, "Content-Range %s does not match Content-Length %d", clip(string(cr)), cl)
		}
	} else if cl >= 0 {
		want = cl
	}
	body, err := edge.Body(ctx, h.opts.MaxBlobSize-u.Size)
	if err != nil {
		return u, bodyError(err)
	}
	f, err := os.OpenFile(h.spoolPath(u.ID), os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return u, errf(codeBlobUploadUnknown, fault.NotFound, op, "upload %s has expired", u.ID)
	}
	if err != nil {
		return u, fault.Wrap(op, fault.Unavailable, err)
	}
	defer f.Close()
	rollback := func() { f.Truncate(u.Size) }
	// Bytes past Size were never acknowledged (a crash mid-PATCH).
	if err := f.Truncate(u.Size); err != nil {
		return u, fault.Wrap(op, fault.Unavailable, err)
	}
	if _, err := f.Seek(u.Size, io.SeekStart); err != nil {
		return u, fault.Wrap(op, fault.Unavailable, err)
	}
	n, err := io.Copy(f, body)
	if err != nil {
		rollback()
		return u, bodyError(err)
	}
	if want >= 0 && n != want {
		rollback()
		return u, errf(codeBlobUploadInvalid, fault.Invalid, op, "received %d bytes of %d", n, want)
	}
	if n == 0 {
		return u, nil
	}
	if err := f.Sync(); err != nil {
		rollback()
		return u, fault.Wrap(op, fault.Unavailable, err)
	}
	size := u.Size + n
	u, err = updateUpload(context.Background(), h, u.ID, func(v *uploadRec) error {
		v.Size, v.UpdatedAt = size, time.Now().UTC()
		return nil
	})
	if err != nil {
		return u, err
	}
	return u, nil
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

// finishUpload answers PUT /v2/<name>/blobs/uploads/<id>?digest=: the last
// chunk (optional), then the whole spool file is verified into the blob
// store. The session ends either way.
func (h *Handler) finishUpload(ctx *fasthttp.RequestCtx, c Coord) error {
	const op = "oci.finishUpload"
	t, err := h.resolve(ctx, c.Name, auth.Write)
	if err != nil {
		return err
	}
	defer h.lockSession(c.Upload)()
	u, err := h.session(c)
	if err != nil {
		return err
	}
	d, err := ParseDigest(string(ctx.QueryArgs().Peek("digest")))
	if err != nil {
		return err
	}
	if u, err = h.appendChunk(ctx, u); err != nil {
		return err
	}
	bg := context.Background()
	f, err := os.Open(h.spoolPath(u.ID))
	if err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	err = h.commit(ctx, &t, d, io.LimitReader(f, u.Size), u.Size)
	f.Close()
	h.endSession(bg, u.ID)
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
	defer h.lockSession(c.Upload)()
	u, err := h.session(c)
	if err != nil {
		return err
	}
	h.endSession(context.Background(), u.ID)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

// endSession removes a session's record and spool file.
func (h *Handler) endSession(ctx context.Context, id string) {
	if err := h.store().Delete(ctx, uploadsC, id); err != nil {
		h.r.Log.Warn("oci: upload record not deleted", "upload", id, "error", err)
	}
	if err := os.Remove(h.spoolPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		h.r.Log.Warn("oci: spool file not deleted", "upload", id, "error", err)
	}
}

// Sweep ends the sessions idle for longer than UploadTTL at now, with
// their partial data, and removes spool files no session owns. It returns
// how many sessions it ended.
func (h *Handler) Sweep(ctx context.Context, now time.Time) int {
	cutoff := now.Add(-h.opts.UploadTTL)
	live := map[string]bool{}
	var doomed []string
	err := h.eachRecord(ctx, uploadsC, "", "", "", func(r hosted.Record) bool {
		u, err := decode[uploadRec](r)
		if err != nil || u.UpdatedAt.Before(cutoff) {
			doomed = append(doomed, r.ID)
			return true
		}
		live[r.ID] = true
		return true
	})
	if err != nil {
		h.r.Log.Warn("oci: sweep", "error", err)
		return 0
	}
	for _, id := range doomed {
		unlock := h.lockSession(id)
		h.endSession(ctx, id)
		unlock()
	}
	entries, _ := os.ReadDir(h.spool)
	for _, e := range entries {
		if live[e.Name()] || !validID(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			os.Remove(h.spoolPath(e.Name()))
		}
	}
	return len(doomed)
}
