package rubygems

import "entrepot/hosted"

// onChange makes the next listing read the catalog again after a hosted
// gem changed, on this edge or another (edge.Registry.OnChange, the
// change feed), or when the feed could not be read. Per-gem indexes are
// checked against the package's stamp on every read and need nothing.
func (h *Handler) onChange(c hosted.Change) {
	if c.Kind == hosted.ChangeAll || c.Kind == hosted.ChangePackage && c.Protocol == Protocol {
		h.changed()
	}
}
