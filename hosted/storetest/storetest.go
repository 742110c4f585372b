// Package storetest is the conformance suite of hosted.Store: every
// metadata backend's test file calls Run with a constructor, and the suite
// is the contract's specification.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// NewStore returns a fresh, empty store; the suite closes it.
type NewStore func(t *testing.T) hosted.Store

var things = hosted.Collection{Name: "things", Unique: []string{"name"}, Index: []string{"owner"}}

func rec(id, name, owner, data string) hosted.Record {
	k := map[string]string{"name": name}
	if owner != "" {
		k["owner"] = owner
	}
	return hosted.Record{ID: id, Keys: k, Data: []byte(data)}
}

// Run runs every case against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	cases := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s hosted.Store)
	}{
		{"GetMissing", testGetMissing},
		{"CreateGet", testCreateGet},
		{"CreateDuplicateID", testCreateDuplicateID},
		{"CreateDuplicateUnique", testCreateDuplicateUnique},
		{"ReplaceRevision", testReplaceRevision},
		{"ReplaceStale", testReplaceStale},
		{"ReplaceMissing", testReplaceMissing},
		{"ReplaceMovesKeys", testReplaceMovesKeys},
		{"ReplaceUniqueTaken", testReplaceUniqueTaken},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"DeleteFreesKeys", testDeleteFreesKeys},
		{"QueryByID", testQueryByID},
		{"QueryIndexPrefix", testQueryIndexPrefix},
		{"QueryExact", testQueryExact},
		{"QueryPaging", testQueryPaging},
		{"QueryUniqueKey", testQueryUniqueKey},
		{"Collections", testCollections},
		{"CompositeKeys", testCompositeKeys},
		{"KeyBytes", testKeyBytes},
		{"RacingCreates", testRacingCreates},
		{"RacingReplaces", testRacingReplaces},
		{"UpdateHelper", testUpdateHelper},
		{"BinaryData", testBinaryData},
		{"Ping", testPing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			t.Cleanup(func() { s.Close(ctx) })
			c.fn(t, ctx, s)
		})
	}
}

func wantKind(t *testing.T, err error, k fault.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if got := fault.KindOf(err); got != k {
		t.Fatalf("got %v error (%v), want %v", got, err, k)
	}
}

