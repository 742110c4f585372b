package maven

import (
	"strconv"
	"strings"

	"entrepot/hosted/fault"
)

// Kind is what a repository path addresses.
type Kind uint8

const (
	// Artifact is a file of one version: {group}/{artifact}/{version}/{artifact}-{version}[-{classifier}].{ext}.
	Artifact Kind = iota + 1
	// Metadata is a maven-metadata.xml at the group, artifact or
	// (SNAPSHOT) version level; which one depends on what is stored.
	Metadata
)

// MetadataFile is the name of Maven's repository metadata documents.
const MetadataFile = "maven-metadata.xml"

// checksums are the companion suffixes a path may carry, strongest last.
var checksums = []string{"md5", "sha1", "sha256", "sha512"}

// Coords is a parsed repository path. Every field is validated: segments
// are made of [A-Za-z0-9._+~-] and never start with a dot, so a path built
// from them cannot leave the repository.
type Coords struct {
	// Path is the whole path below the mount, checksum suffix included.
	Path string
	// Target is Path without the checksum suffix: the file the path is,
	// or the file whose checksum it asks for.
	Target string
	// Checksum is "md5", "sha1", "sha256" or "sha512" for a checksum
	// companion, "" otherwise.
	Checksum string
	Kind     Kind
	// Dirs are Target's directory segments.
	Dirs []string

	// For an Artifact: its coordinates. Version is the directory's
	// version (1.0-SNAPSHOT); FileVersion is the one in the file name
	// (1.0-20240101.120000-3 for a unique snapshot).
	Group, Artifact, Version, FileVersion string
	Classifier, Extension                 string
	// Timestamp and Build are set for a unique (timestamped) snapshot
	// file: "20240101.120000" and 3.
	Timestamp string
	Build     int
}

// Snapshot reports whether the artifact's version is a SNAPSHOT.
func (c Coords) Snapshot() bool { return IsSnapshot(c.Version) }

// IsSnapshot reports whether a version is a SNAPSHOT version.
func IsSnapshot(v string) bool { return strings.HasSuffix(v, "-SNAPSHOT") }

// FileName is the last segment of Target.
func (c Coords) FileName() string { return c.Target[strings.LastIndexByte(c.Target, '/')+1:] }

// Package is the hosted package name of an artifact: groupId:artifactId.
func (c Coords) Package() string { return c.Group + ":" + c.Artifact }

// Groups returns the groupIds a path may belong to, longest first: every
// dot-joined prefix of the directory segments (of the group segments for
// an artifact). A claim on any of them makes the path hosted.
func (c Coords) Groups() []string {
	dirs := c.Dirs
	if c.Kind == Artifact {
		dirs = dirs[:len(dirs)-2]
	}
	out := make([]string, 0, len(dirs))
	for i := len(dirs); i >= 1; i-- {
		out = append(out, strings.Join(dirs[:i], "."))
	}
	return out
}

const (
	maxPath     = 1024
	maxSegments = 64
)

