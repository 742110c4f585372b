// Package s3 keeps blobs in an S3 bucket (AWS S3, MinIO, R2 and other
// S3-compatible stores), for deployments where edges share one bucket.
//
// A Writer spools to a local temporary file while hashing, so that nothing
// reaches the bucket before its digests are verified and so that the upload
// body is a seekable file rather than memory: small blobs go up with one
// PutObject, large ones with a multipart upload whose parts are sections of
// that file. Reads stream GetObject bodies; nothing is buffered whole.
//
// A spool file outlives its Writer only when the process dies mid-upload;
// Sweep removes such leftovers, and the server runs it at start-up and
// hourly.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Defaults and limits of Config.
const (
	DefaultPrefix   = "packages"
	DefaultPartSize = 16 << 20

	// S3 refuses parts under 5 MiB (but the last) and over 5 GiB, and
	// uploads of more than 10,000 parts.
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10000

	// partConcurrency bounds the parts of one upload in flight at once.
	partConcurrency = 4
	// maxIdlePerHost keeps connections to the one S3 endpoint warm; the
	// SDK's default of 10 makes busy edges reconnect all the time.
	maxIdlePerHost = 64
	// abortTimeout bounds AbortMultipartUpload, which runs detached from the
	// caller's context: a cancelled request must still not leave parts
	// behind in the bucket.
	abortTimeout = 30 * time.Second
)

// Config configures a Store.
type Config struct {
	Endpoint  string // base URL of an S3-compatible server; empty for AWS
	Region    string // empty: the SDK's default chain, else us-east-1
	Bucket    string // required; it must exist
	AccessKey string // empty: credentials from the SDK's default chain
	SecretKey string
	Prefix    string // key prefix, default DefaultPrefix; slashes at either end are dropped
	// ForcePathStyle addresses the bucket as <endpoint>/<bucket> rather
	// than <bucket>.<endpoint>, as MinIO needs.
	ForcePathStyle bool
	TempDir        string // where Writers spool; empty: os.TempDir()
	PartSize       int64  // multipart threshold and part size, default DefaultPartSize
}

// String describes c without its secret key, so that a config can be
// logged or printed with %v.
func (c Config) String() string {
	secret := ""
	if c.SecretKey != "" {
		secret = "<redacted>"
	}
	return fmt.Sprintf("{Endpoint:%s Region:%s Bucket:%s AccessKey:%s SecretKey:%s Prefix:%s ForcePathStyle:%t TempDir:%s PartSize:%d}",
		c.Endpoint, c.Region, c.Bucket, c.AccessKey, secret, c.Prefix, c.ForcePathStyle, c.TempDir, c.PartSize)
}

// GoString is String, so that %#v does not print the secret key either.
func (c Config) GoString() string { return "s3.Config" + c.String() }

// LogValue keeps the secret key out of structured logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("region", c.Region),
		slog.String("bucket", c.Bucket),
		slog.String("prefix", c.Prefix),
		slog.Bool("force_path_style", c.ForcePathStyle),
		slog.Int64("part_size", c.PartSize),
	)
}

// Store is a blob.Store on an S3 bucket. It is safe for concurrent use.
type Store struct {
	client   *s3.Client
	bucket   string
	prefix   string
	tempDir  string
	partSize int64
}

// New returns a Store for cfg. It does not contact the server: call Ping
// for that. A malformed cfg is an Invalid error.
func New(ctx context.Context, cfg Config) (*Store, error) {
	const op = "blob.s3.New"
	if cfg.Bucket == "" {
		return nil, fault.New(op, fault.Invalid, "S3 bucket is not set")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fault.Newf(op, fault.Invalid, "S3 endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < minPartSize || partSize > maxPartSize {
		return nil, fault.Newf(op, fault.Invalid, "S3 part size %d outside [%d, %d]", partSize, minPartSize, maxPartSize)
	}
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix == "" {
		prefix = DefaultPrefix
	}

	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = maxIdlePerHost
		t.MaxIdleConns = max(t.MaxIdleConns, maxIdlePerHost)
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// The CRC32 checksums the SDK adds by default since service/s3
		// v1.73 break MinIO and other S3-compatible stores.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Invalid, "cannot load the S3 client configuration", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.ForcePathStyle
	})
	return &Store{
		client:   client,
		bucket:   cfg.Bucket,
		prefix:   prefix,
		tempDir:  cfg.TempDir,
		partSize: partSize,
	}, nil
}

