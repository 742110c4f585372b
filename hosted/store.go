// Package hosted is Entrepot's system of record: the catalog of
// organizations, repositories, name claims, packages, versions and files,
// and the cache records of mirrored content.
//
// Two layers live here. Store is the storage contract: a handful of
// single-document operations on named collections with declared unique and
// secondary keys, implemented by an embedded bbolt file (hosted/bolt) and by
// MongoDB (hosted/mongo), both held to one conformance suite
// (hosted/storetest). Catalog is the typed layer the rest of Entrepot
// uses; it is written once, on top of any Store, so that a new kind of
// record (users, tokens, audit entries) needs no backend work.
//
// Nothing here needs a multi-document transaction: every invariant is held
// by one atomic document write, a unique key or a revision check. Those
// hold across processes, for edges sharing one database: on FerretDB v1,
// whose conditional writes are not atomic, hosted/mongo restores the
// revision check with a lock record per revision written (see there).
package hosted

import (
	"context"
	"strings"
)

// A Collection names a set of records and the keys they are looked up by.
// Collections are declared once, in code, and passed to every Store call;
// a backend creates what it needs for them (buckets, indexes) idempotently
// on first use.
type Collection struct {
	Name string
	// Unique lists key names whose values are unique across the collection.
	// Every record must carry a value for each of them.
	Unique []string
	// Index lists key names that Query can scan in order. A record without
	// a value for one of them is left out of that index.
	Index []string
}

// Keys reports whether name is a declared key of c and whether it is unique.
func (c Collection) Keys(name string) (declared, unique bool) {
	for _, u := range c.Unique {
		if u == name {
			return true, true
		}
	}
	for _, i := range c.Index {
		if i == name {
			return true, false
		}
	}
	return false, false
}

// A Record is one document: an id, a revision, the values of its keys and
// an opaque body (JSON, in practice). Key values are any strings, NULs
// included (composite keys join their parts with NUL); backends that cannot
// store or order those escape them (EscapeKey).
type Record struct {
	ID   string            // any string without a NUL byte
	Rev  uint64            // set by the store: 1 on Create, +1 on every Replace
	Keys map[string]string // key name → value, for the collection's declared keys
	Data []byte
}

// A Query scans one key of a collection in ascending order of (value, id).
type Query struct {
	// Key is a declared key, or "" for the ids themselves.
	Key string
	// Prefix limits the scan to values starting with it; Exact, when set,
	// limits it to records whose value equals Prefix.
	Prefix string
	Exact  bool
	// After resumes a scan after the cursor a previous page returned.
	After string
	// Limit caps the page; 0 means the store's maximum (1000).
	Limit int
}

// MaxPage is the largest page a Query returns.
const MaxPage = 1000

// Store is the metadata storage contract. Every method is safe for
// concurrent use, also by several processes on one database (as edges
// share a MongoDB one), takes ctx first and returns errors classified with
// hosted/fault kinds:
//   - Get of a missing id: NotFound.
//   - Create of an existing id, or with a unique key value another record
//     holds: Conflict, and nothing is written. Of two racing Creates for the
//     same id or unique value exactly one succeeds, whichever process runs
//     them.
//   - Replace: NotFound when the id is gone; Conflict when the stored
//     revision is not rev (someone else wrote first) or a unique value is
//     taken; on success the record's revision is rev+1. Of racing Replaces
//     of one revision exactly one succeeds, whichever process runs them, so
//     a read-modify-write that retries on Conflict loses no update (see
//     Update). A Replace may wait, briefly, for a racing writer of the same
//     revision to finish.
//   - Delete of a missing id is not an error. A Replace racing a Delete
//     never brings the record back.
//   - Query returns at most Limit records and a cursor for the next page,
//     "" when there is none.
//
// A write is visible to every later read as soon as the call returns.
type Store interface {
	Get(ctx context.Context, c Collection, id string) (Record, error)
	Create(ctx context.Context, c Collection, r Record) (Record, error)
	Replace(ctx context.Context, c Collection, r Record, rev uint64) (Record, error)
	Delete(ctx context.Context, c Collection, id string) error
	Query(ctx context.Context, c Collection, q Query) ([]Record, string, error)
	// Ping reports whether the backend is reachable, for health checks.
	Ping(ctx context.Context) error
	Close(ctx context.Context) error
}

// Cursor returns the cursor that resumes a scan of key after r.
func Cursor(r Record, key string) string {
	if key == "" {
		return r.ID
	}
	return r.Keys[key] + "\x00" + r.ID
}

// SplitCursor is the inverse of Cursor for a scan of a declared key. Key
// values may contain NUL bytes (composite keys do); ids may not.
func SplitCursor(cursor string) (value, id string) {
	i := strings.LastIndexByte(cursor, 0)
	if i < 0 {
		return cursor, ""
	}
	return cursor[:i], cursor[i+1:]
}