func mCreate(t *testing.T, ctx context.Context, s hosted.Store, c hosted.Collection, r hosted.Record) hosted.Record {
	t.Helper()
	r, err := s.Create(ctx, c, r)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mGet(t *testing.T, ctx context.Context, s hosted.Store, c hosted.Collection, id string) hosted.Record {
	t.Helper()
	r, err := s.Get(ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mReplace(t *testing.T, ctx context.Context, s hosted.Store, c hosted.Collection, r hosted.Record, rev uint64) hosted.Record {
	t.Helper()
	r, err := s.Replace(ctx, c, r, rev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testGetMissing(t *testing.T, ctx context.Context, s hosted.Store) {
	_, err := s.Get(ctx, things, "nope")
	wantKind(t, err, fault.NotFound)
}

func testCreateGet(t *testing.T, ctx context.Context, s hosted.Store) {
	r := mCreate(t, ctx, s, things, rec("a", "alpha", "o1", `{"x":1}`))
	if r.Rev != 1 {
		t.Fatalf("rev after create = %d, want 1", r.Rev)
	}
	g := mGet(t, ctx, s, things, "a")
	if g.ID != "a" || g.Rev != 1 || string(g.Data) != `{"x":1}` || g.Keys["name"] != "alpha" || g.Keys["owner"] != "o1" {
		t.Fatalf("got %+v", g)
	}
}

func testCreateDuplicateID(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	_, err := s.Create(ctx, things, rec("a", "beta", "", "2"))
	wantKind(t, err, fault.Conflict)
	g := mGet(t, ctx, s, things, "a")
	if string(g.Data) != "1" {
		t.Fatalf("failed create changed the record: %q", g.Data)
	}
	// the failed create must not have claimed its unique value
	mCreate(t, ctx, s, things, rec("b", "beta", "", "3"))
}

func testCreateDuplicateUnique(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	_, err := s.Create(ctx, things, rec("b", "alpha", "", "2"))
	wantKind(t, err, fault.Conflict)
	_, err = s.Get(ctx, things, "b")
	wantKind(t, err, fault.NotFound)
}

func testReplaceRevision(t *testing.T, ctx context.Context, s hosted.Store) {
	r := mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	r.Data = []byte("2")
	r2 := mReplace(t, ctx, s, things, r, r.Rev)
	if r2.Rev != 2 {
		t.Fatalf("rev after replace = %d, want 2", r2.Rev)
	}
	g := mGet(t, ctx, s, things, "a")
	if string(g.Data) != "2" || g.Rev != 2 {
		t.Fatalf("got %+v", g)
	}
}

func testReplaceStale(t *testing.T, ctx context.Context, s hosted.Store) {
	r := mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	r.Data = []byte("2")
	mReplace(t, ctx, s, things, r, 1)
	r.Data = []byte("3")
	_, err := s.Replace(ctx, things, r, 1)
	wantKind(t, err, fault.Conflict)
	if g := mGet(t, ctx, s, things, "a"); string(g.Data) != "2" {
		t.Fatalf("stale replace wrote: %q", g.Data)
	}
}

func testReplaceMissing(t *testing.T, ctx context.Context, s hosted.Store) {
	_, err := s.Replace(ctx, things, rec("a", "alpha", "", "1"), 1)
	wantKind(t, err, fault.NotFound)
}

func testReplaceMovesKeys(t *testing.T, ctx context.Context, s hosted.Store) {
	r := mCreate(t, ctx, s, things, rec("a", "alpha", "o1", "1"))
	r.Keys = map[string]string{"name": "alpha2", "owner": "o2"}
	mReplace(t, ctx, s, things, r, r.Rev)
	// the old unique value is free again, the new one is taken
	mCreate(t, ctx, s, things, rec("b", "alpha", "", "2"))
	_, err := s.Create(ctx, things, rec("c", "alpha2", "", "3"))
	wantKind(t, err, fault.Conflict)
	// the index follows the record
	got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "o1", Exact: true})
	if len(got) != 0 {
		t.Fatalf("old index entry still found: %+v", got)
	}
	got, _ = mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "o2", Exact: true})
	if len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("new index entry: %+v", got)
	}
}

func testReplaceUniqueTaken(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	r := mCreate(t, ctx, s, things, rec("b", "beta", "", "2"))
	r.Keys = map[string]string{"name": "alpha"}
	_, err := s.Replace(ctx, things, r, r.Rev)
	wantKind(t, err, fault.Conflict)
	if g := mGet(t, ctx, s, things, "b"); g.Keys["name"] != "beta" || g.Rev != 1 {
		t.Fatalf("failed replace changed the record: %+v", g)
	}
}

func testDeleteIdempotent(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	if err := s.Delete(ctx, things, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, things, "a"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err := s.Get(ctx, things, "a")
	wantKind(t, err, fault.NotFound)
}

func testDeleteFreesKeys(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("a", "alpha", "o1", "1"))
	if err := s.Delete(ctx, things, "a"); err != nil {
		t.Fatal(err)
	}
	mCreate(t, ctx, s, things, rec("b", "alpha", "", "1"))
	got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "o1"})
	if len(got) != 0 {
		t.Fatalf("deleted record still indexed: %+v", got)
	}
}

func mQuery(t *testing.T, ctx context.Context, s hosted.Store, c hosted.Collection, q hosted.Query) ([]hosted.Record, string) {
	t.Helper()
	rs, next, err := s.Query(ctx, c, q)
	if err != nil {
		t.Fatal(err)
	}
	return rs, next
}

func ids(rs []hosted.Record) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ","
		}
		s += r.ID
	}
	return s
}

func testQueryByID(t *testing.T, ctx context.Context, s hosted.Store) {
	for _, id := range []string{"c", "a", "b", "ab"} {
		mCreate(t, ctx, s, things, rec(id, "n"+id, "", ""))
	}
	got, next := mQuery(t, ctx, s, things, hosted.Query{})
	if ids(got) != "a,ab,b,c" || next != "" {
		t.Fatalf("got %s next %q", ids(got), next)
	}
	got, _ = mQuery(t, ctx, s, things, hosted.Query{Prefix: "a"})
	if ids(got) != "a,ab" {
		t.Fatalf("prefix a: %s", ids(got))
	}
}

