package s3

import (
	"testing"

	"entrepot/hosted/blob"
	"entrepot/hosted/blob/blobtest"
)

func TestScratch(t *testing.T) {
	testConfig(t) // skips the whole suite without a server
	blobtest.RunScratch(t, func(t *testing.T) blob.Store { return newStore(t, testPartSize) })
}
