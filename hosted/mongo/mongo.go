// Package mongo implements hosted.Store on MongoDB, for deployments that run
// several edges against one database.
//
// Each hosted.Collection is one MongoDB collection of the same name, holding
// one document per record:
//
//	{_id: id, r: revision (int64), k: {<key>: value, ...}, d: body (binary)}
//
// Key values are stored escaped so that they hold no NUL byte (see
// hosted.EscapeKey); ids are stored as they are. Values a Store before
// escaping wrote raw are escaped on a collection's first use (upgrade.go).
//
// Every operation is a single-document write or a read, so the store needs
// no transactions and runs on a standalone server as well as on a replica
// set. Unique keys are enforced by unique indexes on k.<key>; Replace is a
// compare-and-swap on r. The collections store_locks and store_formats are
// the Store's own.
//
// FerretDB v1 (which Open recognises by its buildInfo answer) speaks the
// protocol but differs from MongoDB in three ways that matter here, and the
// Store works around each, for any number of edges on one database:
//   - It drops the connection when one createIndexes command asks for
//     several indexes that exist already, which a second edge, or one
//     restarting, does. So the Store lists a collection's indexes on its
//     first use and creates the missing ones one command each, taking "it
//     exists" for success (index.go).
//   - An update or a delete is a query followed by a write by _id, so the
//     filter on r does not make Replace atomic: two edges could both win
//     one revision and one update be lost. There, Replace and Delete first
//     take a lock on the revision they write over, a document in
//     store_locks that only one writer can insert (lock.go). That costs
//     two more round trips per write, and nothing on MongoDB, whose
//     single-document writes are atomic.
//   - Its PostgreSQL backend refuses strings holding a NUL byte, which
//     composite key values hold: hence the escaped keys, on both servers,
//     so that one database can move between them.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// dialTimeout bounds connecting and server selection. The driver's default
// of 30 s would leave a misconfigured edge silent at start-up and stall
// every request while the server is away; 10 s still rides out an election.
const dialTimeout = 10 * time.Second

// Store is a hosted.Store on one MongoDB database. It is safe for
// concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database

	// ensured holds the names of the collections whose indexes this Store
	// has checked. indexMu makes the first uses of a collection wait for one
	// check: concurrent createIndexes crash FerretDB's connection handler.
	ensured sync.Map // string → struct{}
	indexMu sync.Mutex

	// locks is the collection of revision locks, non-nil on FerretDB only,
	// where they stand in for the atomicity the server lacks (see lock.go).
	locks *mongo.Collection
}

// Open connects to the MongoDB server at uri, checks that it answers and
// returns a Store on database. An unreachable server (or one refusing the
// credentials) is Unavailable and a malformed uri Invalid; the error names
// the server with its password redacted.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	const op = "mongo.Open"
	if database == "" {
		return nil, fault.New(op, fault.Invalid, "no MongoDB database name")
	}
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(dialTimeout).
		SetConnectTimeout(dialTimeout)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Invalid, "bad MongoDB URL "+redact(uri), scrub(err, uri))
	}
	// Disconnect on a context of its own: ctx may be what just expired.
	fail := func(err error) error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
		defer cancel()
		client.Disconnect(dctx)
		return fault.WrapMsg(op, fault.Unavailable, "cannot connect to MongoDB at "+redact(uri), scrub(err, uri))
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		return nil, fail(err)
	}
	var info struct {
		FerretDB string `bson:"ferretdbVersion"`
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return nil, fail(err)
	}
	s := &Store{client: client, db: client.Database(database)}
	if info.FerretDB != "" {
		s.locks = s.db.Collection(locksName)
	}
	return s, nil
}

// redact returns uri without its password and query options (which may hold
// key-file passwords or tokens), for messages and logs. It assumes nothing
// about the URI being well formed and errs on the side of hiding too much.
func redact(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "(unparsable MongoDB URL)"
	}
	// An unescaped '?' or '@' inside a password is malformed, but must not
	// leak either: take the userinfo up to the last '@' of the whole string.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, _, hasPassword := strings.Cut(rest[:i], ":")
		if hasPassword {
			user += ":xxxxx"
		}
		rest = user + "@" + rest[i+1:]
	}
	if i := strings.Index(rest, "?"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + "://" + rest
}

// scrub returns err with every occurrence of uri's password blanked out, for
// driver errors that might quote it.
func scrub(err error, uri string) error {
	_, rest, _ := strings.Cut(uri, "://")
	i := strings.LastIndex(rest, "@")
	if i < 0 {
		return err
	}
	_, password, _ := strings.Cut(rest[:i], ":")
	if password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "xxxxx"))
}

