package claimtest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"entrepot/edge"
	"entrepot/hosted"
)

// testRequestContext: the catalog calls a publish and a hosted read make
// run under the request's context (edge.Context): each carries the
// request's id and a deadline, none is made under context.Background().
func testRequestContext(t *testing.T, e *Env) {
	name := e.spell("acme", e.p.Free)
	e.calls.record(true)
	if st, msg := e.p.Publish(t, e, e.Token, name, "1.0.0"); st != e.p.Published {
		t.Fatalf("publish of %s: %d %q", name, st, msg)
	}
	published := e.calls.record(false)
	e.calls.record(true)
	if st, _ := e.p.Versions(t, e, e.Token, name); st != http.StatusOK {
		t.Fatalf("read of %s: %d", name, st)
	}
	read := e.calls.record(false)
	if len(published) == 0 {
		t.Fatal("the publish made no catalog call")
	}
	t.Logf("catalog calls: %d by the publish, %d by the read", len(published), len(read))
	for _, c := range append(published, read...) {
		if c.id == "" || c.deadline.IsZero() {
			t.Errorf("%s on %s ran without the request's context (request id %q, deadline %v)", c.op, c.collection, c.id, c.deadline)
		}
	}
}

// storeCalls records the context of the catalog's store calls while on.
type storeCalls struct {
	mu    sync.Mutex
	on    bool
	calls []storeCall
}

type storeCall struct {
	op, collection string
	id             string    // edge.RequestIDOf
	deadline       time.Time // zero: none
}

// record turns recording on or off and returns what was recorded since
// it was last turned on.
func (s *storeCalls) record(on bool) []storeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.on, s.calls = on, nil
	return out
}

func (s *storeCalls) wrap(st hosted.Store) hosted.Store { return &recordingStore{Store: st, calls: s} }

// catalogCollections are the collections of hosted.Catalog: those every
// request of a package protocol reads or writes. (Audit records and
// cache records are written in the background too.)
var catalogCollections = map[string]bool{"claims": true, "packages": true, "versions": true, "files": true}

func (s *storeCalls) add(ctx context.Context, op string, c hosted.Collection) {
	if !catalogCollections[c.Name] {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.on {
		return
	}
	d, _ := ctx.Deadline()
	s.calls = append(s.calls, storeCall{op: op, collection: c.Name, id: edge.RequestIDOf(ctx), deadline: d})
}

// recordingStore is a hosted.Store that tells storeCalls of each call.
type recordingStore struct {
	hosted.Store
	calls *storeCalls
}

func (r *recordingStore) Get(ctx context.Context, c hosted.Collection, id string) (hosted.Record, error) {
	r.calls.add(ctx, "Get", c)
	return r.Store.Get(ctx, c, id)
}

func (r *recordingStore) Create(ctx context.Context, c hosted.Collection, rec hosted.Record) (hosted.Record, error) {
	r.calls.add(ctx, "Create", c)
	return r.Store.Create(ctx, c, rec)
}

func (r *recordingStore) Replace(ctx context.Context, c hosted.Collection, rec hosted.Record, rev uint64) (hosted.Record, error) {
	r.calls.add(ctx, "Replace", c)
	return r.Store.Replace(ctx, c, rec, rev)
}

func (r *recordingStore) Delete(ctx context.Context, c hosted.Collection, id string) error {
	r.calls.add(ctx, "Delete", c)
	return r.Store.Delete(ctx, c, id)
}

func (r *recordingStore) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	r.calls.add(ctx, "Query", c)
	return r.Store.Query(ctx, c, q)
}

var _ hosted.Store = (*recordingStore)(nil)
