package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"entrepot/deploy/testkit/cluster"
)

// SharedStores returns the settings of a Start under which edges share a
// MongoDB (FerretDB) and an S3 bucket (MinIO) of the test environment
// (ENTREPOT_TEST_MONGODB_URL, ENTREPOT_TEST_S3_*, which
// deploy/testenv/start.sh writes): a fresh database and key prefix per
// call, and the secrets every edge of one deployment is given. Servers
// started with the same settings are edges of one deployment. It skips
// the test when the environment has no such servers.
func SharedStores(t testing.TB) []string {
	t.Helper()
	store, ok := cluster.StoreFromEnv(os.Getenv)
	if !ok {
		t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are unset: no MongoDB and S3 to share (deploy/testenv/start.sh starts FerretDB and MinIO)")
	}
	id := make([]byte, 6)
	rand.Read(id)
	name := hex.EncodeToString(id)
	secrets := cluster.NewSecrets()
	secrets.AdminPassword = "" // the caller's Start sets the admin
	return append(store.Env("shared_"+name, "shared-"+name), secrets.Env()...)
}