// kind classifies a driver error that is not an expected outcome: the
// server being away or slow is Unavailable, anything else Internal.
func kind(err error) fault.Kind {
	switch {
	case mongo.IsTimeout(err), mongo.IsNetworkError(err),
		errors.Is(err, context.Canceled), errors.Is(err, mongo.ErrClientDisconnected):
		return fault.Unavailable
	}
	return fault.Internal
}

func wrap(op string, err error) error { return fault.Wrap(op, kind(err), err) }

// isDuplicate reports whether err is a unique index refusing a write.
// FerretDB reports that as an InternalError, not E11000, when the write is
// an update: with the message of SQLite or of PostgreSQL (unique_violation).
func isDuplicate(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(1) {
		return false
	}
	msg := se.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// A document is the stored form of a hosted.Record.
type document struct {
	ID   string            `bson:"_id"`
	Rev  int64             `bson:"r"`
	Keys map[string]string `bson:"k"`
	Data []byte            `bson:"d"`
}

// record is the hosted.Record d stores, its key values unescaped.
func (d document) record() hosted.Record {
	for name, v := range d.Keys {
		d.Keys[name] = hosted.UnescapeKey(v)
	}
	return hosted.Record{ID: d.ID, Rev: uint64(d.Rev), Keys: d.Keys, Data: d.Data}
}

// field is the document path of key name.
func field(name string) string { return "k." + name }

// collection returns the MongoDB collection of c, creating its indexes the
// first time this Store uses it.
func (s *Store) collection(ctx context.Context, op string, c hosted.Collection) (*mongo.Collection, error) {
	coll := s.db.Collection(c.Name)
	if _, ok := s.ensured.Load(c.Name); ok {
		return coll, nil
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if _, ok := s.ensured.Load(c.Name); ok {
		return coll, nil
	}
	if c.Name == "" || c.Name == locksName || c.Name == formatsName {
		return nil, fault.Newf(op, fault.Invalid, "collection name %q is not allowed", c.Name)
	}
	want, err := indexesOf(op, c)
	if err != nil {
		return nil, err
	}
	if err := ensureIndexes(ctx, coll, want); err != nil {
		return nil, wrap(op, fmt.Errorf("creating indexes of %s: %w", c.Name, err))
	}
	if err := s.upgradeKeys(ctx, op, coll, c); err != nil {
		return nil, err
	}
	s.ensured.Store(c.Name, struct{}{})
	return coll, nil
}

// newDocument checks r's keys against c and returns its stored form with
// revision rev, key values escaped. Keys with an empty value are left out,
// so that the record is left out of their index.
func newDocument(op string, c hosted.Collection, r hosted.Record, rev int64) (document, error) {
	if r.ID == "" || strings.IndexByte(r.ID, 0) >= 0 {
		return document{}, fault.New(op, fault.Invalid, "empty id or NUL in id")
	}
	for _, name := range c.Unique {
		if r.Keys[name] == "" {
			return document{}, fault.Newf(op, fault.Invalid, "record %q has no value for unique key %q", r.ID, name)
		}
	}
	keys := make(map[string]string, len(r.Keys))
	for name, v := range r.Keys {
		if declared, _ := c.Keys(name); !declared {
			return document{}, fault.Newf(op, fault.Invalid, "record %q has undeclared key %q", r.ID, name)
		}
		if v != "" {
			keys[name] = hosted.EscapeKey(v)
		}
	}
	return document{ID: r.ID, Rev: rev, Keys: keys, Data: r.Data}, nil
}

// bson spells out d so that its body is always a binary, even when empty
// (a nil []byte would be stored as null).
func (d document) bson() bson.D {
	return bson.D{
		{Key: "_id", Value: d.ID},
		{Key: "r", Value: d.Rev},
		{Key: "k", Value: d.Keys},
		{Key: "d", Value: bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: d.Data}},
	}
}

// Get returns the record id of c, or a NotFound error.
func (s *Store) Get(ctx context.Context, c hosted.Collection, id string) (hosted.Record, error) {
	const op = "mongo.Get"
	coll, err := s.collection(ctx, op, c)
	if err != nil {
		return hosted.Record{}, err
	}
	var d document
	err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return hosted.Record{}, fault.Newf(op, fault.NotFound, "no %s %q", c.Name, id)
	}
	if err != nil {
		return hosted.Record{}, wrap(op, err)
	}
	return d.record(), nil
}

