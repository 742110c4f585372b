package oci

import (
	"context"
	"encoding/json"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// The records of hosted repositories, one collection each; this file is
// the only one that builds their ids:
//
//	oci_manifests  <repo>@<digest>   a manifest pushed to repo (bytes in the blob store)
//	               keys: repo; subject = <repo>@<subject digest> for the referrers API
//	oci_tags       <repo>:<tag>      tag → manifest digest; key repo lists tags in order
//	oci_blobs      <repo>@<digest>   a blob present in repo (its link); the digest as
//	               pushed, sha256 or sha512, and the sha256 the blob store keys it by
//	oci_uploads    <id>              an upload session: its chunks, in order, are
//	               scratch objects of the blob store (upload.go)
//
// Repository names hold no '@' or ':', so the ids cannot collide.
var (
	manifestsC = hosted.Collection{Name: "oci_manifests", Index: []string{"repo", "subject"}}
	tagsC      = hosted.Collection{Name: "oci_tags", Index: []string{"repo"}}
	linksC     = hosted.Collection{Name: "oci_blobs", Index: []string{"repo"}}
	uploadsC   = hosted.Collection{Name: "oci_uploads"}
)

func manifestID(repo string, d blob.Digest) string { return repo + "@" + string(d) }
func tagID(repo, tag string) string                { return repo + ":" + tag }
func linkID(repo string, d blob.Digest) string     { return repo + "@" + string(d) }

// manifestRec is a stored manifest.
type manifestRec struct {
	Repo         string            `json:"repo"`
	Digest       blob.Digest       `json:"digest"` // as addressed: sha256 or sha512
	Blob         blob.Digest       `json:"blob"`   // sha256 of the bytes, the blob store key
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Subject      blob.Digest       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	PushedAt     time.Time         `json:"pushedAt"`
}

type tagRec struct {
	Repo      string      `json:"repo"`
	Tag       string      `json:"tag"`
	Digest    blob.Digest `json:"digest"`
	UpdatedAt time.Time   `json:"updatedAt"`
}

type linkRec struct {
	Repo   string      `json:"repo"`
	Digest blob.Digest `json:"digest"`
	Blob   blob.Digest `json:"blob"` // sha256
	Size   int64       `json:"size"`
}

type uploadRec struct {
	ID     string     `json:"id"`
	Repo   string     `json:"repo"`
	Size   int64      `json:"size"` // bytes received: the chunks' sizes, summed
	Chunks []chunkRec `json:"chunks,omitempty"`
	// Shared is false in the sessions of earlier versions, whose bytes
	// sat in one edge's spool folder.
	Shared    bool      `json:"shared"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// chunkRec is a chunk of an upload session, stored whole.
type chunkRec struct {
	Object string `json:"object"` // its blob.Scratch name (chunkObject)
	Size   int64  `json:"size"`
	// SHA256 is the digest of a session's first chunk, hashed on its way
	// in: when it is the only one, the blob is that object (promote).
	SHA256 blob.Digest `json:"sha256,omitempty"`
}

func (h *Handler) store() hosted.Store { return h.r.Catalog.Store() }

func (h *Handler) manifest(ctx context.Context, repo string, d blob.Digest) (manifestRec, error) {
	var m manifestRec
	_, err := hosted.GetJSON(ctx, h.store(), manifestsC, manifestID(repo, d), &m)
	return m, fault.Op("oci.manifest", err)
}

// saveManifest records m; a manifest of the same digest is the same bytes,
// so an existing record stays.
func (h *Handler) saveManifest(ctx context.Context, m manifestRec) error {
	keys := map[string]string{"repo": m.Repo}
	if m.Subject != "" {
		keys["subject"] = manifestID(m.Repo, m.Subject)
	}
	_, err := hosted.CreateJSON(ctx, h.store(), manifestsC, manifestID(m.Repo, m.Digest), keys, m)
	if fault.Is(err, fault.Conflict) {
		return nil
	}
	return fault.Op("oci.saveManifest", err)
}

func (h *Handler) tag(ctx context.Context, repo, tag string) (tagRec, error) {
	var t tagRec
	_, err := hosted.GetJSON(ctx, h.store(), tagsC, tagID(repo, tag), &t)
	return t, fault.Op("oci.tag", err)
}

// setTag points repo:tag at d, creating or moving the tag.
func (h *Handler) setTag(ctx context.Context, repo, tag string, d blob.Digest) error {
	const op = "oci.setTag"
	t := tagRec{Repo: repo, Tag: tag, Digest: d, UpdatedAt: time.Now().UTC()}
	for try := 0; try < 8; try++ {
		_, err := hosted.CreateJSON(ctx, h.store(), tagsC, tagID(repo, tag), map[string]string{"repo": repo}, t)
		if !fault.Is(err, fault.Conflict) {
			return fault.Op(op, err)
		}
		_, err = hosted.Update(ctx, h.store(), tagsC, tagID(repo, tag), func(v *tagRec, _ map[string]string) error {
			*v = t
			return nil
		})
		if !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
		// deleted in between: create again
	}
	return fault.Newf(op, fault.Conflict, "tag %s is too busy", tag)
}

// eachRecord calls fn for every record of c whose key equals value (every
// record when key and value are ""), in order, until fn returns false.
func (h *Handler) eachRecord(ctx context.Context, c hosted.Collection, key, value, after string, fn func(hosted.Record) bool) error {
	return eachRecord(ctx, h.store(), c, key, value, after, fn)
}

// eachRecord is Handler.eachRecord over the store s.
func eachRecord(ctx context.Context, s hosted.Store, c hosted.Collection, key, value, after string, fn func(hosted.Record) bool) error {
	q := hosted.Query{Key: key, Prefix: value, Exact: key != "", After: after}
	for {
		recs, next, err := s.Query(ctx, c, q)
		if err != nil {
			return fault.Op("oci.eachRecord", err)
		}
		for _, r := range recs {
			if !fn(r) {
				return nil
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

func (h *Handler) link(ctx context.Context, repo string, d blob.Digest) (linkRec, error) {
	var l linkRec
	_, err := hosted.GetJSON(ctx, h.store(), linksC, linkID(repo, d), &l)
	return l, fault.Op("oci.link", err)
}

// saveLink makes a stored blob visible in repo under digest d.
func (h *Handler) saveLink(ctx context.Context, l linkRec) error {
	_, err := hosted.CreateJSON(ctx, h.store(), linksC, linkID(l.Repo, l.Digest), map[string]string{"repo": l.Repo}, l)
	if fault.Is(err, fault.Conflict) {
		return nil
	}
	return fault.Op("oci.saveLink", err)
}

func (h *Handler) upload(ctx context.Context, id string) (uploadRec, error) {
	var u uploadRec
	_, err := hosted.GetJSON(ctx, h.store(), uploadsC, id, &u)
	return u, fault.Op("oci.upload", err)
}

func decode[T any](r hosted.Record) (T, error) {
	var v T
	err := json.Unmarshal(r.Data, &v)
	return v, fault.Wrap("oci.decode", fault.Internal, err)
}

func createUpload(ctx context.Context, h *Handler, u uploadRec) error {
	_, err := hosted.CreateJSON(ctx, h.store(), uploadsC, u.ID, nil, u)
	return fault.Op("oci.createUpload", err)
}

func updateUpload(ctx context.Context, h *Handler, id string, fn func(*uploadRec) error) (uploadRec, error) {
	u, err := hosted.Update(ctx, h.store(), uploadsC, id, func(v *uploadRec, _ map[string]string) error { return fn(v) })
	return u, fault.Op("oci.updateUpload", err)
}
