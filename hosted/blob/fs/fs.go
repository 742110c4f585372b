// Package fs is the filesystem blob.Store, the default: blobs are plain
// files, so the edge can send them with sendfile.
//
// Layout under the root (DATA_DIR/blobs):
//
//	sha256/<hex[0:2]>/<hex>    committed blobs, read-only, never rewritten
//	tmp/<random>               writes in progress
//
// A write goes to a file in tmp/, is fsynced and verified, and is renamed
// into place: a blob is either whole and verified or absent. Files left in
// tmp/ by a crash are swept by Sweep, which the server runs at start-up
// (when no other process can be writing, since the metadata store's file
// lock keeps a data directory to one process) and periodically for files
// older than a day.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Store is a blob.Store on the local filesystem, safe for concurrent use.
type Store struct {
	root string
}

// New creates the layout under root if needed.
func New(root string) (*Store, error) {
	for _, d := range []string{filepath.Join(root, "sha256"), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fault.Wrap("fs.New", fault.Unavailable, err)
		}
	}
	return &Store{root: root}, nil
}

// path is the one place that maps a digest to a file.
func (s *Store) path(op string, d blob.Digest) (string, error) {
	if _, err := blob.ParseDigest(string(d)); err != nil || d.Algorithm() != blob.SHA256 {
		return "", fault.Newf(op, fault.Invalid, "invalid blob digest %q", d)
	}
	h := d.Hex()
	return filepath.Join(s.root, "sha256", h[:2], h), nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.root, "tmp") }

func statErr(op string, d blob.Digest, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fault.Newf(op, fault.NotFound, "blob %s not found", d)
	}
	return fault.Wrap(op, fault.Unavailable, err)
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	p, err := s.path("fs.Stat", d)
	if err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return blob.Info{}, statErr("fs.Stat", d, err)
	}
	return blob.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// OpenFile implements blob.FileOpener.
func (s *Store) OpenFile(ctx context.Context, d blob.Digest) (*os.File, blob.Info, error) {
	p, err := s.path("fs.OpenFile", d)
	if err != nil {
		return nil, blob.Info{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, blob.Info{}, statErr("fs.OpenFile", d, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, blob.Info{}, fault.Wrap("fs.OpenFile", fault.Unavailable, err)
	}
	return f, blob.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

type limitedFile struct {
	io.Reader
	f *os.File
}

func (l limitedFile) Close() error { return l.f.Close() }

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, d blob.Digest, offset, length int64) (io.ReadCloser, error) {
	f, info, err := s.OpenFile(ctx, d)
	if err != nil {
		return nil, err
	}
	n, err := blob.CheckRange("fs.Open", info.Size, offset, length)
	if err != nil {
		f.Close()
		return nil, err
	}
	if offset == 0 && n == info.Size {
		return f, nil
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fault.Wrap("fs.Open", fault.Unavailable, err)
	}
	return limitedFile{io.LimitReader(f, n), f}, nil
}

// Create implements blob.Store.
func (s *Store) Create(ctx context.Context, want ...blob.Digest) (blob.Writer, error) {
	v, err := blob.NewVerifier(want)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.tmpDir(), "w-")
	if err != nil {
		return nil, fault.Wrap("fs.Create", fault.Unavailable, err)
	}
	return &writer{s: s, f: f, v: v}, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	p, err := s.path("fs.Delete", d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fault.Wrap("fs.Delete", fault.Unavailable, err)
	}
	return nil
}

// Ping implements blob.Store: the temp folder must be writable.
func (s *Store) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(s.tmpDir(), "ping-")
	if err != nil {
		return fault.Wrap("fs.Ping", fault.Unavailable, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// Sweep removes temp files last modified before cutoff and returns how many
// it removed. Use time.Now() at start-up, when no write can be in progress.
func (s *Store) Sweep(cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return 0, fault.Wrap("fs.Sweep", fault.Unavailable, err)
	}
	n := 0
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if os.Remove(filepath.Join(s.tmpDir(), e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// List implements blob.Lister: it walks sha256/, skipping what is not a
// blob's file.
func (s *Store) List(ctx context.Context, fn func(blob.Info) bool) error {
	const op = "fs.List"
	root := filepath.Join(s.root, "sha256")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	for _, dir := range dirs {
		if !dir.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(root, dir.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return fault.Wrap(op, fault.Unavailable, err)
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return fault.Wrap(op, fault.Unavailable, err)
			}
			d := blob.Digest(blob.SHA256 + ":" + e.Name())
			if _, err := s.path(op, d); err != nil || !e.Type().IsRegular() {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if !fn(blob.Info{Digest: d, Size: fi.Size(), ModTime: fi.ModTime()}) {
				return nil
			}
		}
	}
	return nil
}

type writer struct {
	s    *Store
	f    *os.File
	v    *blob.Verifier
	done bool
	err  error // a failed write poisons the writer
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fault.New("fs.Write", fault.Internal, "write after commit or cancel")
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.v.Write(p[:n])
	if err != nil {
		w.err = fault.Wrap("fs.Write", fault.Unavailable, err)
		return n, w.err
	}
	return n, nil
}

func (w *writer) Size() int64         { return w.v.Size() }
func (w *writer) Sums() []blob.Digest { return w.v.Sums() }

func (w *writer) Commit(ctx context.Context) (blob.Info, error) {
	const op = "fs.Commit"
	if w.done {
		return blob.Info{}, fault.New(op, fault.Internal, "commit after commit or cancel")
	}
	defer w.Cancel(ctx)
	if w.err != nil {
		return blob.Info{}, w.err
	}
	d, err := w.v.Verify()
	if err != nil {
		return blob.Info{}, err
	}
	info := blob.Info{Digest: d, Size: w.v.Size()}
	final, _ := w.s.path(op, d)
	if fi, err := os.Stat(final); err == nil && fi.Size() == info.Size && touch(final) == nil {
		info.ModTime = time.Now()
		return info, nil // an identical blob is there already
	}
	if err := w.f.Sync(); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := w.f.Chmod(0o440); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := w.f.Close(); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	// rename is atomic: racing writers of the same content each replace the
	// file with identical, verified bytes, and readers see one or the other.
	if err := os.Rename(w.f.Name(), final); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	syncDir(filepath.Dir(final))
	info.ModTime = time.Now()
	w.done = true
	return info, nil
}

// touch refreshes an existing blob's modification time, so that a
// collector's grace period counts from the Commit that found it there
// (blob.Lister). It fails when the file is gone, for instance swept just
// before: the caller then writes its own copy.
func touch(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// syncDir makes a rename durable; failure only costs durability across a
// power loss, not correctness, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func (w *writer) Cancel(ctx context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fault.Wrap("fs.Cancel", fault.Unavailable, fmt.Errorf("remove temp file: %w", err))
	}
	return nil
}

var (
	_ blob.Store      = (*Store)(nil)
	_ blob.FileOpener = (*Store)(nil)
	_ blob.Lister     = (*Store)(nil)
)