func testQueryIndexPrefix(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("1", "n1", "org/b", ""))
	mCreate(t, ctx, s, things, rec("2", "n2", "org/a", ""))
	mCreate(t, ctx, s, things, rec("3", "n3", "other", ""))
	mCreate(t, ctx, s, things, rec("4", "n4", "", "")) // not indexed
	mCreate(t, ctx, s, things, rec("0", "n0", "org/a", ""))
	got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "org/"})
	if ids(got) != "0,2,1" {
		t.Fatalf("got %s, want 0,2,1 (by value, then id)", ids(got))
	}
	got, _ = mQuery(t, ctx, s, things, hosted.Query{Key: "owner"})
	if ids(got) != "0,2,1,3" {
		t.Fatalf("whole index: got %s", ids(got))
	}
}

func testQueryExact(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("1", "n1", "acme", ""))
	mCreate(t, ctx, s, things, rec("2", "n2", "acme-two", ""))
	got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "acme", Exact: true})
	if ids(got) != "1" {
		t.Fatalf("got %s", ids(got))
	}
}

func testQueryPaging(t *testing.T, ctx context.Context, s hosted.Store) {
	const n = 25
	for i := 0; i < n; i++ {
		mCreate(t, ctx, s, things, rec(fmt.Sprintf("id%02d", i), fmt.Sprintf("n%02d", i), fmt.Sprintf("o%d", i%3), ""))
	}
	for _, key := range []string{"", "owner", "name"} {
		var all []hosted.Record
		after := ""
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("key %q: paging does not end", key)
			}
			got, next := mQuery(t, ctx, s, things, hosted.Query{Key: key, After: after, Limit: 4})
			if len(got) > 4 {
				t.Fatalf("key %q: page of %d", key, len(got))
			}
			all = append(all, got...)
			if next == "" {
				break
			}
			after = next
		}
		if len(all) != n {
			t.Fatalf("key %q: paged %d records, want %d", key, len(all), n)
		}
		seen := map[string]bool{}
		for _, r := range all {
			if seen[r.ID] {
				t.Fatalf("key %q: %s twice", key, r.ID)
			}
			seen[r.ID] = true
		}
	}
}

func testQueryUniqueKey(t *testing.T, ctx context.Context, s hosted.Store) {
	mCreate(t, ctx, s, things, rec("x", "zeta", "", ""))
	mCreate(t, ctx, s, things, rec("y", "alpha", "", ""))
	got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: "name", Prefix: "alpha", Exact: true})
	if ids(got) != "y" {
		t.Fatalf("got %s", ids(got))
	}
	got, _ = mQuery(t, ctx, s, things, hosted.Query{Key: "name"})
	if ids(got) != "y,x" {
		t.Fatalf("got %s", ids(got))
	}
}

func testCollections(t *testing.T, ctx context.Context, s hosted.Store) {
	other := hosted.Collection{Name: "others", Unique: []string{"name"}}
	mCreate(t, ctx, s, things, rec("a", "alpha", "", "1"))
	// same id and unique value in another collection: independent
	mCreate(t, ctx, s, other, rec("a", "alpha", "", "2"))
	if g := mGet(t, ctx, s, other, "a"); string(g.Data) != "2" {
		t.Fatalf("got %q", g.Data)
	}
	got, _ := mQuery(t, ctx, s, other, hosted.Query{})
	if len(got) != 1 {
		t.Fatalf("collections leak into each other: %d records", len(got))
	}
}

func testRacingCreates(t *testing.T, ctx context.Context, s hosted.Store) {
	racingCreates(t, ctx, []hosted.Store{s}, 8)
}

func testRacingReplaces(t *testing.T, ctx context.Context, s hosted.Store) {
	racingReplaces(t, ctx, []hosted.Store{s}, 8)
}

func testUpdateHelper(t *testing.T, ctx context.Context, s hosted.Store) {
	concurrentUpdates(t, ctx, []hosted.Store{s}, 10)
}