// Parse validates a path below the mount (no leading slash) and tells what
// it addresses. Errors are Invalid for paths no Maven repository holds
// (traversal, odd characters, a file name that disagrees with its
// directories).
func Parse(path string) (Coords, error) {
	const op = "maven.Parse"
	c := Coords{Path: path, Target: path}
	if path == "" || len(path) > maxPath {
		return c, fault.New(op, fault.Invalid, "not a Maven repository path")
	}
	segs := strings.Split(path, "/")
	if len(segs) > maxSegments {
		return c, fault.New(op, fault.Invalid, "path has too many segments")
	}
	for _, s := range segs {
		if err := validSegment(s); err != nil {
			return c, err
		}
	}
	file := segs[len(segs)-1]
	for _, alg := range checksums {
		if base, ok := strings.CutSuffix(file, "."+alg); ok && base != "" {
			c.Checksum, file = alg, base
			c.Target = strings.TrimSuffix(path, "."+alg)
			break
		}
	}
	c.Dirs = segs[:len(segs)-1]
	if file == MetadataFile {
		if len(c.Dirs) == 0 {
			return c, fault.New(op, fault.Invalid, "maven-metadata.xml needs a groupId path")
		}
		c.Kind = Metadata
		return c, nil
	}
	if len(c.Dirs) < 3 {
		return c, fault.Newf(op, fault.Invalid, "%s is not {groupId}/{artifactId}/{version}/{file}", truncate(path, 200))
	}
	n := len(c.Dirs)
	c.Kind = Artifact
	c.Group = strings.Join(c.Dirs[:n-2], ".")
	c.Artifact, c.Version = c.Dirs[n-2], c.Dirs[n-1]
	rest, ok := strings.CutPrefix(file, c.Artifact+"-")
	if !ok {
		return c, fault.Newf(op, fault.Invalid, "file %s does not start with %s-%s", file, c.Artifact, c.Version)
	}
	switch {
	case strings.HasPrefix(rest, c.Version) && (len(rest) == len(c.Version) || rest[len(c.Version)] == '.' || rest[len(c.Version)] == '-'):
		c.FileVersion = c.Version
	case c.Snapshot():
		base := strings.TrimSuffix(c.Version, "SNAPSHOT")
		after, ok := strings.CutPrefix(rest, base)
		ts, build, n := snapshotStamp(after)
		if !ok || n == 0 {
			return c, fault.Newf(op, fault.Invalid, "file %s is neither %s-%s nor a timestamped snapshot of it", file, c.Artifact, c.Version)
		}
		c.FileVersion = base + after[:n]
		c.Timestamp, c.Build = ts, build
	default:
		return c, fault.Newf(op, fault.Invalid, "file %s does not match version %s of %s", file, c.Version, c.Artifact)
	}
	rest = rest[len(c.FileVersion):]
	if cl, ok := strings.CutPrefix(rest, "-"); ok {
		var ext string
		c.Classifier, ext, ok = strings.Cut(cl, ".")
		if !ok || c.Classifier == "" {
			return c, fault.Newf(op, fault.Invalid, "file %s has a classifier but no extension", file)
		}
		rest = "." + ext
	}
	c.Extension, ok = strings.CutPrefix(rest, ".")
	if !ok || c.Extension == "" || strings.HasSuffix(c.Extension, ".") {
		return c, fault.Newf(op, fault.Invalid, "file %s has no extension", file)
	}
	return c, nil
}

// snapshotStamp reads "yyyyMMdd.HHmmss-N" at the start of s and returns
// the timestamp, the build number and the length read (0 when s does not
// start with one). What follows must be "." or "-" or nothing.
func snapshotStamp(s string) (string, int, int) {
	if len(s) < 17 || s[8] != '.' || s[15] != '-' || !digits(s[:8]) || !digits(s[9:15]) {
		return "", 0, 0
	}
	n := 16
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 16 || n-16 > 9 || (n < len(s) && s[n] != '.' && s[n] != '-') {
		return "", 0, 0
	}
	build, _ := strconv.Atoi(s[16:n])
	if build < 1 {
		return "", 0, 0
	}
	return s[:15], build, n
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validSegment accepts the characters Maven coordinates are made of. A
// leading dot is refused: it keeps ".", ".." and hidden files out.
func validSegment(s string) error {
	const op = "maven.Parse"
	if s == "" || len(s) > 255 {
		return fault.New(op, fault.Invalid, "empty or overlong path segment")
	}
	if s[0] == '.' {
		return fault.Newf(op, fault.Invalid, "path segment %q is not allowed", truncate(s, 64))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_' || c == '+' || c == '~') {
			return fault.Newf(op, fault.Invalid, "path segment %q has a character Maven coordinates do not use", truncate(s, 64))
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// NormalizeClaim returns the namespace an organization claims when it
// asks for a groupId through the management API: the groupId itself (a
// claim holds it and every groupId below it, see Coords.Groups). Errors
// are Invalid: segments are made of the characters Maven coordinates use,
// and a claim needs at least two of them ("com.acme"), since "com" alone
// would hide a whole top-level domain of the upstream from everyone.
func NormalizeClaim(org, namespace string) (string, error) {
	const op = "maven.NormalizeClaim"
	if len(namespace) > maxPath {
		return "", fault.Newf(op, fault.Invalid, "groupId %q is too long", truncate(namespace, 64))
	}
	segs := strings.Split(namespace, ".")
	for _, s := range segs {
		if err := validSegment(s); err != nil {
			return "", fault.Newf(op, fault.Invalid, "invalid groupId %q: dot-separated segments of letters, digits and - _ + ~", truncate(namespace, 64))
		}
	}
	if len(segs) < 2 {
		return "", fault.Newf(op, fault.Invalid, "groupId %q is too broad to claim: name at least two segments, such as com.%s", namespace, org)
	}
	return namespace, nil
}
