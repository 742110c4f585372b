package npm

import (
	"testing"

	"entrepot/hosted/fault"
)

// TestNullDocuments: JSON null decodes into a map without an error, so
// each reader of an object refuses it itself. Each once took it as valid:
// a published version without integrity or shasum, an empty publish, and
// an upstream packument served as good.
func TestNullDocuments(t *testing.T) {
	for _, c := range []struct {
		name string
		err  func() error
		kind fault.Kind
	}{
		{"version manifest", func() error { _, _, err := checkManifest(Name{Base: "pkg"}, "1.0.0", []byte("null")); return err }, fault.Invalid},
		{"publish body", func() error { _, err := parsePutBody(Name{Base: "pkg"}, []byte("null")); return err }, fault.Invalid},
		{"upstream packument", func() error { _, _, err := RewritePackument([]byte("null"), "http://edge/npm/pkg/-/"); return err }, fault.Upstream},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.err(); !fault.Is(err, c.kind) {
				t.Fatalf("null: %v, want a %v error", err, c.kind)
			}
		})
	}
}
