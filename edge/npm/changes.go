package npm

import "entrepot/hosted"

// changed drops what the handler holds of a hosted package that changed,
// on this edge or another (edge.Registry.OnChange, the change feed): the
// stamp its packument is looked up by, and the tarball digest of a
// version that changed (was unpublished). Everything hosted goes when
// the feed could not be read. Mirrored documents are keyed by the digest
// of immutable bytes and stay.
func (h *Handler) changed(c hosted.Change) {
	switch {
	case c.Kind == hosted.ChangeAll:
		h.docs.forgetAllHosted()
		h.files.Purge()
	case c.Kind == hosted.ChangePackage && c.Protocol == Protocol:
		h.docs.forgetHosted(c.Name)
		if c.Version == "" {
			return
		}
		if n, err := ParseName(c.Name); err == nil {
			h.files.Remove(filePath(n, TarballFile(n, c.Version)))
		}
	}
}