// key is the only place that builds object keys. The bucket looks like:
//
//	<prefix>/                      Config.Prefix, default "packages"
//	└── sha256/
//	    ├── 3a/
//	    │   └── 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
//	    └── e3/
//	        └── e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
//
// that is <prefix>/sha256/<hex[0:2]>/<hex>, with no leading slash. The two
// hex characters spread keys for listings and for S3's per-prefix request
// rate limits.
func (s *Store) key(hex string) string {
	return s.prefix + "/sha256/" + hex[:2] + "/" + hex
}

// keyOf validates d as a sha256 digest, the only kind blobs are kept
// under, and returns its key.
func (s *Store) keyOf(op string, d blob.Digest) (string, error) {
	if _, err := blob.ParseDigest(string(d)); err != nil {
		return "", fault.Wrap(op, fault.Invalid, err)
	}
	if d.Algorithm() != blob.SHA256 {
		return "", fault.Newf(op, fault.Invalid, "blobs are keyed by sha256, not %s", d.Algorithm())
	}
	return s.key(d.Hex()), nil
}

// Stat describes the blob with sha256 digest d with one HeadObject. A
// missing blob is NotFound; a malformed digest is Invalid.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	const op = "blob.s3.Stat"
	key, err := s.keyOf(op, d)
	if err != nil {
		return blob.Info{}, err
	}
	return s.head(ctx, op, key, d)
}

func (s *Store) head(ctx context.Context, op, key string, d blob.Digest) (blob.Info, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return blob.Info{}, classify(op, err)
	}
	return blob.Info{Digest: d, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Open streams length bytes of the blob from offset (length < 0: to the
// end) straight from a GetObject body, which the caller closes. A missing
// blob is NotFound; an offset outside the blob is Invalid. Reading at
// offset == size gives an empty reader.
//
// The common case costs one request: the range goes to S3 as is, and only
// when S3 refuses it (416, which it answers for a range starting at the end
// of the object, as the contract allows) does a HeadObject tell an empty
// read from a bad offset.
func (s *Store) Open(ctx context.Context, d blob.Digest, offset, length int64) (io.ReadCloser, error) {
	const op = "blob.s3.Open"
	key, err := s.keyOf(op, d)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fault.Newf(op, fault.Invalid, "range offset %d is negative", offset)
	}
	if length == 0 {
		// No byte range can express an empty read.
		return s.openEmpty(ctx, op, key, d, offset, false)
	}
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if offset > 0 || length > 0 {
		rng := "bytes=" + strconv.FormatInt(offset, 10) + "-"
		if length > 0 && length <= math.MaxInt64-offset {
			rng += strconv.FormatInt(offset+length-1, 10)
		}
		in.Range = &rng
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		if statusOf(err) == http.StatusRequestedRangeNotSatisfiable {
			return s.openEmpty(ctx, op, key, d, offset, true)
		}
		return nil, classify(op, err)
	}
	if in.Range != nil {
		// A server that ignored the range would hand out the wrong bytes.
		if start, ok := rangeStart(aws.ToString(out.ContentRange)); !ok || start != offset {
			out.Body.Close()
			return nil, fault.Newf(op, fault.Internal, "S3 answered range %s with Content-Range %q",
				*in.Range, aws.ToString(out.ContentRange))
		}
	}
	return out.Body, nil
}

// openEmpty checks offset against the blob's size for a read that yields
// no bytes: one of length 0, or one S3 refused as unsatisfiable.
func (s *Store) openEmpty(ctx context.Context, op, key string, d blob.Digest, offset int64, refused bool) (io.ReadCloser, error) {
	info, err := s.head(ctx, op, key, d)
	if err != nil {
		return nil, err
	}
	if _, err := blob.CheckRange(op, info.Size, offset, 0); err != nil {
		return nil, err
	}
	if refused && offset < info.Size {
		// S3 refused a range inside the object: not ours to paper over.
		return nil, fault.Newf(op, fault.Internal, "S3 refused a range from %d of %d bytes", offset, info.Size)
	}
	return http.NoBody, nil
}

// rangeStart parses the first byte position of "bytes <first>-<last>/<size>".
func rangeStart(contentRange string) (int64, bool) {
	rest, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// Create starts a blob spooled to a temporary file in Config.TempDir. An
// unknown algorithm or malformed digest in want is Invalid.
func (s *Store) Create(ctx context.Context, want ...blob.Digest) (blob.Writer, error) {
	const op = "blob.s3.Create"
	v, err := blob.NewVerifier(want)
	if err != nil {
		return nil, fault.Wrap(op, fault.Invalid, err)
	}
	f, err := os.CreateTemp(s.tempDir, spoolPattern)
	if err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, err)
	}
	return &writer{s: s, f: f, v: v}, nil
}

