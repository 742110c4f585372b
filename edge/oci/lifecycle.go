package oci

import (
	"context"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// MarkBlobs reports the blobs hosted OCI repositories reference in meta:
// every manifest's bytes and every blob linked into a repository (a
// hosted.BlobMarker for the garbage collector and fsck). An upload
// session's chunks are scratch objects, outside the blob space, which
// Handler.Sweep ends; a digest a session names is marked all the same.
func MarkBlobs(ctx context.Context, meta hosted.Store, mark func(hosted.BlobRef)) error {
	err := hosted.Scan(ctx, meta, manifestsC, func(r hosted.Record) error {
		m, err := decode[manifestRec](r)
		if err != nil {
			return err
		}
		mark(hosted.BlobRef{Digest: string(m.Blob), Size: m.Size, Collection: manifestsC, ID: r.ID})
		return nil
	})
	if err != nil {
		return err
	}
	err = hosted.Scan(ctx, meta, linksC, func(r hosted.Record) error {
		l, err := decode[linkRec](r)
		if err != nil {
			return err
		}
		mark(hosted.BlobRef{Digest: string(l.Blob), Size: l.Size, Collection: linksC, ID: r.ID})
		return nil
	})
	if err != nil {
		return err
	}
	return hosted.Scan(ctx, meta, uploadsC, func(r hosted.Record) error {
		for _, d := range hosted.Digests(r.Data) {
			mark(hosted.BlobRef{Digest: d, Size: -1, Collection: uploadsC, ID: r.ID, Pending: true})
		}
		return nil
	})
}

// CheckRecords checks that every tag names a manifest of its repository;
// with repair it removes the tags that do not (a hosted.RecordChecker's
// work, for fsck).
func CheckRecords(ctx context.Context, meta hosted.Store, repair bool, report func(hosted.Problem)) error {
	return hosted.Scan(ctx, meta, tagsC, func(r hosted.Record) error {
		t, err := decode[tagRec](r)
		if err != nil {
			return err
		}
		_, err = meta.Get(ctx, manifestsC, manifestID(t.Repo, t.Digest))
		if !fault.Is(err, fault.NotFound) {
			return err
		}
		p := hosted.Problem{Kind: "dangling-tag", Source: tagsC.Name + "/" + r.ID, Detail: "tag names missing manifest " + string(t.Digest)}
		if repair {
			if err := meta.Delete(ctx, tagsC, r.ID); err != nil {
				return fault.Op("oci.CheckRecords", err)
			}
			p.Repaired = true
		}
		report(p)
		return nil
	})
}