// Create inserts r with revision 1. An id or unique value already present
// is a Conflict, and a missing unique value Invalid.
func (s *Store) Create(ctx context.Context, c hosted.Collection, r hosted.Record) (hosted.Record, error) {
	const op = "mongo.Create"
	d, err := newDocument(op, c, r, 1)
	if err != nil {
		return hosted.Record{}, err
	}
	coll, err := s.collection(ctx, op, c)
	if err != nil {
		return hosted.Record{}, err
	}
	if _, err := coll.InsertOne(ctx, d.bson()); err != nil {
		if isDuplicate(err) {
			return hosted.Record{}, fault.WrapMsg(op, fault.Conflict, fmt.Sprintf("%s %q or one of its unique keys exists", c.Name, r.ID), err)
		}
		return hosted.Record{}, wrap(op, err)
	}
	return d.record(), nil
}

// Replace writes r over the record r.ID if its revision is still rev.
func (s *Store) Replace(ctx context.Context, c hosted.Collection, r hosted.Record, rev uint64) (hosted.Record, error) {
	const op = "mongo.Replace"
	d, err := newDocument(op, c, r, int64(rev)+1)
	if err != nil {
		return hosted.Record{}, err
	}
	coll, err := s.collection(ctx, op, c)
	if err != nil {
		return hosted.Record{}, err
	}
	matched := false
	err = s.writeRevision(ctx, op, coll, c.Name, r.ID, int64(rev), func(ctx context.Context) (bool, error) {
		res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: r.ID}, {Key: "r", Value: int64(rev)}}, d.bson())
		if isDuplicate(err) {
			return false, fault.WrapMsg(op, fault.Conflict, fmt.Sprintf("a unique key of %s %q is taken", c.Name, r.ID), err)
		}
		if err != nil {
			return false, wrap(op, err)
		}
		matched = res.MatchedCount == 1
		return matched, nil
	})
	if err != nil {
		return hosted.Record{}, err
	}
	if matched {
		return d.record(), nil
	}
	// Nothing matched: either the record is gone or someone wrote first.
	if _, err := s.Get(ctx, c, r.ID); err != nil {
		return hosted.Record{}, fault.Op(op, err)
	}
	return hosted.Record{}, fault.Newf(op, fault.Conflict, "%s %q is no longer at revision %d", c.Name, r.ID, rev)
}

// writeRevision runs write, which writes over revision rev of the record id
// of coll and reports whether it did. On MongoDB it just runs it; on
// FerretDB it runs it holding the lock on rev, under the deadline the lock
// gives (see lock.go). The lock's errors are NotFound when the record is
// gone, Conflict when it has moved on from rev, Unavailable otherwise.
func (s *Store) writeRevision(ctx context.Context, op string, coll *mongo.Collection, name, id string, rev int64, write func(ctx context.Context) (bool, error)) error {
	if s.locks == nil {
		_, err := write(ctx)
		return err
	}
	l, err := s.lockRevision(ctx, op, coll, name, id, rev)
	if err != nil {
		return err
	}
	wctx, cancel, err := l.writeContext(ctx, op)
	if err != nil {
		l.release(ctx, false)
		return err
	}
	defer cancel()
	moved, err := write(wctx)
	switch {
	case moved:
		l.release(ctx, true)
	case err == nil || !fault.Is(err, fault.Unavailable):
		l.release(ctx, false)
	default:
		// The write timed out or lost its connection, and may still land:
		// only the lock's expiry may free the revision then.
	}
	return err
}

// maxDeleteTries bounds Delete's rounds on FerretDB, each of which a write
// of the record between its read and its delete makes start again.
const maxDeleteTries = 64

// Delete removes the record id of c; a missing record is not an error.
func (s *Store) Delete(ctx context.Context, c hosted.Collection, id string) error {
	const op = "mongo.Delete"
	coll, err := s.collection(ctx, op, c)
	if err != nil {
		return err
	}
	filter := bson.D{{Key: "_id", Value: id}}
	if s.locks == nil {
		if _, err := coll.DeleteOne(ctx, filter); err != nil {
			return wrap(op, err)
		}
		return nil
	}
	// On FerretDB a delete racing a Replace could let the Replace's write
	// by _id land after it: delete a revision, under its lock.
	for try := 0; try < maxDeleteTries; try++ {
		rev, err := revision(ctx, coll, id)
		if fault.Is(err, fault.NotFound) {
			return nil
		}
		if err != nil {
			return fault.Op(op, err)
		}
		deleted := false
		err = s.writeRevision(ctx, op, coll, c.Name, id, rev, func(ctx context.Context) (bool, error) {
			res, err := coll.DeleteOne(ctx, append(filter, bson.E{Key: "r", Value: rev}))
			if err != nil {
				return false, wrap(op, err)
			}
			deleted = res.DeletedCount == 1
			return deleted, nil
		})
		switch {
		case deleted || fault.Is(err, fault.NotFound):
			return nil
		case err == nil || fault.Is(err, fault.Conflict):
			continue // written meanwhile: delete the new revision
		default:
			return err
		}
	}
	return fault.Newf(op, fault.Conflict, "%s %q is written too often to be deleted", c.Name, id)
}