// spoolPattern names spool files, so that Sweep removes nothing else of a
// temporary directory that may be shared (os.TempDir()).
const (
	spoolPattern = spoolPrefix + "*" + spoolSuffix
	spoolPrefix  = "entrepot-s3-"
	spoolSuffix  = ".spool"
)

// Sweep removes the spool files in Config.TempDir last modified before
// cutoff and returns how many it removed. With a cutoff of now, at
// start-up, that is every spool file, left by whatever crashed before.
//
// Removing a spool that a live Writer (of another process wrongly sharing
// the directory, or of this one) still uses does that Writer no harm: it
// reads and writes through its open file, never through the name, and a
// Unix file lives on while open; where files cannot be removed while open,
// the removal fails and the file is kept.
func (s *Store) Sweep(cutoff time.Time) (int, error) {
	dir := s.tempDir
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fault.Wrap("blob.s3.Sweep", fault.Unavailable, err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, spoolPrefix) || !strings.HasSuffix(name, spoolSuffix) {
			continue
		}
		if fi, err := e.Info(); err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(dir, name)) == nil {
			n++
		}
	}
	return n, nil
}

// touch refreshes the LastModified of the existing object key with a
// server-side copy onto itself, so that a collector's grace period counts
// from the Commit that found it there (blob.Lister). An object over 5 GiB,
// which one copy cannot take, fails: the caller uploads its own copy.
func (s *Store) touch(ctx context.Context, op, key string, size int64) error {
	if size > maxCopySize {
		return fault.New(op, fault.Unavailable, "too large to refresh with a copy")
	}
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &s.bucket, Key: &key, CopySource: aws.String(s.bucket + "/" + key),
		ContentType: aws.String("application/octet-stream"), MetadataDirective: types.MetadataDirectiveReplace,
	})
	return classify(op, err)
}

// List implements blob.Lister with ListObjectsV2 under <prefix>/sha256/.
func (s *Store) List(ctx context.Context, fn func(blob.Info) bool) error {
	const op = "blob.s3.List"
	root := s.prefix + "/sha256/"
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(root)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return classify(op, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			h := k[strings.LastIndexByte(k, '/')+1:]
			d := blob.Digest(blob.SHA256 + ":" + h)
			if _, err := s.keyOf(op, d); err != nil || s.key(h) != k {
				continue
			}
			if !fn(blob.Info{Digest: d, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}) {
				return nil
			}
		}
	}
	return nil
}

