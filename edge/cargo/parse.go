package cargo

import (
	"encoding/binary"
	"io"
	"strings"

	"github.com/Masterminds/semver/v3"

	"entrepot/hosted/fault"
)

// maxNameLen is crates.io's limit on crate names.
const maxNameLen = 64

// checkName reports, as an Invalid error, why name cannot name a crate:
// 1 to 64 ASCII letters, digits, '-' or '_', starting with a letter
// (crates.io's rule, which cargo checks too).
func checkName(name string) error {
	const op = "cargo.checkName"
	if name == "" || len(name) > maxNameLen {
		return fault.Newf(op, fault.Invalid, "invalid crate name %q: it must be 1 to %d characters long", clip(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alpha := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if i == 0 && !alpha {
			return fault.Newf(op, fault.Invalid, "invalid crate name %q: it must start with an ASCII letter", clip(name))
		}
		if !alpha && !('0' <= c && c <= '9') && c != '-' && c != '_' {
			return fault.Newf(op, fault.Invalid, "invalid crate name %q: only ASCII letters, digits, '-' and '_' are allowed", clip(name))
		}
	}
	return nil
}

// normalize is the name crates are compared by, as crates.io compares them:
// case-insensitive, with '-' and '_' equivalent. Claims, packages and
// collisions are keyed by it.
func normalize(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "-", "_")
}

// indexPath is where the sparse index keeps a crate's file, relative to the
// index root: 1/a, 2/ab, 3/a/abc, ab/cd/abcd…, always in lowercase.
func indexPath(name string) string {
	n := strings.ToLower(name)
	switch len(n) {
	case 1:
		return "1/" + n
	case 2:
		return "2/" + n
	case 3:
		return "3/" + n[:1] + "/" + n
	}
	return n[:2] + "/" + n[2:4] + "/" + n
}

// prefixOf is the dl template's {prefix}: indexPath without the name.
func prefixOf(name string) string {
	switch len(name) {
	case 1:
		return "1"
	case 2:
		return "2"
	case 3:
		return "3/" + name[:1]
	}
	return name[:2] + "/" + name[2:4]
}

// indexRequest is a parsed request under /cargo/index/: the configuration
// file, or one crate's index file.
type indexRequest struct {
	Config bool
	Name   string // lowercase, as in the path
}

// parseIndexPath parses a path relative to the index root. Anything but
// config.json or a crate file at its standard place is NotFound: that is
// what a registry answers for a file it does not have.
func parseIndexPath(p string) (indexRequest, error) {
	const op = "cargo.parseIndexPath"
	if p == "config.json" {
		return indexRequest{Config: true}, nil
	}
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return indexRequest{}, fault.Newf(op, fault.NotFound, "no index file %q", clip(p))
	}
	name := p[i+1:]
	if checkName(name) != nil || name != strings.ToLower(name) || indexPath(name) != p {
		return indexRequest{}, fault.Newf(op, fault.NotFound, "no index file %q", clip(p))
	}
	return indexRequest{Name: name}, nil
}

// parseVersion validates a semantic version as cargo writes it (strict
// SemVer 2.0: three numbers, no leading zeros, optional pre-release and
// build metadata) and returns it with the key it is stored under: the
// version without build metadata, since versions that differ only there
// are the same version to cargo.
func parseVersion(s string) (*semver.Version, string, error) {
	v, err := semver.StrictNewVersion(s)
	if err != nil || len(s) > 256 {
		return nil, "", fault.Newf("cargo.parseVersion", fault.Invalid, "invalid semver version %q", clip(s))
	}
	key, _, _ := strings.Cut(s, "+")
	return v, key, nil
}

// maxMetadata bounds the JSON half of a publish body.
const maxMetadata = 4 << 20

// readFrame reads the head of a publish body, as cargo frames it:
// a little-endian u32 length and that many bytes of JSON metadata, then a
// little-endian u32 length of the .crate file that follows. It returns the
// JSON and the announced length of the crate. Lengths over maxJSON or
// maxCrate are TooLarge; a short read is Invalid.
func readFrame(r io.Reader, maxJSON, maxCrate int64) ([]byte, int64, error) {
	const op = "cargo.readFrame"
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, 0, frameErr(op, "the length of the metadata", err)
	}
	jl := int64(binary.LittleEndian.Uint32(n[:]))
	if jl > maxJSON {
		return nil, 0, fault.Newf(op, fault.TooLarge, "metadata of %d bytes is over the limit of %d bytes", jl, maxJSON)
	}
	meta := make([]byte, jl)
	if _, err := io.ReadFull(r, meta); err != nil {
		return nil, 0, frameErr(op, "the metadata", err)
	}
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, 0, frameErr(op, "the length of the .crate file", err)
	}
	cl := int64(binary.LittleEndian.Uint32(n[:]))
	if cl > maxCrate {
		return nil, 0, fault.Newf(op, fault.TooLarge, "crate of %d bytes is over the limit of %d bytes", cl, maxCrate)
	}
	if cl == 0 {
		return nil, 0, fault.New(op, fault.Invalid, "malformed publish request: the .crate file is empty")
	}
	return meta, cl, nil
}

// frameErr classifies a failed read of a publish body: a body over the
// limit stays TooLarge, anything short is malformed framing.
func frameErr(op, what string, err error) error {
	if fault.Is(err, fault.TooLarge) {
		return err
	}
	return fault.WrapMsg(op, fault.Invalid, "malformed publish request: the body ends before "+what, err)
}

// clip shortens client input quoted back in messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// NormalizeClaim returns the namespace an organization claims when it
// asks for a crate name through the management API: the name as crates
// are compared and claims keyed (normalize: lowercase, '-' as '_'). An
// invalid name is Invalid; org plays no part.
func NormalizeClaim(org, namespace string) (string, error) {
	if err := checkName(namespace); err != nil {
		return "", err
	}
	return normalize(namespace), nil
}