// fanOut runs fn in each goroutines per peer, at once, and waits for
// them; fn gets the peer's store and index and its own index.
func fanOut(peers []hosted.Store, each int, fn func(s hosted.Store, p, i int)) {
	var wg sync.WaitGroup
	for p, s := range peers {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(s, p, i)
			}()
		}
	}
	wg.Wait()
}

// racingCreates: round after round, each goroutines on every peer Create
// records of different ids and one unique value: exactly one succeeds and
// the others are Conflicts.
func racingCreates(t *testing.T, ctx context.Context, peers []hosted.Store, each int) {
	for round := 0; round < 5; round++ {
		var wins, conflicts atomic.Int32
		fanOut(peers, each, func(s hosted.Store, p, i int) {
			_, err := s.Create(ctx, things, rec(fmt.Sprintf("r%d-%d-%d", round, p, i), fmt.Sprintf("race%d", round), "", ""))
			switch {
			case err == nil:
				wins.Add(1)
			case fault.Is(err, fault.Conflict):
				conflicts.Add(1)
			default:
				t.Errorf("create: %v", err)
			}
		})
		n := int32(len(peers) * each)
		if wins.Load() != 1 || conflicts.Load() != n-1 {
			t.Fatalf("round %d: %d wins, %d conflicts; want 1 and %d", round, wins.Load(), conflicts.Load(), n-1)
		}
	}
}

// racingReplaces: round after round, each goroutines on every peer Replace
// one revision of a record: exactly one wins.
func racingReplaces(t *testing.T, ctx context.Context, peers []hosted.Store, each int) {
	r := mCreate(t, ctx, peers[0], things, rec("a", "alpha", "", "0"))
	for round := 0; round < 5; round++ {
		var wins atomic.Int32
		fanOut(peers, each, func(s hosted.Store, p, i int) {
			c := r
			c.Data = []byte(fmt.Sprint(round, p, i))
			_, err := s.Replace(ctx, things, c, r.Rev)
			switch {
			case err == nil:
				wins.Add(1)
			case fault.Is(err, fault.Conflict):
			default:
				t.Errorf("replace: %v", err)
			}
		})
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d replaces of revision %d won, want 1", round, wins.Load(), r.Rev)
		}
		r = mGet(t, ctx, peers[round%len(peers)], things, "a")
	}
}

type counter struct{ N int }

// concurrentUpdates: hosted.Update from each goroutines on every peer at
// once loses no write.
func concurrentUpdates(t *testing.T, ctx context.Context, peers []hosted.Store, each int) {
	if _, err := hosted.CreateJSON(ctx, peers[0], things, "c", map[string]string{"name": "c"}, counter{}); err != nil {
		t.Fatal(err)
	}
	fanOut(peers, each, func(s hosted.Store, _, _ int) {
		if _, err := hosted.Update(ctx, s, things, "c", func(c *counter, _ map[string]string) error {
			c.N++
			return nil
		}); err != nil {
			t.Errorf("update: %v", err)
		}
	})
	var c counter
	if _, err := hosted.GetJSON(ctx, peers[len(peers)-1], things, "c", &c); err != nil {
		t.Fatal(err)
	}
	if c.N != len(peers)*each {
		t.Fatalf("N = %d after %d concurrent updates: a write was lost", c.N, len(peers)*each)
	}
}

func testBinaryData(t *testing.T, ctx context.Context, s hosted.Store) {
	data := make([]byte, 256*1024)
	for i := range data {
		data[i] = byte(i * 7)
	}
	mCreate(t, ctx, s, things, hosted.Record{ID: "bin/ä\x01", Keys: map[string]string{"name": "n"}, Data: data})
	g := mGet(t, ctx, s, things, "bin/ä\x01")
	if string(g.Data) != string(data) {
		t.Fatal("binary data changed on the way through")
	}
}

