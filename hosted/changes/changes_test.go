package changes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
	"entrepot/hosted/mongo"
)

// newStores returns n handles on one fresh, empty store: what n edges
// sharing a database hold.
type newStores func(t *testing.T, n int) []hosted.Store

func TestBolt(t *testing.T) {
	run(t, func(t *testing.T, n int) []hosted.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "entrepot.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(context.Background()) })
		out := make([]hosted.Store, n)
		for i := range out {
			out[i] = s // one process holds a bbolt file
		}
		return out
	})
}

func TestMongo(t *testing.T) {
	url := os.Getenv("ENTREPOT_TEST_MONGODB_URL")
	if url == "" {
		t.Skip("ENTREPOT_TEST_MONGODB_URL is not set; `make test` starts a server and sets it")
	}
	run(t, func(t *testing.T, n int) []hosted.Store {
		db := "entrepot_test_" + rand.Text()
		out := make([]hosted.Store, n)
		for i := range out {
			s, err := mongo.Open(context.Background(), url, db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close(context.Background()) })
			out[i] = s
		}
		t.Cleanup(func() { dropAll(t, out[0]) })
		return out
	})
}

// dropAll empties the feed's collection, the one these tests write.
func dropAll(t *testing.T, s hosted.Store) {
	ctx := context.Background()
	for {
		recs, _, err := s.Query(ctx, Collection, hosted.Query{})
		if err != nil || len(recs) == 0 {
			return
		}
		for _, r := range recs {
			s.Delete(ctx, Collection, r.ID)
		}
	}
}

// run is the feed's suite, on any backend.
func run(t *testing.T, stores newStores) {
	cases := []struct {
		name string
		fn   func(t *testing.T, stores newStores)
	}{
		{"EveryChangeOnceInOrder", testEveryChangeOnce},
		{"PruneStoppedWriters", testPrune},
		{"PurgeWhenUnreadable", testPurge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, stores) })
	}
}

// recorder collects what a subscriber is handed.
type recorder struct {
	mu  sync.Mutex
	got []hosted.Change
}

func (r *recorder) add(c hosted.Change) {
	r.mu.Lock()
	r.got = append(r.got, c)
	r.mu.Unlock()
}

func (r *recorder) changes() []hosted.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hosted.Change(nil), r.got...)
}

func (r *recorder) count(kind hosted.ChangeKind) int {
	n := 0
	for _, c := range r.changes() {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds, failing after a generous timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fast() Options { return Options{Interval: 20 * time.Millisecond} }

func start(t *testing.T, f *Feed) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// Two processes writing at once, each from several goroutines (whose
// Notifies share writes): each process sees every change exactly once,
// its own at once, and each goroutine's changes in the order made.
func testEveryChangeOnce(t *testing.T, stores newStores) {
	ss := stores(t, 2)
	const goroutines, each = 4, 15
	const total = 2 * goroutines * each
	feeds := make([]*Feed, 2)
	recs := make([]*recorder, 2)
	for i := range feeds {
		feeds[i], recs[i] = New(ss[i], fast()), &recorder{}
		feeds[i].Subscribe(recs[i].add)
		start(t, feeds[i])
	}
	var wg sync.WaitGroup
	for w, f := range feeds {
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					f.Notify(context.Background(), hosted.Change{Kind: hosted.ChangePackage, Protocol: fmt.Sprintf("w%d/%d", w, g), Name: strconv.Itoa(i)})
				}
			}()
		}
	}
	wg.Wait()
	for i, r := range recs {
		waitFor(t, fmt.Sprintf("follower %d to see %d changes", i, total), func() bool { return len(r.changes()) >= total })
	}
	time.Sleep(10 * fast().Interval) // room for a duplicate to show
	for i, r := range recs {
		got := r.changes()
		if len(got) != total {
			t.Errorf("follower %d saw %d changes, want %d", i, len(got), total)
		}
		next := map[string]int{}
		for _, c := range got {
			n, _ := strconv.Atoi(c.Name)
			if n != next[c.Protocol] {
				t.Errorf("follower %d: %s's change %d came when %d was due", i, c.Protocol, n, next[c.Protocol])
			}
			next[c.Protocol] = n + 1
		}
	}
}

// The document of a writer silent for longer than Retain goes; a writer
// whose document went writes it again, and is followed again.
func testPrune(t *testing.T, stores newStores) {
	ss := stores(t, 2)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	opts := Options{Retain: time.Minute, Now: clock}
	writer, reader := New(ss[0], opts), New(ss[1], opts)
	r := &recorder{}
	reader.Subscribe(r.add)
	fl := &follower{last: map[string]uint64{}}
	writer.Notify(context.Background(), hosted.Change{Kind: hosted.ChangeSettings, Name: "before"})
	reader.Notify(context.Background(), hosted.Change{Kind: hosted.ChangeSettings, Name: "own"})
	if err := reader.read(context.Background(), fl, true); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(2 * time.Minute))
	if err := reader.read(context.Background(), fl, true); err != nil {
		t.Fatal(err)
	}
	recs, _, err := ss[0].Query(context.Background(), Collection, hosted.Query{})
	if err != nil || len(recs) != 1 || recs[0].ID != reader.writer {
		t.Fatalf("left %+v (%v), want the follower's own document only", recs, err)
	}
	writer.Notify(context.Background(), hosted.Change{Kind: hosted.ChangeSettings, Name: "after"})
	if err := reader.read(context.Background(), fl, false); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range r.changes() {
		names = append(names, c.Name)
	}
	if want := []string{"own", "before", "after"}; !slices.Equal(names, want) {
		t.Fatalf("follower saw %v, want %v", names, want)
	}
}