// SweepUploads implements blob.UploadSweeper: it aborts the multipart
// uploads under the store's prefix initiated before cutoff, which only a
// writer that died mid-upload leaves (a live one aborts its own).
func (s *Store) SweepUploads(ctx context.Context, cutoff time.Time) (int, error) {
	const op = "blob.s3.SweepUploads"
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix + "/")}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, classify(op, err)
		}
		for _, u := range out.Uploads {
			if !aws.ToTime(u.Initiated).Before(cutoff) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil && !fault.Is(classify(op, err), fault.NotFound) {
				return n, classify(op, err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// Delete removes the blob with DeleteObject; a missing blob is no error.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	const op = "blob.s3.Delete"
	key, err := s.keyOf(op, d)
	if err != nil {
		return err
	}
	return s.deleteKey(ctx, op, key)
}

// deleteKey removes the object key; a missing object is no error.
func (s *Store) deleteKey(ctx context.Context, op, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !fault.Is(classify(op, err), fault.NotFound) {
		return classify(op, err)
	}
	return nil
}

// Ping checks with HeadBucket that the bucket is reachable with our
// credentials; any failure is Unavailable.
func (s *Store) Ping(ctx context.Context) error {
	const op = "blob.s3.Ping"
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fault.WrapMsg(op, fault.Unavailable, "S3 bucket unreachable", err)
	}
	return nil
}

// put uploads a blob of size bytes from f with one PutObject.
func (s *Store) put(ctx context.Context, op, key string, f *os.File, size int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	// The SDK reads the file twice, to sign its sha256 and to send it; both
	// passes stream. (v4.SetPayloadHash cannot spare the first: operations
	// clear such context values before their middleware runs.)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          f,
		ContentLength: aws.Int64(size),
		ContentType:   aws.String("application/octet-stream"),
	})
	return classify(op, err)
}

// multipart uploads a blob of size bytes from f in parts read straight from
// the file (io.SectionReader is seekable, so the SDK neither buffers a part
// nor fails to retry one), partConcurrency at a time. Any failure aborts
// the upload so that no parts are left in the bucket.
func (s *Store) multipart(ctx context.Context, op, key string, f *os.File, size int64) (err error) {
	partSize := max(s.partSize, (size+maxParts-1)/maxParts)
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      &s.bucket,
		Key:         &key,
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return classify(op, err)
	}
	uploadID := created.UploadId
	defer func() {
		if err == nil {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: &key, UploadId: uploadID,
		})
		if aerr != nil {
			err = fault.Op(op, errors.Join(err, fmt.Errorf("abort multipart upload: %w", aerr)))
		}
	}()

	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partConcurrency)
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		off := int64(i) * partSize
		length := min(partSize, size-off)
		num := int32(i + 1)
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket:        &s.bucket,
				Key:           &key,
				UploadId:      uploadID,
				PartNumber:    aws.Int32(num),
				Body:          io.NewSectionReader(f, off, length),
				ContentLength: aws.Int64(length),
			})
			if err != nil {
				return classify(op, err)
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             &key,
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return classify(op, err)
}

// writer states.
const (
	writing = iota
	committed
	cancelled
)

// writer spools a blob to a temporary file. It is not safe for concurrent
// use, as blob.Writer allows.
type writer struct {
	s     *Store
	f     *os.File
	v     *blob.Verifier
	state int
	err   error // a failed write poisons the writer
}

