// Package bolt is the embedded hosted.Store: one bbolt file under DATA_DIR,
// so that a laptop needs no database server.
//
// Layout inside the file, per collection C:
//
//	d/C              id → record (rev, keys, data)
//	u/C/<key>        value → id                    (unique keys)
//	i/C/<key>        escaped value \x00 id → empty (every declared key, for ordered scans)
//	meta             "format" → "2"
//
// Index entries hold the value escaped by hosted.EscapeKey, which leaves no
// NUL in it: the NUL after it then ends the value unambiguously and sorts
// (value, id) pairs in the order of the values, even where values hold
// NULs (composite keys). Files of format 1, whose entries held raw values,
// are rewritten when opened.
//
// Every Store call is one bbolt transaction, so a record and its keys change
// together or not at all.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Store is a hosted.Store in a bbolt file. It is safe for concurrent use;
// writes are serialized by bbolt.
type Store struct {
	db *bbolt.DB
}

// Open opens or creates the file at path. A second process opening the same
// file waits up to a few seconds for bbolt's lock and then fails with an
// Unavailable error, which is what keeps two edges off one data directory.
func Open(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 3 * time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			err = fmt.Errorf("%s is locked by another process", path)
		}
		return nil, fault.Wrap("bolt.Open", fault.Unavailable, err)
	}
	if err := db.Update(upgrade); err != nil {
		db.Close()
		return nil, fault.Wrap("bolt.Open", fault.Internal, fmt.Errorf("upgrading %s: %w", path, err))
	}
	return &Store{db: db}, nil
}

var (
	metaBucket = []byte("meta")
	formatKey  = []byte("format")
	format     = []byte("2")
)

// upgrade rewrites a format 1 file's index entries, value \x00 id with the
// value raw, into escaped ones, and records the format. Ids hold no NUL,
// so the last NUL of an old entry is the one before its id.
func upgrade(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(metaBucket)
	if err != nil {
		return err
	}
	if bytes.Equal(meta.Get(formatKey), format) {
		return nil
	}
	var indexes [][]byte
	err = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if bytes.HasPrefix(name, []byte("i/")) {
			indexes = append(indexes, bytes.Clone(name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range indexes {
		var entries [][]byte
		err := tx.Bucket(name).ForEach(func(k, _ []byte) error {
			i := bytes.LastIndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("index entry %q of %s has no id", k, name)
			}
			entries = append(entries, indexKey(string(k[:i]), string(k[i+1:])))
			return nil
		})
		if err != nil {
			return err
		}
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		b, err := tx.CreateBucket(name)
		if err != nil {
			return err
		}
		for _, k := range entries {
			if err := b.Put(k, nil); err != nil {
				return err
			}
		}
	}
	return meta.Put(formatKey, format)
}

func dataBucket(c hosted.Collection) []byte             { return []byte("d/" + c.Name) }
func uniqueBucket(c hosted.Collection, k string) []byte { return []byte("u/" + c.Name + "/" + k) }
func indexBucket(c hosted.Collection, k string) []byte  { return []byte("i/" + c.Name + "/" + k) }

// indexKey is the index entry of a record id whose key has value.
func indexKey(value, id string) []byte {
	value = hosted.EscapeKey(value)
	b := make([]byte, 0, len(value)+1+len(id))
	b = append(b, value...)
	b = append(b, 0)
	return append(b, id...)
}

// encode lays a record out as rev (8 bytes), key count, then
// length-prefixed key names and values, then the data.
func encode(r hosted.Record) []byte {
	names := make([]string, 0, len(r.Keys))
	for k := range r.Keys {
		names = append(names, k)
	}
	sort.Strings(names)
	b := binary.BigEndian.AppendUint64(nil, r.Rev)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		v := r.Keys[k]
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return append(b, r.Data...)
}

var errCorrupt = errors.New("corrupt record")

func decode(id string, b []byte) (hosted.Record, error) {
	r := hosted.Record{ID: id}
	if len(b) < 8 {
		return r, errCorrupt
	}
	r.Rev = binary.BigEndian.Uint64(b)
	b = b[8:]
	str := func() (string, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			return "", false
		}
		s := string(b[w : w+int(n)])
		b = b[w+int(n):]
		return s, true
	}
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return r, errCorrupt
	}
	b = b[w:]
	if n > 0 {
		r.Keys = make(map[string]string, n)
	}
	for i := uint64(0); i < n; i++ {
		k, ok1 := str()
		v, ok2 := str()
		if !ok1 || !ok2 {
			return r, errCorrupt
		}
		r.Keys[k] = v
	}
	r.Data = append([]byte(nil), b...)
	return r, nil
}

