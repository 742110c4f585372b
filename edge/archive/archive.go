// Package archive is what every publish reads uploaded archives through,
// so that one set of rules holds for npm and gem tarballs, crates, wheels,
// sdists and Composer zips alike:
//
//   - every entry is checked (CheckName, CheckTar, CheckZip): a name that
//     would land outside the folder the archive is unpacked in (`..`, an
//     absolute path, a drive, a backslash, a NUL), a symbolic or hard link
//     and a device or pipe are refused, since a client unpacks what the
//     registry serves;
//   - decompression is bounded (Budget, Gunzip, NewTarGz, OpenZip): an
//     archive that expands past its budget is refused as soon as it does,
//     so a small gzip bomb costs at most the budget's worth of CPU.
//
// A tar names its entries only as it is read, so checking every entry
// means reading it through (within the budget); a zip's central directory
// lists them all, so of a zip only what a reader asks for (the manifest)
// is decompressed.
//
// Everything here is pure: no I/O but the readers it is handed. Errors are
// hosted/fault kinds: Invalid for a malformed or refused entry, TooLarge
// for an archive over its budget.
package archive

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"entrepot/hosted/fault"
)

// The expansion budget of an archive: Ratio times its compressed size,
// but at least Floor. Real packages compress text 3–10×; a ratio of 100
// is far past any of them and far below a bomb's ~1000×.
const (
	Ratio = 100
	Floor = 4 << 20
)

// Budget returns how many bytes an archive of compressed bytes may expand
// to: Ratio × compressed, at least Floor, and at most ceiling when
// ceiling > 0.
func Budget(compressed, ceiling int64) int64 {
	b := max(Floor, compressed*Ratio)
	if compressed > (1<<62)/Ratio { // overflow
		b = 1 << 62
	}
	if ceiling > 0 {
		b = min(b, ceiling)
	}
	return b
}