// Query scans q.Key of c in ascending order of (value, id); see hosted.Query.
func (s *Store) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	const op = "mongo.Query"
	path, sort := "_id", bson.D{{Key: "_id", Value: 1}}
	// Key values are stored escaped, ids as they are.
	prefix := q.Prefix
	if q.Key != "" {
		prefix = hosted.EscapeKey(prefix)
		declared, unique := c.Keys(q.Key)
		if !declared {
			return nil, "", fault.Newf(op, fault.Invalid, "%s has no key %q", c.Name, q.Key)
		}
		path = field(q.Key)
		// Values of a unique key are distinct, so ordering by the value
		// alone is ordering by (value, id), and the unique index serves it.
		sort = bson.D{{Key: path, Value: 1}}
		if !unique {
			sort = append(sort, bson.E{Key: "_id", Value: 1})
		}
	}
	coll, err := s.collection(ctx, op, c)
	if err != nil {
		return nil, "", err
	}
	limit := q.Limit
	if limit <= 0 || limit > hosted.MaxPage {
		limit = hosted.MaxPage
	}

	// A string comparison only matches strings, so $gte "" also leaves out
	// the records that lack the key.
	var match bson.D
	if q.Exact {
		match = bson.D{{Key: "$eq", Value: prefix}}
	} else {
		match = bson.D{{Key: "$gte", Value: prefix}}
		if end, ok := prefixEnd(prefix); ok {
			match = append(match, bson.E{Key: "$lt", Value: end})
		}
	}
	if q.After != "" && q.Key == "" {
		match = append(match, bson.E{Key: "$gt", Value: q.After})
	}
	filter := bson.D{{Key: path, Value: match}}
	if q.After != "" && q.Key != "" {
		// Strictly after (value, id) in the scan's order.
		v, id := hosted.SplitCursor(q.After)
		v = hosted.EscapeKey(v)
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: path, Value: bson.D{{Key: "$gt", Value: v}}}},
			bson.D{{Key: path, Value: v}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: id}}}},
		}})
	}

	// One more than the page tells whether there is a next one.
	cur, err := coll.Find(ctx, filter, options.Find().SetSort(sort).SetLimit(int64(limit)+1))
	if err != nil {
		return nil, "", wrap(op, err)
	}
	defer cur.Close(ctx)
	var out []hosted.Record
	more := false
	for cur.Next(ctx) {
		var d document
		if err := cur.Decode(&d); err != nil {
			return nil, "", wrap(op, err)
		}
		r := d.record()
		value := r.ID
		if q.Key != "" {
			value = r.Keys[q.Key]
		}
		// Belt and braces for prefixes prefixEnd could not bound.
		if !q.Exact && !strings.HasPrefix(value, q.Prefix) {
			break
		}
		if len(out) == limit {
			more = true
			break
		}
		out = append(out, r)
	}
	if err := cur.Err(); err != nil {
		return nil, "", wrap(op, err)
	}
	if !more {
		return out, "", nil
	}
	return out, hosted.Cursor(out[len(out)-1], q.Key), nil
}

// prefixEnd returns the least string greater than every string that starts
// with prefix, in the byte order both Go and MongoDB compare strings in:
// prefix with its last code point incremented, after dropping trailing
// U+10FFFF. ok is false when there is no such bound (an empty or invalid
// prefix, or one made of U+10FFFF only).
func prefixEnd(prefix string) (end string, ok bool) {
	if !utf8.ValidString(prefix) {
		return "", false
	}
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		switch {
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF: // the surrogates are not code points
			r = 0xE000
		default:
			r++
		}
		return prefix + string(r), true
	}
	return "", false
}

// Ping reports whether the primary answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fault.Wrap("mongo.Ping", fault.Unavailable, err)
	}
	return nil
}

// Close disconnects from the server, waiting for operations in flight
// until ctx is done.
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return fault.Wrap("mongo.Close", fault.Unavailable, err)
	}
	return nil
}

var _ hosted.Store = (*Store)(nil)
