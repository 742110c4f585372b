// Package blob is the content-addressed blob store contract: artifacts and
// cached documents are kept under the sha256 of their bytes.
//
// A blob is written through a Writer that streams to temporary storage
// while hashing, and becomes visible only when Commit has verified every
// digest the caller expected. Two implementations hold to the conformance
// suite in hosted/blob/blobtest: the filesystem (hosted/blob/fs, the
// default) and S3 (hosted/blob/s3).
package blob

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	"entrepot/hosted/fault"
)

// Digest is "<algorithm>:<lowercase hex>", as OCI writes digests.
type Digest string

// The algorithms a Writer can verify.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
	SHA1   = "sha1"
	MD5    = "md5"
)

var hexLen = map[string]int{SHA256: 64, SHA512: 128, SHA1: 40, MD5: 32}

// NewDigest builds a digest from an algorithm and raw sum.
func NewDigest(alg string, sum []byte) Digest {
	return Digest(alg + ":" + hex.EncodeToString(sum))
}

// ParseDigest validates s as a digest of a known algorithm.
func ParseDigest(s string) (Digest, error) {
	alg, h, ok := strings.Cut(s, ":")
	n, known := hexLen[alg]
	if !ok || !known || len(h) != n || !isLowerHex(h) {
		return "", fault.Newf("blob.ParseDigest", fault.Invalid, "invalid digest %q", truncate(s, 140))
	}
	return Digest(s), nil
}

// ParseIntegrity turns a Subresource-Integrity string ("sha512-<base64>",
// as npm writes dist.integrity) into a Digest.
func ParseIntegrity(s string) (Digest, error) {
	alg, b64, ok := strings.Cut(s, "-")
	sum, err := base64.StdEncoding.DecodeString(b64)
	n, known := hexLen[alg]
	if !ok || !known || err != nil || len(sum)*2 != n {
		return "", fault.Newf("blob.ParseIntegrity", fault.Invalid, "invalid integrity %q", truncate(s, 140))
	}
	return NewDigest(alg, sum), nil
}

// Algorithm returns the part before the colon.
func (d Digest) Algorithm() string { a, _, _ := strings.Cut(string(d), ":"); return a }

// Hex returns the part after the colon.
func (d Digest) Hex() string { _, h, _ := strings.Cut(string(d), ":"); return h }

func (d Digest) String() string { return string(d) }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// NewHash returns a hash for a known algorithm, or nil.
func NewHash(alg string) hash.Hash {
	switch alg {
	case SHA256:
		return sha256.New()
	case SHA512:
		return sha512.New()
	case SHA1:
		return sha1.New()
	case MD5:
		return md5.New()
	}
	return nil
}

// Info describes a stored blob.
type Info struct {
	Digest  Digest // always sha256
	Size    int64
	ModTime time.Time
}

// Store is the blob storage contract. Methods are safe for concurrent use
// and return hosted/fault kinds: NotFound for a missing blob, Invalid for a
// malformed digest or range, Conflict when Commit's verification fails.
type Store interface {
	// Stat describes the blob with sha256 digest d.
	Stat(ctx context.Context, d Digest) (Info, error)
	// Open reads length bytes of the blob from offset; length < 0 reads to
	// the end. The caller closes the reader.
	Open(ctx context.Context, d Digest, offset, length int64) (io.ReadCloser, error)
	// Create starts a blob. The Writer hashes what it is given with sha256
	// and with the algorithm of every digest in want.
	Create(ctx context.Context, want ...Digest) (Writer, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, d Digest) error
	// Ping reports whether the backend is reachable, for health checks.
	Ping(ctx context.Context) error
}

// Writer streams one blob into temporary storage. Nothing it writes is
// visible through Stat or Open until Commit returns without error; after
// Cancel, or a failed Commit, nothing of it remains. Exactly one of Commit
// or Cancel must be called; Cancel after Commit is a no-op, so
// `defer w.Cancel(ctx)` is the idiom. A Writer is not safe for concurrent
// use.
type Writer interface {
	io.Writer
	// Size is the number of bytes written so far.
	Size() int64
	// Sums returns the digests of what was written so far, one per
	// algorithm hashed (sha256 always first).
	Sums() []Digest
	// Commit verifies the digests given to Create and makes the blob
	// visible under its sha256. If a blob with that digest exists already,
	// Commit keeps it and discards this copy. A digest mismatch is a
	// Conflict error.
	Commit(ctx context.Context) (Info, error)
	Cancel(ctx context.Context) error
}