func testPing(t *testing.T, ctx context.Context, s hosted.Store) {
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// testCompositeKeys: key values made of NUL-separated parts (org, protocol,
// name) scan by prefix and page correctly.
func testCompositeKeys(t *testing.T, ctx context.Context, s hosted.Store) {
	for i, owner := range []string{"o1\x00npm\x00a", "o1\x00npm\x00b", "o1\x00pypi\x00a", "o2\x00npm\x00a", "o1\x00npm\x00c"} {
		mCreate(t, ctx, s, things, rec(fmt.Sprint("id", i), fmt.Sprint("n", i), owner, ""))
	}
	got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "o1\x00npm\x00"})
	if ids(got) != "id0,id1,id4" {
		t.Fatalf("prefix scan: %s", ids(got))
	}
	var all []string
	after := ""
	for {
		got, next := mQuery(t, ctx, s, things, hosted.Query{Key: "owner", Prefix: "o1\x00", After: after, Limit: 1})
		for _, r := range got {
			all = append(all, r.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if fmt.Sprint(all) != "[id0 id1 id4 id2]" {
		t.Fatalf("paged scan: %v", all)
	}
	if _, err := s.Create(ctx, things, rec("bad\x00id", "nul", "", "")); !fault.Is(err, fault.Invalid) {
		t.Fatalf("NUL in an id: %v", err)
	}
}

// testKeyBytes: key values holding NUL and \x01 bytes (which a backend may
// have to escape) keep their byte order in scans, prefixes and cursors,
// in unique keys as in secondary ones, and come back as they went in.
func testKeyBytes(t *testing.T, ctx context.Context, s hosted.Store) {
	values := []string{"a", "a\x00", "a\x00\x00", "a\x00\x01", "a\x00b", "a\x01", "a\x01\x00", "a\x01\x01", "a\x01\x02", "a\x02", "a\x02\x00", "b\x00"}
	for i, v := range values {
		mCreate(t, ctx, s, things, hosted.Record{ID: fmt.Sprintf("id%02d", i), Keys: map[string]string{"name": v, "owner": v}})
	}
	for i, v := range values {
		g := mGet(t, ctx, s, things, fmt.Sprintf("id%02d", i))
		if g.Keys["name"] != v || g.Keys["owner"] != v {
			t.Fatalf("keys of id%02d came back as %q, %q; want %q", i, g.Keys["name"], g.Keys["owner"], v)
		}
	}
	// want lists the ids of the values with prefix, in byte order.
	want := func(prefix string) string {
		sorted := slices.Clone(values)
		slices.Sort(sorted)
		var out []string
		for _, v := range sorted {
			if strings.HasPrefix(v, prefix) {
				out = append(out, fmt.Sprintf("id%02d", slices.Index(values, v)))
			}
		}
		return strings.Join(out, ",")
	}
	for _, key := range []string{"name", "owner"} {
		for _, prefix := range []string{"", "a", "a\x00", "a\x01", "a\x01\x00", "a\x02", "b"} {
			got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: key, Prefix: prefix})
			if ids(got) != want(prefix) {
				t.Errorf("%s prefix %q: got %s, want %s", key, prefix, ids(got), want(prefix))
			}
			// The same scan a record at a time, through cursors.
			var paged []hosted.Record
			after := ""
			for range values {
				got, next := mQuery(t, ctx, s, things, hosted.Query{Key: key, Prefix: prefix, After: after, Limit: 1})
				paged = append(paged, got...)
				if next == "" {
					break
				}
				after = next
			}
			if ids(paged) != want(prefix) {
				t.Errorf("%s prefix %q paged: got %s, want %s", key, prefix, ids(paged), want(prefix))
			}
		}
		for i, v := range values {
			got, _ := mQuery(t, ctx, s, things, hosted.Query{Key: key, Prefix: v, Exact: true})
			if ids(got) != fmt.Sprintf("id%02d", i) {
				t.Errorf("%s exact %q: got %s", key, v, ids(got))
			}
		}
	}
	// A unique value differing in a NUL or \x01 only is another value.
	_, err := s.Create(ctx, things, hosted.Record{ID: "dup", Keys: map[string]string{"name": "a\x00"}})
	wantKind(t, err, fault.Conflict)
	mCreate(t, ctx, s, things, hosted.Record{ID: "new", Keys: map[string]string{"name": "a\x00\x02"}})
}

