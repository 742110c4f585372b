package mongo

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"entrepot/hosted/fault"
)

// On FerretDB v1 an update or a delete is a query followed by a write by
// _id, so two edges replacing one revision can both match it and both
// write. Its inserts are atomic, though: a unique _id refuses the second.
// So there, before Replace or Delete writes over revision rev of a record,
// it inserts a lock document whose _id names (collection, id, rev): of the
// writers of one revision only the one whose insert succeeds may write,
// which makes the revision check a compare-and-swap again.
//
// A writer that dies holding a lock must not block the record for ever, so
// a lock expires after lockTTL. A writer finding an expired lock does not
// take it over (that would be a read-modify-write, the very thing that is
// not atomic here) but inserts the next attempt's lock, (collection, id,
// rev, attempt+1): again only one writer succeeds. A holder writes only
// while its lock has more than lockMargin to live, under a deadline that
// ends before the lock does, and deletes it only then, so an expired lock
// is never deleted from under its successor (nor after a write that failed
// without an answer, which may still land); the writer that moves the
// record on deletes every attempt of the revision it wrote over. What this
// assumes is that the edges' clocks agree within lockMargin, and that a
// write the server received lands within lockMargin of its deadline.
//
// A lock on a revision that is still the record's is deleted, with every
// earlier attempt, by the writer that finally moves the record on. Locks
// outlive their use only where a release after the move failed or never
// ran (the writer died): they block nobody, since writers of that revision
// find the record moved on, and are a few bytes each.
const (
	locksName  = "store_locks"
	lockTTL    = 10 * time.Second
	lockMargin = 3 * time.Second
	// A writer waiting for a lock polls with a backoff from lockMinWait
	// doubling to lockMaxWait, plus jitter so that waiters spread out.
	lockMinWait = 2 * time.Millisecond
	lockMaxWait = 50 * time.Millisecond
	// releaseTimeout bounds the deletion of a lock, which runs detached
	// from the caller's context: a write that succeeded must not leave its
	// lock to expire because the request ended.
	releaseTimeout = 5 * time.Second
)

// A lockDoc is one attempt's lock: e is its expiry in Unix milliseconds by
// its writer's clock.
type lockDoc struct {
	ID  string `bson:"_id"`
	Exp int64  `bson:"e"`
}

// lockID names attempt of the lock on revision rev of the record id of
// collection coll. The collection's length comes first so that no two
// (coll, id) pairs share a name.
func lockID(coll, id string, rev int64, attempt int) string {
	b := make([]byte, 0, len(coll)+len(id)+24)
	b = strconv.AppendInt(b, int64(len(coll)), 10)
	b = append(b, ':')
	b = append(b, coll...)
	b = append(b, '/')
	b = strconv.AppendInt(b, rev, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(attempt), 10)
	b = append(b, '/')
	b = append(b, id...)
	return string(b)
}

// A heldLock is a lock this Store holds.
type heldLock struct {
	s       *Store
	coll    string
	id      string
	rev     int64
	attempt int
	exp     time.Time
}

// lockRevision acquires the lock on revision rev of the record id of coll
// (stored in c). While another writer holds it and the record is still at
// rev, it waits, until the lock is released or expires or ctx ends. When
// the record is gone it returns NotFound, and when it has moved on from
// rev, Conflict: the write would fail anyway.
func (s *Store) lockRevision(ctx context.Context, op string, c *mongo.Collection, coll, id string, rev int64) (*heldLock, error) {
	wait := lockMinWait
	for attempt := 0; ; {
		lid := lockID(coll, id, rev, attempt)
		exp := time.Now().Add(lockTTL)
		_, err := s.locks.InsertOne(ctx, lockDoc{ID: lid, Exp: exp.UnixMilli()})
		if err == nil {
			return &heldLock{s: s, coll: coll, id: id, rev: rev, attempt: attempt, exp: exp}, nil
		}
		if !isDuplicate(err) {
			return nil, wrap(op, err)
		}
		// Taken. Most often its holder has written already and the
		// record has moved on: then there is nothing to wait for.
		cur, err := revision(ctx, c, id)
		if err != nil {
			return nil, fault.Op(op, err)
		}
		if cur != rev {
			return nil, fault.Newf(op, fault.Conflict, "%s %q is no longer at revision %d", coll, id, rev)
		}
		var held lockDoc
		err = s.locks.FindOne(ctx, bson.D{{Key: "_id", Value: lid}}).Decode(&held)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue // released just now, the record unchanged: try again
		case err != nil:
			return nil, wrap(op, err)
		case time.Now().UnixMilli() >= held.Exp:
			attempt++ // its holder died: the next attempt is free
			continue
		}
		d := wait + rand.N(wait)
		wait = min(2*wait, lockMaxWait)
		select {
		case <-ctx.Done():
			return nil, fault.WrapMsg(op, fault.Unavailable, "waiting for another writer of "+coll+" "+strconv.Quote(id), ctx.Err())
		case <-time.After(d):
		}
	}
}

// writeContext returns the context a holder writes under: one that ends
// lockMargin before the lock expires, so that the write cannot land after
// another writer has taken the next attempt. It fails when that moment is
// past already. The caller's own deadline and cancellation do not cut it:
// a write cut short without an answer may still land, so its lock must be
// left to expire, and every other writer of the record would wait for
// that (a burst of short-deadline writers on one record, such as guesses
// counted by the shared login throttle, then loses most of its writes).
// Once the lock is held, finishing the write is the cheapest way out.
func (l *heldLock) writeContext(ctx context.Context, op string) (context.Context, context.CancelFunc, error) {
	end := l.exp.Add(-lockMargin)
	if !time.Now().Before(end) {
		return nil, nil, fault.Newf(op, fault.Unavailable, "lock on %s %q expired before the write", l.coll, l.id)
	}
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
	return wctx, cancel, nil
}

// release deletes the lock: after a successful write (moved), every
// attempt on the revision, since they are all stale now; otherwise only
// its own, and only while it has not expired, since an expired one may
// have a successor that counts on it being there.
func (l *heldLock) release(ctx context.Context, moved bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if moved {
		ids := make(bson.A, 0, l.attempt+1)
		for a := 0; a <= l.attempt; a++ {
			ids = append(ids, lockID(l.coll, l.id, l.rev, a))
		}
		// A lock left behind by a failure here blocks nobody: writers of
		// this revision find the record moved on and get their Conflict.
		l.s.locks.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		return
	}
	if time.Now().Before(l.exp.Add(-lockMargin)) {
		l.s.locks.DeleteOne(ctx, bson.D{{Key: "_id", Value: lockID(l.coll, l.id, l.rev, l.attempt)}})
	}
}

// revision returns the stored revision of the record id, reading nothing
// else of it; a missing record is NotFound.
func revision(ctx context.Context, c *mongo.Collection, id string) (int64, error) {
	const op = "mongo.revision"
	var d struct {
		Rev int64 `bson:"r"`
	}
	err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(bson.D{{Key: "r", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, fault.Newf(op, fault.NotFound, "no %s %q", c.Name(), id)
	}
	if err != nil {
		return 0, wrap(op, err)
	}
	return d.Rev, nil
}