// FileOpener is an optional Store capability: blobs kept as local files can
// be opened as such, so that the edge can send them with sendfile.
type FileOpener interface {
	OpenFile(ctx context.Context, d Digest) (*os.File, Info, error)
}

// Verifier hashes a stream with sha256 plus the algorithms of want, for
// Writer implementations. It is not safe for concurrent use.
type Verifier struct {
	want   []Digest
	hashes []hash.Hash
	size   int64
}

// NewVerifier returns a Verifier for want; it rejects unknown algorithms.
func NewVerifier(want []Digest) (*Verifier, error) {
	v := &Verifier{want: want, hashes: []hash.Hash{sha256.New()}}
	seen := map[string]bool{SHA256: true}
	for _, d := range want {
		if _, err := ParseDigest(string(d)); err != nil {
			return nil, err
		}
		if a := d.Algorithm(); !seen[a] {
			seen[a] = true
			v.hashes = append(v.hashes, NewHash(a))
		}
	}
	return v, nil
}

// Write hashes p; it never fails.
func (v *Verifier) Write(p []byte) (int, error) {
	for _, h := range v.hashes {
		h.Write(p)
	}
	v.size += int64(len(p))
	return len(p), nil
}

// Size is the number of bytes hashed.
func (v *Verifier) Size() int64 { return v.size }

// Sums returns the current digests, sha256 first.
func (v *Verifier) Sums() []Digest {
	out := make([]Digest, len(v.hashes))
	for i, h := range v.hashes {
		out[i] = NewDigest(algOf(h), h.Sum(nil))
	}
	return out
}

// Verify compares every wanted digest with what was hashed and returns the
// sha256 digest on success, a Conflict error otherwise.
func (v *Verifier) Verify() (Digest, error) {
	sums := v.Sums()
	for _, w := range v.want {
		for _, s := range sums {
			if s.Algorithm() == w.Algorithm() && s != w {
				return "", fault.Newf("blob.Verify", fault.Conflict,
					"digest mismatch: expected %s, got %s", w, s)
			}
		}
	}
	return sums[0], nil
}

func algOf(h hash.Hash) string {
	switch h.Size() {
	case sha256.Size:
		return SHA256
	case sha512.Size:
		return SHA512
	case sha1.Size:
		return SHA1
	case md5.Size:
		return MD5
	}
	return "unknown"
}

// CheckRange validates a read of length bytes at offset of a blob of size
// and returns the length actually to be read.
func CheckRange(op string, size, offset, length int64) (int64, error) {
	if offset < 0 || offset > size {
		return 0, fault.Newf(op, fault.Invalid, "range offset %d outside blob of %d bytes", offset, size)
	}
	if length < 0 || offset+length > size {
		length = size - offset
	}
	return length, nil
}

// Lister is an optional Store capability, found by type assertion: it
// enumerates the committed blobs, for the garbage collector and fsck.
//
// A collector deletes only blobs whose ModTime is older than its grace
// period, so every Store that has a Lister keeps this promise: a Commit
// (or a PromoteScratch) that finds its blob there already refreshes that
// blob's ModTime, so that bytes a writer has just been handed back are
// never older than the grace period when their record is written.
type Lister interface {
	// List calls fn with every committed blob, in no particular order,
	// until fn returns false. Blobs committed or deleted meanwhile may or
	// may not be seen. Errors are Unavailable, or ctx's.
	List(ctx context.Context, fn func(Info) bool) error
}

// UploadSweeper is an optional Store capability: a backend whose writes
// can outlive a crashed writer outside the blob space (S3's multipart
// uploads, which a SIGKILL leaves unaborted, and which the bucket keeps
// and bills) removes those begun before cutoff, and says how many. A
// backend that cannot list them (MinIO lists multipart uploads of one
// exact key only) finds none; MinIO expires them itself.
type UploadSweeper interface {
	SweepUploads(ctx context.Context, cutoff time.Time) (int, error)
}