// failing is a store whose reads of the feed fail while down is set.
type failing struct {
	hosted.Store
	down atomic.Bool
}

func (f *failing) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	if f.down.Load() {
		return nil, "", fault.Wrap("test", fault.Unavailable, errors.New("store down"))
	}
	return f.Store.Query(ctx, c, q)
}

// A follower that cannot read the feed past Stale drops everything, and
// once more when it can read again; changes made meanwhile still arrive.
func testPurge(t *testing.T, stores newStores) {
	ss := stores(t, 2)
	cut := &failing{Store: ss[1]}
	follower := New(cut, Options{Interval: 20 * time.Millisecond, Stale: 100 * time.Millisecond})
	r := &recorder{}
	follower.Subscribe(r.add)
	start(t, follower)
	cut.down.Store(true)
	waitFor(t, "a purge", func() bool { return r.count(hosted.ChangeAll) >= 1 })
	New(ss[0], fast()).Notify(context.Background(), hosted.Change{Kind: hosted.ChangeSession, Subject: "s1"})
	purges := r.count(hosted.ChangeAll)
	cut.down.Store(false)
	waitFor(t, "the change made while cut off", func() bool { return r.count(hosted.ChangeSession) == 1 })
	waitFor(t, "a purge on recovery", func() bool { return r.count(hosted.ChangeAll) > purges })
}

// A Local feed hands changes to its own subscribers and records nothing.
func TestLocal(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "entrepot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) }) // after the feeds stop
	f := New(s, Options{Local: true})
	r := &recorder{}
	f.Subscribe(r.add)
	f.Notify(context.Background(), hosted.Change{Kind: hosted.ChangeCredentials})
	if got := r.changes(); len(got) != 1 {
		t.Fatalf("subscriber got %+v, want the change", got)
	}
	if recs, _, err := s.Query(context.Background(), Collection, hosted.Query{}); err != nil || len(recs) != 0 {
		t.Fatalf("%d records (%v), want none", len(recs), err)
	}
}

// A follower that finds a writer's numbers past the last it saw plus one
// reports the changes missed, and hands on those still there.
func TestFollowMissed(t *testing.T) {
	f := New(nil, Options{})
	r := &recorder{}
	f.Subscribe(r.add)
	fl := &follower{last: map[string]uint64{}}
	doc := func(seqs ...uint64) writerDoc {
		var d writerDoc
		for _, q := range seqs {
			d.Entries = append(d.Entries, entry{Seq: q, Change: hosted.Change{Kind: hosted.ChangeClaim, Name: strconv.FormatUint(q, 10)}})
		}
		return d
	}
	steps := []struct {
		name   string
		doc    writerDoc
		missed bool
		got    int // changes handed on so far
	}{
		{"first sight: all of it", doc(4, 5), false, 2},
		{"nothing new", doc(4, 5), false, 2},
		{"next ones", doc(5, 6, 7), false, 4},
		{"a gap", doc(10, 11), true, 6},
	}
	for _, s := range steps {
		if missed := f.follow(fl, "w-x", s.doc, time.Now()); missed != s.missed {
			t.Errorf("%s: missed = %v", s.name, missed)
		}
		if n := len(r.changes()); n != s.got {
			t.Errorf("%s: %d changes handed on, want %d", s.name, n, s.got)
		}
	}
}

// down is a store whose writes fail while set.
type down struct {
	hosted.Store
	on atomic.Bool
}

func (d *down) Create(ctx context.Context, c hosted.Collection, r hosted.Record) (hosted.Record, error) {
	if d.on.Load() {
		return hosted.Record{}, fault.Wrap("test", fault.Unavailable, errors.New("store down"))
	}
	return d.Store.Create(ctx, c, r)
}

func (d *down) Replace(ctx context.Context, c hosted.Collection, r hosted.Record, rev uint64) (hosted.Record, error) {
	if d.on.Load() {
		return hosted.Record{}, fault.Wrap("test", fault.Unavailable, errors.New("store down"))
	}
	return d.Store.Replace(ctx, c, r, rev)
}

// A change whose write failed is recorded once the store takes writes
// again, though no other change comes.
func TestFailedWriteRetried(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "entrepot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) }) // after the feeds stop
	w := &down{Store: s}
	w.on.Store(true)
	writer, reader := New(w, fast()), New(s, fast())
	r := &recorder{}
	reader.Subscribe(r.add)
	start(t, writer)
	start(t, reader)
	writer.Notify(context.Background(), hosted.Change{Kind: hosted.ChangeSession, Subject: "s1"})
	w.on.Store(false)
	waitFor(t, "the change written late", func() bool { return r.count(hosted.ChangeSession) == 1 })
}
