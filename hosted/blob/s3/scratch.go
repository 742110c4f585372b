package s3

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Scratch objects (blob.Scratch) sit beside the blobs, outside the
// content-addressed tree:
//
//	<prefix>/scratch/<name>
//
// An object is spooled to a temporary file first (S3 needs its length, and
// the upload then streams from the file), then sent with one PutObject or
// a multipart upload: S3 makes it visible whole.
func (s *Store) scratchKey(op, name string) (string, error) {
	if !blob.ValidScratchName(name) {
		return "", fault.Newf(op, fault.Invalid, "invalid scratch name %q", name)
	}
	return s.prefix + "/scratch/" + name, nil
}

// PutScratch implements blob.Scratch.
func (s *Store) PutScratch(ctx context.Context, name string, r io.Reader) (int64, error) {
	const op = "blob.s3.PutScratch"
	key, err := s.scratchKey(op, name)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(s.tempDir, "entrepot-s3-*.spool")
	if err != nil {
		return 0, fault.Wrap(op, fault.Unavailable, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		var fe *fault.Error
		if errors.As(err, &fe) { // the reader's: a size limit, a body cut short
			return 0, fault.Op(op, err)
		}
		return 0, fault.Wrap(op, fault.Unavailable, err)
	}
	if n < s.partSize {
		err = s.put(ctx, op, key, f, n)
	} else {
		err = s.multipart(ctx, op, key, f, n)
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// OpenScratch implements blob.Scratch with one GetObject.
func (s *Store) OpenScratch(ctx context.Context, name string) (io.ReadCloser, error) {
	const op = "blob.s3.OpenScratch"
	key, err := s.scratchKey(op, name)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, classify(op, err)
	}
	return out.Body, nil
}

// DeleteScratch implements blob.Scratch.
func (s *Store) DeleteScratch(ctx context.Context, name string) error {
	const op = "blob.s3.DeleteScratch"
	key, err := s.scratchKey(op, name)
	if err != nil {
		return err
	}
	return s.deleteKey(ctx, op, key)
}

// ListScratch implements blob.Scratch with ListObjectsV2.
func (s *Store) ListScratch(ctx context.Context, prefix string, fn func(name string, stored time.Time) bool) error {
	const op = "blob.s3.ListScratch"
	root := s.prefix + "/scratch/"
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(root + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return classify(op, err)
		}
		for _, o := range page.Contents {
			name, ok := strings.CutPrefix(aws.ToString(o.Key), root)
			if ok && !fn(name, aws.ToTime(o.LastModified)) {
				return nil
			}
		}
	}
	return nil
}

// maxCopySize is the largest object one CopyObject copies.
const maxCopySize = 5 << 30

// PromoteScratch implements blob.Scratch with a server-side CopyObject,
// then deletes the object.
func (s *Store) PromoteScratch(ctx context.Context, name string, d blob.Digest) (blob.Info, error) {
	const op = "blob.s3.PromoteScratch"
	src, err := s.scratchKey(op, name)
	if err != nil {
		return blob.Info{}, err
	}
	key, err := s.keyOf(op, d)
	if err != nil {
		return blob.Info{}, err
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &src})
	if err != nil {
		return blob.Info{}, classify(op, err)
	}
	size := aws.ToInt64(head.ContentLength)
	if size > maxCopySize {
		return blob.Info{}, fault.Newf(op, fault.Unavailable, "scratch object %s is too large for a copy", name)
	}
	info, err := s.head(ctx, op, key, d)
	if fault.Is(err, fault.NotFound) {
		_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{
			Bucket: &s.bucket, Key: &key, CopySource: aws.String(s.bucket + "/" + src),
			ContentType: aws.String("application/octet-stream"), MetadataDirective: types.MetadataDirectiveReplace,
		})
		if err != nil {
			return blob.Info{}, classify(op, err)
		}
		info = blob.Info{Digest: d, Size: size, ModTime: time.Now().UTC()}
	} else if err != nil {
		return blob.Info{}, err
	} else if err := s.touch(ctx, op, key, info.Size); err != nil {
		return blob.Info{}, err
	}
	return info, s.DeleteScratch(ctx, name)
}

var _ blob.Scratch = (*Store)(nil)
