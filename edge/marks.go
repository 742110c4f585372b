package edge

import (
	"context"

	"entrepot/hosted"
)

// OnMark registers m as a holder of blob references kept in this edge's
// memory only (a protocol's prepared documents stored as blobs), so that
// the garbage collector running in this edge keeps their blobs. A
// collector in another edge cannot see them: it keeps them for its grace
// period, which must outlast such an entry (see hosted/gc).
func (r *Registry) OnMark(m hosted.BlobMarker) {
	r.subsMu.Lock()
	r.marks = append(r.marks, m)
	r.subsMu.Unlock()
}

// MarkBlobs implements hosted.BlobMarker with every OnMark's marker.
func (r *Registry) MarkBlobs(ctx context.Context, mark func(hosted.BlobRef)) error {
	r.subsMu.Lock()
	ms := append([]hosted.BlobMarker(nil), r.marks...)
	r.subsMu.Unlock()
	for _, m := range ms {
		if err := m.MarkBlobs(ctx, mark); err != nil {
			return err
		}
	}
	return nil
}
