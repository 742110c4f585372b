package mongo

import (
	"context"
	"crypto/rand"
	"os"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/storetest"
)

func TestStore(t *testing.T) {
	url := os.Getenv("ENTREPOT_TEST_MONGODB_URL")
	if url == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL is not set; `make test` starts a server and sets it")
	}
	storetest.Run(t, func(t *testing.T) hosted.Store {
		ctx := context.Background()
		db := "entrepot_test_" + rand.Text()
		s, err := Open(ctx, url, db)
		if err != nil {
			t.Fatal(err)
		}
		// Registered before the suite's Close, so it runs after it: drop on a
		// connection of its own.
		t.Cleanup(func() {
			d, err := Open(ctx, url, db)
			if err != nil {
				t.Error(err)
				return
			}
			defer d.Close(ctx)
			if err := d.db.Drop(ctx); err != nil {
				t.Errorf("dropping %s: %v", db, err)
			}
		})
		return s
	})
}