// check validates a record's keys against the collection.
func check(op string, c hosted.Collection, r hosted.Record) error {
	if r.ID == "" || strings.IndexByte(r.ID, 0) >= 0 {
		return fault.New(op, fault.Invalid, "empty id or NUL in id")
	}
	for _, u := range c.Unique {
		if r.Keys[u] == "" {
			return fault.Newf(op, fault.Invalid, "%s: unique key %q has no value", c.Name, u)
		}
	}
	for k := range r.Keys {
		if ok, _ := c.Keys(k); !ok {
			return fault.Newf(op, fault.Invalid, "%s: undeclared key %q", c.Name, k)
		}
	}
	return nil
}

// Get implements hosted.Store.
func (s *Store) Get(ctx context.Context, c hosted.Collection, id string) (hosted.Record, error) {
	var r hosted.Record
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(dataBucket(c))
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return fault.Newf("bolt.Get", fault.NotFound, "%s %q not found", c.Name, id)
		}
		var err error
		r, err = decode(id, v)
		return fault.Wrap("bolt.Get", fault.Internal, err)
	})
	return r, err
}

// Create implements hosted.Store.
func (s *Store) Create(ctx context.Context, c hosted.Collection, r hosted.Record) (hosted.Record, error) {
	const op = "bolt.Create"
	if err := check(op, c, r); err != nil {
		return r, err
	}
	r.Rev = 1
	err := s.db.Update(func(tx *bbolt.Tx) error {
		d, err := tx.CreateBucketIfNotExists(dataBucket(c))
		if err != nil {
			return fault.Wrap(op, fault.Internal, err)
		}
		if d.Get([]byte(r.ID)) != nil {
			return fault.Newf(op, fault.Conflict, "%s %q exists", c.Name, r.ID)
		}
		if err := addKeys(tx, c, r); err != nil {
			return err
		}
		return fault.Wrap(op, fault.Internal, d.Put([]byte(r.ID), encode(r)))
	})
	return r, err
}

// addKeys claims r's unique values and adds its index entries; a taken
// unique value fails the transaction with Conflict.
func addKeys(tx *bbolt.Tx, c hosted.Collection, r hosted.Record) error {
	const op = "bolt.keys"
	for k, v := range r.Keys {
		if _, unique := c.Keys(k); unique {
			u, err := tx.CreateBucketIfNotExists(uniqueBucket(c, k))
			if err != nil {
				return fault.Wrap(op, fault.Internal, err)
			}
			if owner := u.Get([]byte(v)); owner != nil && string(owner) != r.ID {
				return fault.Newf(op, fault.Conflict, "%s %s %q is taken", c.Name, k, v)
			}
			if err := u.Put([]byte(v), []byte(r.ID)); err != nil {
				return fault.Wrap(op, fault.Internal, err)
			}
		}
		if v == "" {
			continue
		}
		i, err := tx.CreateBucketIfNotExists(indexBucket(c, k))
		if err != nil {
			return fault.Wrap(op, fault.Internal, err)
		}
		if err := i.Put(indexKey(v, r.ID), nil); err != nil {
			return fault.Wrap(op, fault.Internal, err)
		}
	}
	return nil
}

func removeKeys(tx *bbolt.Tx, c hosted.Collection, r hosted.Record) error {
	for k, v := range r.Keys {
		if _, unique := c.Keys(k); unique {
			if u := tx.Bucket(uniqueBucket(c, k)); u != nil {
				if owner := u.Get([]byte(v)); string(owner) == r.ID {
					if err := u.Delete([]byte(v)); err != nil {
						return fault.Wrap("bolt.keys", fault.Internal, err)
					}
				}
			}
		}
		if i := tx.Bucket(indexBucket(c, k)); i != nil {
			if err := i.Delete(indexKey(v, r.ID)); err != nil {
				return fault.Wrap("bolt.keys", fault.Internal, err)
			}
		}
	}
	return nil
}

