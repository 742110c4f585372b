package mirror

import (
	"context"
	"errors"
	"io"

	"entrepot/cache"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// Getter is an upstream as the fetches use it: an *upstream.Client, or
// an OCI upstream with its token scope bound.
type Getter interface {
	Get(ctx context.Context, rawURL string, r upstream.Request) (*upstream.Response, error)
}

// DocumentOptions describe a metadata document.
type DocumentOptions struct {
	// Accept is sent as the Accept header.
	Accept string
	// MaxSize caps the body; 0 means the upstream client's cap. A document
	// is held in memory whole, so set it.
	MaxSize int64
	// ContentType, when set, is recorded instead of the upstream's.
	ContentType string
	// Check inspects the whole body before anything is stored: an error
	// refuses it, so a broken document is never cached (an expired copy
	// stays the answer); an error without a kind becomes an Upstream one.
	// What it returns becomes the entry's Meta. nil accepts any body.
	Check func(body []byte, resp *upstream.Response) (map[string]string, error)
}

// Document returns the cache Fetch of the metadata document at url: a
// GET, conditional on the expired entry's ETag and Last-Modified (a 304
// keeps the stored bytes), its body read whole within MaxSize and
// checked before a byte of it is written.
func Document(up Getter, url string, o DocumentOptions) cache.Fetch {
	return func(ctx context.Context, prev *cache.Entry, w blob.Writer) (cache.Result, error) {
		const op = "mirror.Document"
		req := upstream.Request{Accept: o.Accept, MaxSize: o.MaxSize}
		if prev != nil {
			req.IfNoneMatch, req.IfModifiedSince = prev.ETag, prev.LastModified
		}
		resp, err := up.Get(ctx, url, req)
		if err != nil {
			return cache.Result{}, err
		}
		defer resp.Body.Close()
		res := result(resp, o.ContentType)
		if resp.NotModified {
			res.NotModified = true
			return res, nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return cache.Result{}, fault.Op(op, err)
		}
		if o.Check != nil {
			if res.Meta, err = o.Check(body, resp); err != nil {
				var fe *fault.Error
				if !errors.As(err, &fe) {
					err = fault.WrapMsg(op, fault.Upstream, "the upstream sent an invalid document", err)
				}
				return cache.Result{}, fault.Op(op, err)
			}
		}
		if _, err := w.Write(body); err != nil {
			return cache.Result{}, fault.Op(op, err)
		}
		return res, nil
	}
}

// A Checker sees an artifact's bytes as they stream and judges them once
// they are all there.
type Checker interface {
	io.Writer
	// Check is called once after the whole body arrived: an error refuses
	// the bytes; what it returns becomes the entry's Meta.
	Check(ctx context.Context) (map[string]string, error)
}

// ArtifactOptions describe an artifact.
type ArtifactOptions struct {
	// MaxSize caps the body; 0 means the upstream client's cap.
	MaxSize int64
	// ContentType, when set, is recorded instead of the upstream's.
	ContentType string
	// Checker, when set, returns a fresh Checker for each fill, for a
	// protocol whose verification is more than the promised digests
	// (Maven's upstream checksum files).
	Checker func() Checker
}

// Artifact returns the cache Fetch of the artifact at url: a GET whose
// body streams into the blob writer, never whole into memory. The bytes
// are verified against the digests the metadata promised (the cache
// Request's Want) when the cache commits them, and by the Checker, if
// any; on any error, a short or oversized body included, the cache
// cancels the writer, so nothing unverified is ever visible.
func Artifact(up Getter, url string, o ArtifactOptions) cache.Fetch {
	return func(ctx context.Context, _ *cache.Entry, w blob.Writer) (cache.Result, error) {
		const op = "mirror.Artifact"
		resp, err := up.Get(ctx, url, upstream.Request{MaxSize: o.MaxSize})
		if err != nil {
			return cache.Result{}, err
		}
		defer resp.Body.Close()
		var dst io.Writer = w
		var c Checker
		if o.Checker != nil {
			c = o.Checker()
			dst = io.MultiWriter(w, c)
		}
		if _, err := io.Copy(dst, resp.Body); err != nil {
			return cache.Result{}, fault.Op(op, err)
		}
		res := result(resp, o.ContentType)
		if c != nil {
			if res.Meta, err = c.Check(ctx); err != nil {
				return cache.Result{}, fault.Op(op, err)
			}
		}
		return res, nil
	}
}

// result is what the cache records of resp.
func result(resp *upstream.Response, contentType string) cache.Result {
	if contentType == "" {
		contentType = resp.ContentType
	}
	return cache.Result{ContentType: contentType, ETag: resp.ETag, LastModified: resp.LastModified}
}
