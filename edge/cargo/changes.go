package cargo

import "entrepot/hosted"

// changed makes the next index request look again for crates anonymous
// callers may not read, after a crate or a repository's visibility
// changed on this edge or another (edge.Registry.OnChange, the change
// feed), or when the feed could not be read. Rendered index files are
// checked against the package's stamp on every read and need nothing.
func (h *Handler) changed(c hosted.Change) {
	switch c.Kind {
	case hosted.ChangeAll, hosted.ChangeAccess, hosted.ChangeClaim:
		h.forgetPrivate()
	case hosted.ChangePackage:
		if c.Protocol == Protocol {
			h.forgetPrivate()
		}
	}
}
