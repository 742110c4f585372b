package mongo

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"entrepot/hosted"
	"entrepot/hosted/fault"
	"entrepot/hosted/storetest"
)

// testURL is the server the tests run against, which `make test` starts
// (FerretDB) and names in the environment.
func testURL(t *testing.T) string {
	url := os.Getenv("ENTREPOT_TEST_MONGODB_URL")
	if url == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL is not set; `make test` starts a server and sets it")
	}
	return url
}

// freshDB names a new database and drops it when the test ends, on a
// connection of its own (registered before the stores' Close, so it runs
// after them).
func freshDB(t *testing.T, url string) string {
	db := "entrepot_test_" + rand.Text()
	t.Cleanup(func() {
		ctx := context.Background()
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
	return db
}

func open(t *testing.T, url, db string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	url := testURL(t)
	storetest.Run(t, func(t *testing.T) hosted.Store {
		return open(t, url, freshDB(t, url))
	})
}

// TestPeers runs the multi-edge cases with one client per store, as
// separate edge processes have.
func TestPeers(t *testing.T) {
	url := testURL(t)
	storetest.RunPeers(t, func(t *testing.T, n int) []hosted.Store {
		db := freshDB(t, url)
		peers := make([]hosted.Store, n)
		for i := range peers {
			s := open(t, url, db)
			t.Cleanup(func() { s.Close(context.Background()) })
			peers[i] = s
		}
		return peers
	})
}

// The collections of TestEdgesShareDatabase: unique keys, secondary keys,
// both and neither, so that every kind of index is made and found again.
var shared = []hosted.Collection{
	{Name: "users", Unique: []string{"name", "email"}, Index: []string{"org"}},
	{Name: "tokens", Unique: []string{"hash"}},
	{Name: "events", Index: []string{"at", "kind"}},
	{Name: "plain"},
}

// useAll writes and reads a record of every shared collection through s.
func useAll(t *testing.T, s *Store, tag string) {
	t.Helper()
	ctx := context.Background()
	for _, c := range shared {
		keys := map[string]string{}
		for _, k := range append(append([]string(nil), c.Unique...), c.Index...) {
			keys[k] = tag + "\x00" + k
		}
		r, err := s.Create(ctx, c, hosted.Record{ID: tag, Keys: keys, Data: []byte(tag)})
		if err != nil {
			t.Fatalf("%s: create in %s: %v", tag, c.Name, err)
		}
		if _, err := s.Replace(ctx, c, r, r.Rev); err != nil {
			t.Fatalf("%s: replace in %s: %v", tag, c.Name, err)
		}
		key := ""
		if len(c.Index) > 0 {
			key = c.Index[0]
		}
		if got, _, err := s.Query(ctx, c, hosted.Query{Key: key}); err != nil || len(got) == 0 {
			t.Fatalf("%s: query of %s: %d records, %v", tag, c.Name, len(got), err)
		}
	}
}

// TestEdgesShareDatabase: edges start on one database at once, join it
// while another uses it, and restart on it, and each of them works: index
// creation is idempotent across clients (FerretDB dropped the connection
// when a second edge ran createIndexes for indexes that existed).
func TestEdgesShareDatabase(t *testing.T) {
	url := testURL(t)
	db := freshDB(t, url)
	ctx := context.Background()

	// Three edges whose first uses of the collections race.
	var wg sync.WaitGroup
	first := make([]*Store, 3)
	for i := range first {
		first[i] = open(t, url, db)
		wg.Add(1)
		go func() {
			defer wg.Done()
			useAll(t, first[i], fmt.Sprint("start", i))
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// A fourth and a fifth join while the first ones are in use.
	stop := make(chan struct{})
	busy := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				busy <- nil
				return
			default:
			}
			if _, err := first[0].Create(ctx, shared[1], hosted.Record{ID: fmt.Sprint("busy", n), Keys: map[string]string{"hash": fmt.Sprint("h", n)}}); err != nil {
				busy <- err
				return
			}
			n++
		}
	}()
	for i := range 2 {
		s := open(t, url, db)
		useAll(t, s, fmt.Sprint("join", i))
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-busy; err != nil {
		t.Fatalf("the edge in use failed while others joined: %v", err)
	}

	// Every edge restarts, one after another, and works again.
	for i, s := range first {
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
		s = open(t, url, db)
		useAll(t, s, fmt.Sprint("restart", i))
		if err := s.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReplaceLatency logs what a Replace costs, for the record of what the
// FerretDB revision lock adds (there it is three round trips, on MongoDB
// one). It asserts nothing about time.
func TestReplaceLatency(t *testing.T) {
	url := testURL(t)
	s := open(t, url, freshDB(t, url))
	defer s.Close(context.Background())
	ctx := context.Background()
	c := hosted.Collection{Name: "bench", Unique: []string{"name"}}
	r, err := s.Create(ctx, c, hosted.Record{ID: "a", Keys: map[string]string{"name": "a"}, Data: []byte(`{"N":0}`)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	measure := func() time.Duration {
		start := time.Now()
		for range n {
			if r, err = s.Replace(ctx, c, r, r.Rev); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / n
	}
	locked := measure()
	if s.locks == nil {
		t.Logf("MongoDB: Replace %v per op over %d", locked, n)
		return
	}
	locks := s.locks
	s.locks = nil // the plain path, correct only for one writer
	plain := measure()
	s.locks = locks
	t.Logf("FerretDB: Replace %v per op with the revision lock, %v without, over %d ops each", locked, plain, n)
}

// TestUpgradeRawKeys: records a Store before key escaping wrote, with raw
// NULs in their key values, are found by the scans of a Store after it.
func TestUpgradeRawKeys(t *testing.T) {
	url := testURL(t)
	db := freshDB(t, url)
	ctx := context.Background()
	c := hosted.Collection{Name: "things", Unique: []string{"name"}, Index: []string{"owner"}}
	old := open(t, url, db)
	defer old.Close(ctx)
	values := []string{"o\x00b", "o", "o\x00a\x00z", "p"}
	for i, v := range values {
		d := document{ID: fmt.Sprint("id", i), Rev: 1, Keys: map[string]string{"name": v, "owner": v}}
		_, err := old.db.Collection(c.Name).InsertOne(ctx, d.bson())
		if err != nil && strings.Contains(err.Error(), "SQLSTATE 22P05") {
			t.Skip("the server refuses NULs in strings (FerretDB on PostgreSQL): it holds no raw values to upgrade")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second Store finds the collection upgraded
		s := open(t, url, db)
		for _, key := range []string{"name", "owner"} {
			rs, _, err := s.Query(ctx, c, hosted.Query{Key: key, Prefix: "o\x00"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.ID+"="+r.Keys[key])
			}
			if fmt.Sprintf("%q", got) != `["id2=o\x00a\x00z" "id0=o\x00b"]` {
				t.Fatalf("%s after the upgrade: %q", key, got)
			}
		}
		if _, err := s.Create(ctx, c, hosted.Record{ID: "dup", Keys: map[string]string{"name": "o\x00b"}}); !fault.Is(err, fault.Conflict) {
			t.Fatalf("an upgraded unique value is not taken: %v", err)
		}
		s.Close(ctx)
	}
}

// TestDeadLockHolder: on FerretDB, a lock whose holder died (it expired,
// or expires while a writer waits) delays writers of its revision by no
// more than its life, and the writer that moves the record on removes it.
func TestDeadLockHolder(t *testing.T) {
	url := testURL(t)
	s := open(t, url, freshDB(t, url))
	defer s.Close(context.Background())
	if s.locks == nil {
		t.Skip("MongoDB writes atomically: no locks")
	}
	ctx := context.Background()
	c := hosted.Collection{Name: "things"}
	r, err := s.Create(ctx, c, hosted.Record{ID: "a", Data: []byte("0")})
	if err != nil {
		t.Fatal(err)
	}
	for _, life := range []time.Duration{-time.Second, 300 * time.Millisecond} {
		dead := lockDoc{ID: lockID(c.Name, "a", int64(r.Rev), 0), Exp: time.Now().Add(life).UnixMilli()}
		if _, err := s.locks.InsertOne(ctx, dead); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if r, err = s.Replace(ctx, c, r, r.Rev); err != nil {
			t.Fatalf("lock expiring in %v: %v", life, err)
		}
		t.Logf("lock expiring in %v: Replace took %v", life, time.Since(start))
		if n, err := s.locks.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
			t.Fatalf("%d locks left after the write (%v)", n, err)
		}
	}
}
