package fs

import (
	"testing"

	"entrepot/hosted/blob"
	"entrepot/hosted/blob/blobtest"
)

func TestScratch(t *testing.T) {
	blobtest.RunScratch(t, func(t *testing.T) blob.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