// NewPeers returns n stores on one fresh, empty database, opened as n edge
// processes would open it: for a server-backed store, n separate clients.
// A backend that admits one process per database (bbolt) returns its one
// store n times. The constructor closes them when the test ends.
type NewPeers func(t *testing.T, n int) []hosted.Store

// RunPeers runs the cases that need several stores on one database: what
// edges sharing a database rely on.
func RunPeers(t *testing.T, newPeers NewPeers) {
	cases := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, peers []hosted.Store)
	}{
		{"Increments", testPeerIncrements},
		{"UpdateHelper", func(t *testing.T, ctx context.Context, peers []hosted.Store) { concurrentUpdates(t, ctx, peers, 4) }},
		{"RacingReplaces", func(t *testing.T, ctx context.Context, peers []hosted.Store) { racingReplaces(t, ctx, peers, 3) }},
		{"RacingCreates", func(t *testing.T, ctx context.Context, peers []hosted.Store) { racingCreates(t, ctx, peers, 3) }},
		{"DeleteRacingReplace", testPeerDeleteRacingReplace},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, context.Background(), newPeers(t, 3))
		})
	}
}

// testPeerIncrements: writers on every peer increment one counter by
// read, modify, Replace at the revision read, again on Conflict. Every
// increment that succeeded is in the final count: none is lost.
func testPeerIncrements(t *testing.T, ctx context.Context, peers []hosted.Store) {
	if _, err := hosted.CreateJSON(ctx, peers[0], things, "c", map[string]string{"name": "c"}, counter{}); err != nil {
		t.Fatal(err)
	}
	const writers, each, maxTries = 4, 8, 1000
	var ok, conflicts atomic.Int64
	fanOut(peers, writers, func(s hosted.Store, _, _ int) {
		for range each {
			for try := 0; try < maxTries; try++ {
				var c counter
				r, err := hosted.GetJSON(ctx, s, things, "c", &c)
				if err != nil {
					t.Errorf("get: %v", err)
					return
				}
				c.N++
				r.Data = []byte(fmt.Sprintf(`{"N":%d}`, c.N))
				_, err = s.Replace(ctx, things, r, r.Rev)
				if err == nil {
					ok.Add(1)
					break
				}
				if !fault.Is(err, fault.Conflict) {
					t.Errorf("replace: %v", err)
					return
				}
				conflicts.Add(1)
			}
		}
	})
	var c counter
	r, err := hosted.GetJSON(ctx, peers[len(peers)-1], things, "c", &c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d increments over %d stores, %d conflicts retried", ok.Load(), len(peers), conflicts.Load())
	if int64(c.N) != ok.Load() {
		t.Fatalf("N = %d after %d successful increments: an update was lost", c.N, ok.Load())
	}
	if r.Rev != uint64(ok.Load())+1 {
		t.Fatalf("revision %d after %d replaces of revision 1", r.Rev, ok.Load())
	}
}

// testPeerDeleteRacingReplace: a Delete racing Replaces from other peers
// deletes the record for good: no Replace brings it back, and a Replace
// after it is NotFound.
func testPeerDeleteRacingReplace(t *testing.T, ctx context.Context, peers []hosted.Store) {
	for round := 0; round < 5; round++ {
		id := fmt.Sprint("d", round)
		r := mCreate(t, ctx, peers[0], things, rec(id, id, "", "0"))
		var wg sync.WaitGroup
		for _, s := range peers[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cur := r
				for {
					cur.Data = []byte("x")
					next, err := s.Replace(ctx, things, cur, cur.Rev)
					switch {
					case err == nil:
						cur = next
					case fault.Is(err, fault.NotFound):
						return
					case fault.Is(err, fault.Conflict):
						if cur, err = s.Get(ctx, things, id); fault.Is(err, fault.NotFound) {
							return
						} else if err != nil {
							t.Errorf("get: %v", err)
							return
						}
					default:
						t.Errorf("replace: %v", err)
						return
					}
				}
			}()
		}
		if err := peers[0].Delete(ctx, things, id); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for _, s := range peers {
			if _, err := s.Get(ctx, things, id); !fault.Is(err, fault.NotFound) {
				t.Fatalf("round %d: record back after its delete (%v)", round, err)
			}
		}
	}
}
