// Package stores opens metadata stores for tests that play several edges
// on one database: the embedded store and MongoDB (FerretDB in the test
// environment), each behind the hosted.Store contract. It imports no
// package of Entrepot's above hosted, so that any package's own tests
// (auth's included) can use it.
package stores

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/bolt"
	"entrepot/hosted/mongo"
)

// Peers returns n stores on one fresh, empty database, as n edges hold
// them: for "mongo", n clients of their own (skipping the test when
// ENTREPOT_TEST_MONGODB_URL is unset); for "bolt", which admits one process
// per file, one Store n times. They are closed when the test ends.
func Peers(t testing.TB, backend string, n int) []hosted.Store {
	t.Helper()
	ctx := context.Background()
	out := make([]hosted.Store, n)
	switch backend {
	case "bolt":
		s, err := bolt.Open(filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(ctx) })
		for i := range out {
			out[i] = s
		}
	case "mongo":
		url := os.Getenv("ENTREPOT_TEST_MONGODB_URL")
		if url == "" {
			t.Skip("ENTREPOT_TEST_MONGODB_URL is not set; `make test` starts a server and sets it")
		}
		db := "entrepot_peers_" + rand.Text()
		for i := range out {
			s, err := mongo.Open(ctx, url, db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(ctx) })
			out[i] = s
		}
	default:
		t.Fatalf("stores: no backend %q", backend)
	}
	return out
}

// Each runs fn in a subtest per backend Peers opens.
func Each(t *testing.T, fn func(t *testing.T, backend string)) {
	for _, b := range []string{"bolt", "mongo"} {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}
