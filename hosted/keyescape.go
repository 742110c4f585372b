package hosted

import "strings"

// EscapeKey returns key value v with its NUL and \x01 bytes escaped, for
// backends that cannot store a NUL (FerretDB's PostgreSQL backend refuses
// one in a string, SQLSTATE 22P05) or that use NUL as a separator (bbolt's
// index entries are value, NUL, id), while key values may hold NULs:
// composite keys are NUL-separated (see Cursor and the catalog's keys).
//
//	\x00 → \x01\x01    \x01 → \x01\x02    any other byte → itself
//
// The codes are prefix-free and ordered like the bytes they stand for, so
// escaping preserves the byte order of strings and the prefix relation
// between them: a range or prefix scan over escaped values visits exactly
// the records, in the order, that it would over the raw ones. And since
// no escaped value holds a NUL, a NUL after one sorts it before every
// longer value. A value with neither byte, the common case, is returned
// as is.
func EscapeKey(v string) string {
	if strings.IndexFunc(v, func(r rune) bool { return r < 2 }) < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 4)
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case 0, 1:
			b.WriteByte(1)
			b.WriteByte(c + 1)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// UnescapeKey is the inverse of EscapeKey. A \x01 not followed by \x01
// or \x02 cannot come from EscapeKey and is kept as it is.
func UnescapeKey(v string) string {
	if strings.IndexByte(v, 1) < 0 {
		return v
	}
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == 1 && i+1 < len(v) && (v[i+1] == 1 || v[i+1] == 2) {
			i++
			c = v[i] - 1
		}
		b.WriteByte(c)
	}
	return b.String()
}
