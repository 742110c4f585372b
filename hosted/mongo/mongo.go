// Package mongo implements hosted.Store on MongoDB, for deployments that run
// several edges against one database.
//
// Each hosted.Collection is one MongoDB collection of the same name, holding
// one document per record:
//
//	{_id: id, r: revision (int64), k: {<key>: value, ...}, d: body (binary)}
//
// Every operation is a single-document write or a read, so the store needs
// no transactions and runs on a standalone server as well as on a replica
// set. Unique keys are enforced by unique indexes on k.<key>; Replace is a
// compare-and-swap on r.
//
// FerretDB (v1, SQLite backend) speaks the protocol but runs an update or a
// delete as a query followed by a write by _id, so the filter on r does not
// make Replace atomic there. On FerretDB the Store therefore also serialises
// the writes of each record within the process: correct for one process, not
// for several sharing a FerretDB database. MongoDB needs none of this.
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
	// has created. indexMu makes the first uses of a collection wait for one
	// creation: concurrent createIndexes crash FerretDB's connection handler.
	ensured sync.Map // string → struct{}
	indexMu sync.Mutex

	// records is non-nil on FerretDB only, where it stands in for the
	// atomicity the server lacks (see the package comment).
	records *recordLocks
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
		s.records = &recordLocks{m: make(map[string]*recordLock)}
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
// an update.
func isDuplicate(err error) bool {
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(1) && strings.Contains(se.Error(), "UNIQUE constraint failed")
}

// recordLocks holds one mutex per record being written.
type recordLocks struct {
	mu sync.Mutex
	m  map[string]*recordLock
}

type recordLock struct {
	sync.Mutex
	waiters int // guarded by recordLocks.mu
}

// lock locks the record id of c, if the Store needs it, and returns the
// function that unlocks it.
func (s *Store) lock(c hosted.Collection, id string) (unlock func()) {
	l := s.records
	if l == nil {
		return func() {}
	}
	key := c.Name + "\x00" + id
	l.mu.Lock()
	rl := l.m[key]
	if rl == nil {
		rl = new(recordLock)
		l.m[key] = rl
	}
	rl.waiters++
	l.mu.Unlock()
	rl.Lock()
	return func() {
		rl.Unlock()
		l.mu.Lock()
		if rl.waiters--; rl.waiters == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
}

// A document is the stored form of a hosted.Record.
type document struct {
	ID   string            `bson:"_id"`
	Rev  int64             `bson:"r"`
	Keys map[string]string `bson:"k"`
	Data []byte            `bson:"d"`
}

func (d document) record() hosted.Record {
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
	if c.Name == "" {
		return nil, fault.New(op, fault.Invalid, "collection without a name")
	}
	var models []mongo.IndexModel
	for _, name := range c.Unique {
		if err := checkKeyName(op, name); err != nil {
			return nil, err
		}
		// Scans of a unique key sort on the key alone (see Query), so this
		// index serves them too.
		models = append(models, mongo.IndexModel{
			Keys:    bson.D{{Key: field(name), Value: 1}},
			Options: options.Index().SetUnique(true),
		})
	}
	for _, name := range c.Index {
		if err := checkKeyName(op, name); err != nil {
			return nil, err
		}
		models = append(models, mongo.IndexModel{
			Keys: bson.D{{Key: field(name), Value: 1}, {Key: "_id", Value: 1}},
		})
	}
	if len(models) > 0 {
		if _, err := coll.Indexes().CreateMany(ctx, models); err != nil {
			return nil, wrap(op, fmt.Errorf("creating indexes of %s: %w", c.Name, err))
		}
	}
	s.ensured.Store(c.Name, struct{}{})
	return coll, nil
}

// checkKeyName rejects key names that MongoDB would read as a path or an
// operator. Key names are declared in code, so this only catches a bug.
func checkKeyName(op, name string) error {
	if name == "" || strings.ContainsAny(name, ".\x00") || name[0] == '$' {
		return fault.Newf(op, fault.Invalid, "key name %q cannot be stored in MongoDB", name)
	}
	return nil
}

// newDocument checks r's keys against c and returns its stored form with
// revision rev. Keys with an empty value are left out, so that the record
// is left out of their index.
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
			keys[name] = v
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
	defer s.lock(c, r.ID)()
	res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: r.ID}, {Key: "r", Value: int64(rev)}}, d.bson())
	if isDuplicate(err) {
		return hosted.Record{}, fault.WrapMsg(op, fault.Conflict, fmt.Sprintf("a unique key of %s %q is taken", c.Name, r.ID), err)
	}
	if err != nil {
		return hosted.Record{}, wrap(op, err)
	}
	if res.MatchedCount == 1 {
		return d.record(), nil
	}
	// Nothing matched: either the record is gone or someone wrote first.
	if _, err := s.Get(ctx, c, r.ID); err != nil {
		return hosted.Record{}, fault.Op(op, err)
	}
	return hosted.Record{}, fault.Newf(op, fault.Conflict, "%s %q is no longer at revision %d", c.Name, r.ID, rev)
}

// Delete removes the record id of c; a missing record is not an error.
func (s *Store) Delete(ctx context.Context, c hosted.Collection, id string) error {
	const op = "mongo.Delete"
	coll, err := s.collection(ctx, op, c)
	if err != nil {
		return err
	}
	defer s.lock(c, id)()
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return wrap(op, err)
	}
	return nil
}

// Query scans q.Key of c in ascending order of (value, id); see hosted.Query.
func (s *Store) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	const op = "mongo.Query"
	path, sort := "_id", bson.D{{Key: "_id", Value: 1}}
	if q.Key != "" {
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
		match = bson.D{{Key: "$eq", Value: q.Prefix}}
	} else {
		match = bson.D{{Key: "$gte", Value: q.Prefix}}
		if end, ok := prefixEnd(q.Prefix); ok {
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