// Replace implements hosted.Store.
func (s *Store) Replace(ctx context.Context, c hosted.Collection, r hosted.Record, rev uint64) (hosted.Record, error) {
	const op = "bolt.Replace"
	if err := check(op, c, r); err != nil {
		return r, err
	}
	r.Rev = rev + 1
	err := s.db.Update(func(tx *bbolt.Tx) error {
		d := tx.Bucket(dataBucket(c))
		var v []byte
		if d != nil {
			v = d.Get([]byte(r.ID))
		}
		if v == nil {
			return fault.Newf(op, fault.NotFound, "%s %q not found", c.Name, r.ID)
		}
		old, err := decode(r.ID, v)
		if err != nil {
			return fault.Wrap(op, fault.Internal, err)
		}
		if old.Rev != rev {
			return fault.Newf(op, fault.Conflict, "%s %q changed meanwhile", c.Name, r.ID)
		}
		if err := removeKeys(tx, c, old); err != nil {
			return err
		}
		if err := addKeys(tx, c, r); err != nil {
			return err
		}
		return fault.Wrap(op, fault.Internal, d.Put([]byte(r.ID), encode(r)))
	})
	return r, err
}

// Delete implements hosted.Store.
func (s *Store) Delete(ctx context.Context, c hosted.Collection, id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		d := tx.Bucket(dataBucket(c))
		if d == nil {
			return nil
		}
		v := d.Get([]byte(id))
		if v == nil {
			return nil
		}
		old, err := decode(id, v)
		if err != nil {
			return fault.Wrap("bolt.Delete", fault.Internal, err)
		}
		if err := removeKeys(tx, c, old); err != nil {
			return err
		}
		return fault.Wrap("bolt.Delete", fault.Internal, d.Delete([]byte(id)))
	})
}

// Query implements hosted.Store.
func (s *Store) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	const op = "bolt.Query"
	if q.Key != "" {
		if ok, _ := c.Keys(q.Key); !ok {
			return nil, "", fault.Newf(op, fault.Invalid, "%s: undeclared key %q", c.Name, q.Key)
		}
	}
	limit := q.Limit
	if limit <= 0 || limit > hosted.MaxPage {
		limit = hosted.MaxPage
	}
	var out []hosted.Record
	var next string
	err := s.db.View(func(tx *bbolt.Tx) error {
		d := tx.Bucket(dataBucket(c))
		if d == nil {
			return nil
		}
		var cur *bbolt.Cursor
		var seekTo []byte
		prefix := []byte(q.Prefix)
		if q.Key != "" {
			prefix = []byte(hosted.EscapeKey(q.Prefix))
		}
		if q.Key == "" {
			cur = d.Cursor()
			seekTo = prefix
			if q.After != "" {
				seekTo = append([]byte(q.After), 0) // the smallest id after the cursor
			}
		} else {
			i := tx.Bucket(indexBucket(c, q.Key))
			if i == nil {
				return nil
			}
			cur = i.Cursor()
			seekTo = prefix
			if q.Exact {
				seekTo = indexKey(q.Prefix, "")
			}
			if q.After != "" {
				v, id := hosted.SplitCursor(q.After)
				seekTo = append(indexKey(v, id), 0)
			}
		}
		if q.Key != "" && q.Exact {
			prefix = indexKey(q.Prefix, "")
		}
		for k, _ := cur.Seek(seekTo); k != nil; k, _ = cur.Next() {
			if !bytes.HasPrefix(k, prefix) {
				if bytes.Compare(k, prefix) > 0 {
					break
				}
				continue
			}
			id := string(k)
			if q.Key != "" {
				id = string(k[bytes.LastIndexByte(k, 0)+1:])
			}
			if len(out) == limit {
				next = hosted.Cursor(out[len(out)-1], q.Key)
				break
			}
			r, err := decode(id, d.Get([]byte(id)))
			if err != nil {
				return fault.Wrap(op, fault.Internal, fmt.Errorf("%s %q: %w", c.Name, id, err))
			}
			out = append(out, r)
		}
		return nil
	})
	return out, next, err
}

// Ping implements hosted.Store.
func (s *Store) Ping(ctx context.Context) error {
	return fault.Wrap("bolt.Ping", fault.Unavailable, s.db.View(func(*bbolt.Tx) error { return nil }))
}

// Close implements hosted.Store.
func (s *Store) Close(ctx context.Context) error { return s.db.Close() }

var _ hosted.Store = (*Store)(nil)
