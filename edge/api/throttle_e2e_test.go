package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strconv"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/hosted"
	"entrepot/hosted/fault"
	"entrepot/hosted/mongo"
)

// TestE2ELoginThrottleAcrossEdges: two edges on one MongoDB count one
// address's wrong passwords together: failures alternating between them
// are refused with 429 and Retry-After on both once 5 have failed in all,
// where each edge alone would have allowed 5 more.
func TestE2ELoginThrottleAcrossEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	url := os.Getenv("ENTREPOT_TEST_MONGODB_URL")
	if url == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL is set by `make test`")
	}
	if err := secondEdgeOpens(url); err != nil {
		t.Skipf("a second client cannot use a database another one set up, so no second edge can start: %v", err)
	}
	id := make([]byte, 6)
	rand.Read(id)
	key := make([]byte, 32)
	rand.Read(key)
	env := []string{
		"MONGODB_URL=" + url, "MONGODB_DB=e2e_throttle_" + hex.EncodeToString(id),
		"JWT_SECRET=" + hex.EncodeToString(key), "AUTH_ENCRYPTION_KEY=" + hex.EncodeToString(key),
	}
	edges := []*testkit.Server{testkit.Start(t, env...), testkit.Start(t, env...)}
	c := fromAddress("127.0.0.1")
	for i := range 5 {
		resp, raw := call(t, c, edges[i%2], "POST", "/auth/login", "", map[string]string{"email": "admin", "password": "guess"})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d, on edge %d: %d %s", i+1, i%2, resp.StatusCode, raw)
		}
	}
	for e, s := range edges {
		resp, raw := call(t, c, s, "POST", "/auth/login", "", map[string]string{"email": "admin", "password": testkit.AdminPassword})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after 5 wrong passwords over 2 edges, edge %d: %d %s", e, resp.StatusCode, raw)
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Fatalf("edge %d: Retry-After %q", e, resp.Header.Get("Retry-After"))
		}
	}
	// Another address is not held: admin signs in on either edge.
	if resp, raw := call(t, fromAddress("127.0.0.2"), edges[1], "POST", "/auth/login", "", map[string]string{"email": "admin", "password": testkit.AdminPassword}); resp.StatusCode != 200 {
		t.Fatalf("admin from another address: %d %s", resp.StatusCode, raw)
	}
}

// secondEdgeOpens checks that two clients, one after the other, can use a
// collection with several unique keys on the server at url, as a second
// edge does at start-up (FerretDB v1 dropped the connection when indexes
// were created again, until the store created them one at a time).
func secondEdgeOpens(url string) error {
	ctx := context.Background()
	db := "probe_" + rand.Text()
	c := hosted.Collection{Name: "probe", Unique: []string{"a", "b"}}
	for range 2 {
		s, err := mongo.Open(ctx, url, db)
		if err != nil {
			return err
		}
		_, err = s.Get(ctx, c, "x")
		s.Close(ctx)
		if !fault.Is(err, fault.NotFound) {
			return err
		}
	}
	return nil
}
