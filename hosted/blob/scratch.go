package blob

import (
	"context"
	"io"
	"strings"
	"time"
)

// Scratch is an optional Store capability, found by type assertion: named
// objects outside the content-addressed space, seen by every process that
// shares the store (the bucket, or the data directory), for bytes that must
// outlive a request before they become a blob. OCI keeps the chunks of an
// upload session there, so that any edge may take the next chunk or the
// final PUT of a session another edge started. Nothing checks what an
// object holds: whoever composes objects into a blob verifies the blob.
// Names are ValidScratchName's. Methods are safe for concurrent use and
// return hosted/fault kinds, as Store's do.
type Scratch interface {
	// PutScratch stores what r yields, up to its EOF, under name, and
	// returns how many bytes that was. The object becomes visible whole or
	// not at all: when r fails (its error is returned with its kind) or
	// the backend does (Unavailable), nothing of it remains. An object of
	// the same name is replaced.
	PutScratch(ctx context.Context, name string, r io.Reader) (int64, error)
	// OpenScratch reads the object name from its start (NotFound when
	// there is none). The caller closes the reader.
	OpenScratch(ctx context.Context, name string) (io.ReadCloser, error)
	// DeleteScratch removes the object; a missing one is no error.
	DeleteScratch(ctx context.Context, name string) error
	// ListScratch calls fn with the name of every object that starts with
	// prefix, and when it was stored, in no particular order, until fn
	// returns false.
	ListScratch(ctx context.Context, prefix string, fn func(name string, stored time.Time) bool) error
	// PromoteScratch makes the object name the blob with sha256 digest d,
	// without its bytes passing through the caller again (a rename, a
	// server-side copy), and removes the object. The caller vouches that
	// the object's bytes hash to d: it hashed them on their way in. A
	// blob d that exists already is kept. NotFound when there is no such
	// object; Unavailable when the backend cannot do it for this object
	// (an S3 object over 5 GiB), in which case the caller copies the bytes
	// through a Writer instead.
	PromoteScratch(ctx context.Context, name string, d Digest) (Info, error)
}

// ValidScratchName accepts 1 to 256 bytes of segments of [a-z0-9._-]
// separated by single slashes, none of them "." or "..": names that are
// safe as file paths and as object keys alike.
func ValidScratchName(name string) bool {
	if name == "" || len(name) > 256 {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}
