package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
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
	mongoURL, s3URL := os.Getenv("ENTREPOT_TEST_MONGODB_URL"), os.Getenv("ENTREPOT_TEST_S3_ENDPOINT")
	if mongoURL == "" || s3URL == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL and ENTREPOT_TEST_S3_ENDPOINT are unset: no MongoDB and S3 to share (deploy/testenv/start.sh starts FerretDB and MinIO)")
	}
	id := make([]byte, 6)
	rand.Read(id)
	secret := make([]byte, 32)
	rand.Read(secret)
	name := hex.EncodeToString(id)
	region := os.Getenv("ENTREPOT_TEST_S3_REGION")
	if region == "" {
		region = "us-east-1"
	}
	return []string{
		"MONGODB_URL=" + mongoURL, "MONGODB_DB=shared_" + name,
		"S3_ENDPOINT=" + s3URL, "S3_BUCKET=" + os.Getenv("ENTREPOT_TEST_S3_BUCKET"), "S3_REGION=" + region,
		"S3_ACCESS_KEY=" + os.Getenv("ENTREPOT_TEST_S3_ACCESS_KEY"), "S3_SECRET_KEY=" + os.Getenv("ENTREPOT_TEST_S3_SECRET_KEY"),
		"S3_FORCE_PATH_STYLE=true", "STORAGE_PATH=shared-" + name,
		"JWT_SECRET=" + hex.EncodeToString(secret), "AUTH_ENCRYPTION_KEY=" + hex.EncodeToString(secret),
	}
}