func (w *writer) Write(p []byte) (int, error) {
	const op = "blob.s3.Write"
	if w.state != writing {
		return 0, fault.New(op, fault.Internal, "write after Commit or Cancel")
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.v.Write(p[:n])
	if err != nil {
		w.err = fault.Wrap(op, fault.Unavailable, err)
		return n, w.err
	}
	return n, nil
}

func (w *writer) Size() int64 { return w.v.Size() }

func (w *writer) Sums() []blob.Digest { return w.v.Sums() }

// Commit verifies the digests, then uploads the spool unless the bucket
// holds the blob already. The spool is removed whatever the outcome, so a
// failed Commit leaves nothing behind and Cancel after it is a no-op.
// A mismatch is Conflict; a Writer whose Write failed, Commit after Cancel
// and a second Commit fail too.
//
// Writers racing on one digest may both upload: S3 replaces objects
// atomically and the bytes are the same, so readers see one valid blob
// throughout.
func (w *writer) Commit(ctx context.Context) (blob.Info, error) {
	const op = "blob.s3.Commit"
	if w.state != writing {
		return blob.Info{}, fault.New(op, fault.Internal, "Commit after Commit or Cancel")
	}
	w.state = committed
	defer w.discard()
	if w.err != nil {
		return blob.Info{}, fault.Op(op, w.err)
	}

	d, err := w.v.Verify()
	if err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Conflict, err)
	}
	key := w.s.key(d.Hex())
	info, err := w.s.head(ctx, op, key, d)
	if err == nil && w.s.touch(ctx, op, key, info.Size) == nil {
		info.ModTime = time.Now().UTC()
		return info, nil
	}
	if err == nil {
		err = fault.New(op, fault.NotFound, "blob gone while refreshed: upload it")
	}
	if !fault.Is(err, fault.NotFound) {
		return blob.Info{}, err
	}
	size := w.v.Size()
	if size < w.s.partSize {
		err = w.s.put(ctx, op, key, w.f, size)
	} else {
		err = w.s.multipart(ctx, op, key, w.f, size)
	}
	if err != nil {
		return blob.Info{}, err
	}
	return blob.Info{Digest: d, Size: size, ModTime: time.Now().UTC()}, nil
}

// Cancel discards what was written. It is a no-op after Commit or Cancel.
func (w *writer) Cancel(ctx context.Context) error {
	if w.state != writing {
		return nil
	}
	w.state = cancelled
	return w.discard()
}

// discard closes and removes the spool.
func (w *writer) discard() error {
	const op = "blob.s3.discard"
	cerr := w.f.Close()
	rerr := os.Remove(w.f.Name())
	if errors.Is(rerr, os.ErrNotExist) {
		rerr = nil
	}
	return fault.Wrap(op, fault.Unavailable, errors.Join(cerr, rerr))
}

// classify stamps an SDK error with the kind of what went wrong: a 404 is
// NotFound (but a missing bucket is our misconfiguration), a 416 Invalid,
// throttling, 5xx, transport failures and timeouts Unavailable, anything
// else (403 included: our credentials are wrong) Internal.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	// GetObject reports a missing bucket as an unmodelled API error, so
	// match the code rather than *types.NoSuchBucket.
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket" {
		return fault.WrapMsg(op, fault.Unavailable, "S3 bucket does not exist", err)
	}
	switch code := statusOf(err); {
	case code == http.StatusNotFound:
		return fault.WrapMsg(op, fault.NotFound, "blob not found", err)
	case code == http.StatusRequestedRangeNotSatisfiable:
		return fault.WrapMsg(op, fault.Invalid, "range not satisfiable", err)
	case code == http.StatusTooManyRequests || code >= 500:
		return fault.Wrap(op, fault.Unavailable, err)
	case code != 0:
		return fault.Wrap(op, fault.Internal, err)
	}
	var sendErr *smithyhttp.RequestSendError
	var canceled *aws.RequestCanceledError
	if errors.As(err, &sendErr) || errors.As(err, &canceled) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	return fault.Wrap(op, fault.Internal, err)
}

// statusOf returns the HTTP status of the response err came from, or 0.
func statusOf(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

var (
	_ blob.Store         = (*Store)(nil)
	_ blob.Writer        = (*writer)(nil)
	_ blob.Lister        = (*Store)(nil)
	_ blob.UploadSweeper = (*Store)(nil)
	_ slog.LogValuer     = Config{}
	_ fmt.Stringer       = Config{}
)
