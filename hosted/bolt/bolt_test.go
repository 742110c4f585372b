package bolt

import (
	"path/filepath"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hosted.Store {
		s, err := Open(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
