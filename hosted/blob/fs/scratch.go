package fs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Scratch objects (blob.Scratch) are files under scratch/<name>, written
// like blobs: to a file in tmp/ (which Sweep clears after a crash),
// fsynced, then renamed into place, so an object is whole or absent.

func (s *Store) scratchPath(op, name string) (string, error) {
	if !blob.ValidScratchName(name) {
		return "", fault.Newf(op, fault.Invalid, "invalid scratch name %q", name)
	}
	return filepath.Join(s.root, "scratch", filepath.FromSlash(name)), nil
}

// PutScratch implements blob.Scratch.
func (s *Store) PutScratch(ctx context.Context, name string, r io.Reader) (int64, error) {
	const op = "fs.PutScratch"
	final, err := s.scratchPath(op, name)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(s.tmpDir(), "s-")
	if err != nil {
		return 0, fault.Wrap(op, fault.Unavailable, err)
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		return 0, readOrWriteError(op, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return 0, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return 0, fault.Wrap(op, fault.Unavailable, err)
	}
	syncDir(filepath.Dir(final))
	return n, nil
}

// readOrWriteError keeps the error of a reader that has a kind (a size
// limit, a body cut short) and calls anything else, the file's, Unavailable.
func readOrWriteError(op string, err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return fault.Op(op, err)
	}
	return fault.Wrap(op, fault.Unavailable, err)
}

// OpenScratch implements blob.Scratch.
func (s *Store) OpenScratch(ctx context.Context, name string) (io.ReadCloser, error) {
	const op = "fs.OpenScratch"
	p, err := s.scratchPath(op, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fault.Newf(op, fault.NotFound, "scratch object %s not found", name)
	}
	if err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, err)
	}
	return f, nil
}

// DeleteScratch implements blob.Scratch. The folders the object was in go
// too once empty.
func (s *Store) DeleteScratch(ctx context.Context, name string) error {
	const op = "fs.DeleteScratch"
	p, err := s.scratchPath(op, name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fault.Wrap(op, fault.Unavailable, err)
	}
	root := filepath.Join(s.root, "scratch")
	for dir := filepath.Dir(p); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty, or gone
			break
		}
	}
	return nil
}

// ListScratch implements blob.Scratch.
func (s *Store) ListScratch(ctx context.Context, prefix string, fn func(name string, stored time.Time) bool) error {
	const op = "fs.ListScratch"
	root := filepath.Join(s.root, "scratch")
	stop := errors.New("stop")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			// Only folders on the way to prefix, or under it.
			if p != root && !strings.HasPrefix(name+"/", prefix) && !strings.HasPrefix(prefix, name+"/") && !strings.HasPrefix(name, prefix) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasPrefix(name, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if !fn(name, fi.ModTime()) {
			return stop
		}
		return nil
	})
	if err == nil || errors.Is(err, stop) {
		return nil
	}
	return fault.Wrap(op, fault.Unavailable, err)
}

// PromoteScratch implements blob.Scratch with a rename.
func (s *Store) PromoteScratch(ctx context.Context, name string, d blob.Digest) (blob.Info, error) {
	const op = "fs.PromoteScratch"
	src, err := s.scratchPath(op, name)
	if err != nil {
		return blob.Info{}, err
	}
	final, err := s.path(op, d)
	if err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Info{}, fault.Newf(op, fault.NotFound, "scratch object %s not found", name)
	}
	if err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	info := blob.Info{Digest: d, Size: fi.Size()}
	if have, err := os.Stat(final); err == nil && have.Size() == info.Size && touch(final) == nil {
		info.ModTime = time.Now()
		return info, s.DeleteScratch(ctx, name) // an identical blob is there already
	}
	if err := os.Chmod(src, 0o440); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	// A rename keeps the object's (older) time: refresh it first, for the
	// collector's grace period.
	if err := touch(src); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	if err := os.Rename(src, final); err != nil {
		return blob.Info{}, fault.Wrap(op, fault.Unavailable, err)
	}
	syncDir(filepath.Dir(final))
	s.DeleteScratch(ctx, name) // the folders it was in, now empty
	info.ModTime = time.Now()
	return info, nil
}

var _ blob.Scratch = (*Store)(nil)