// CheckName refuses an entry name that would land outside the folder the
// archive is unpacked in, on any system.
func CheckName(name string) error {
	const op = "archive.CheckName"
	bad := func(why string) error {
		return fault.Newf(op, fault.Invalid, "the archive's entry %q %s", clip(name), why)
	}
	switch {
	case name == "":
		return bad("has no name")
	case strings.ContainsRune(name, 0):
		return bad("holds a NUL byte")
	case strings.Contains(name, `\`):
		return bad("holds a backslash (a Windows path)")
	case strings.HasPrefix(name, "/"):
		return bad("is an absolute path")
	case len(name) >= 2 && name[1] == ':':
		return bad("names a drive")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return bad("climbs out of the archive (..)")
		}
	}
	if c := path.Clean(name); c == ".." || strings.HasPrefix(c, "../") {
		return bad("climbs out of the archive (..)")
	}
	return nil
}

// CheckTar refuses a tar entry that is not a regular file or a folder (a
// symbolic or hard link, a device, a pipe, ...) or whose name CheckName
// refuses. Global pax headers, which describe no file, pass.
func CheckTar(h *tar.Header) error {
	switch h.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeDir:
	case tar.TypeSymlink, tar.TypeLink:
		return fault.Newf("archive.CheckTar", fault.Invalid, "the archive holds a link (%q → %q): not allowed", clip(h.Name), clip(h.Linkname))
	default:
		return fault.Newf("archive.CheckTar", fault.Invalid, "the archive's entry %q is not a regular file or a folder (type %q)", clip(h.Name), h.Typeflag)
	}
	return CheckName(h.Name)
}

// CheckZip refuses a zip entry that is not a regular file or a folder (a
// symbolic link, a device, ...) or whose name CheckName refuses.
func CheckZip(f *zip.File) error {
	if err := CheckName(f.Name); err != nil {
		return err
	}
	if m := f.Mode(); m&fs.ModeSymlink != 0 {
		return fault.Newf("archive.CheckZip", fault.Invalid, "the archive holds a symbolic link (%q): not allowed", clip(f.Name))
	} else if m&(fs.ModeType&^fs.ModeDir) != 0 {
		return fault.Newf("archive.CheckZip", fault.Invalid, "the archive's entry %q is not a regular file or a folder", clip(f.Name))
	}
	return nil
}

// Gunzip decompresses one gzip stream from r and fails with TooLarge once
// it has produced more than limit bytes. A stream that is not gzip is an
// Invalid error.
func Gunzip(r io.Reader, limit int64) (io.Reader, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, invalid("archive.Gunzip", "not gzip-compressed", err)
	}
	z.Multistream(false)
	return Cap(z, limit, func() error {
		return fault.Newf("archive.Gunzip", fault.TooLarge, "the archive expands past %d bytes", limit)
	}), nil
}

// Cap returns a reader of r that hands out at most limit bytes and then
// fails with over() if r has more: exactly limit bytes read to the end
// are not an error. Errors of r (a timeout, a corrupt stream) pass
// through as they are.
func Cap(r io.Reader, limit int64, over func() error) io.Reader {
	return &capped{r: r, left: limit, over: over}
}

type capped struct {
	r    io.Reader
	left int64
	over func() error
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Read one byte more to tell "exactly the limit" from "over it".
		var one [1]byte
		if n, err := c.r.Read(one[:]); n > 0 {
			return 0, c.over()
		} else if err != nil {
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// Tar reads a tar archive, checking every entry with CheckTar before
// handing it out.
type Tar struct {
	r  io.Reader // what the tar is read from (the decompressor, if any)
	tr *tar.Reader
}

// NewTar reads an uncompressed tar from r.
func NewTar(r io.Reader) *Tar { return &Tar{r: r, tr: tar.NewReader(r)} }

// NewTarGz reads a gzipped tar from r that may expand to limit bytes.
func NewTarGz(r io.Reader, limit int64) (*Tar, error) {
	z, err := Gunzip(r, limit)
	if err != nil {
		return nil, err
	}
	return NewTar(z), nil
}

// Next advances to the next entry that CheckTar accepts, and returns
// io.EOF at the end. A refused entry ends the walk with its error.
func (t *Tar) Next() (*tar.Header, error) {
	h, err := t.tr.Next()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, invalid("archive.Tar", "not a valid tar archive", err)
	}
	if err := CheckTar(h); err != nil {
		return nil, err
	}
	return h, nil
}

// Read reads the current entry's content.
func (t *Tar) Read(p []byte) (int, error) {
	n, err := t.tr.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = invalid("archive.Tar", "the archive is truncated", err)
	}
	return n, err
}

// Walk calls fn for every entry until fn returns an error or the archive
// ends, then reads the stream to its end, so that a gzip trailer (its
// checksum) is verified. fn may read the entry (t.Read) or not.
func (t *Tar) Walk(fn func(h *tar.Header) error) error {
	for {
		h, err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if err := fn(h); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, t.r); err != nil {
		return invalid("archive.Tar", "the archive is corrupt", err)
	}
	return nil
}

// OpenZip opens the zip archive in ra (of size bytes) and checks every
// entry with CheckZip and the sum of their sizes against limit. A zip's
// central directory lists every entry, so nothing is decompressed for
// this; and archive/zip refuses an entry that expands past its declared
// size, so the declared sizes bound what reading can cost.
func OpenZip(ra io.ReaderAt, size, limit int64) (*zip.Reader, error) {
	const op = "archive.OpenZip"
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, invalid(op, "not a zip archive", err)
	}
	var total uint64
	for _, f := range zr.File {
		if err := CheckZip(f); err != nil {
			return nil, err
		}
		if total += f.UncompressedSize64; total > uint64(limit) || f.UncompressedSize64 > uint64(limit) {
			return nil, fault.Newf(op, fault.TooLarge, "the archive expands past %d bytes", limit)
		}
	}
	return zr, nil
}

// ReadFile reads a zip entry whole, refusing one over max bytes.
func ReadFile(f *zip.File, max int64) ([]byte, error) {
	const op = "archive.ReadFile"
	if f.UncompressedSize64 > uint64(max) {
		return nil, fault.Newf(op, fault.TooLarge, "%s is over %d bytes", clip(f.Name), max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, invalid(op, "unreadable "+clip(f.Name), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, invalid(op, "unreadable "+clip(f.Name), err)
	}
	if int64(len(b)) > max {
		return nil, fault.Newf(op, fault.TooLarge, "%s is over %d bytes", clip(f.Name), max)
	}
	return b, nil
}

// ReadAll reads r whole, refusing more than max bytes.
func ReadAll(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fault.Newf("archive.ReadAll", fault.TooLarge, "%s is over %d bytes", what, max)
	}
	return b, nil
}

// ErrMalformed is in the chain of every error about an archive that
// cannot be read (as opposed to an entry refused by the checks), so that
// a caller can word it in its protocol's terms.
var ErrMalformed = errors.New("malformed archive")

// invalid wraps err as an Invalid ErrMalformed with msg, keeping the kind
// of an error that has one already (TooLarge from a bounded reader).
func invalid(op, msg string, err error) error {
	if k := fault.KindOf(err); k == fault.TooLarge || k == fault.Invalid {
		return err
	}
	return fault.WrapMsg(op, fault.Invalid, msg, fmt.Errorf("%w: %w", ErrMalformed, err))
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
