package oci

import (
	"strings"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Endpoint is what a path under /v2/<name>/ addresses.
type Endpoint uint8

// The endpoints of a repository.
const (
	ManifestEndpoint Endpoint = iota + 1 // <name>/manifests/<reference>
	Blob                                 // <name>/blobs/<digest>
	UploadStart                          // <name>/blobs/uploads/
	Upload                               // <name>/blobs/uploads/<id>
	Tags                                 // <name>/tags/list
	Referrers                            // <name>/referrers/<digest>
)

// Coord is a parsed repository path: the typed coordinates of a request.
type Coord struct {
	Endpoint Endpoint
	Name     string      // the repository, "acme/team/app"
	Tag      string      // Manifest by tag
	Digest   blob.Digest // Manifest by digest, Blob, Referrers
	Upload   string      // Upload session id
}

// Reference is the manifest reference as the client wrote it.
func (c Coord) Reference() string {
	if c.Tag != "" {
		return c.Tag
	}
	return string(c.Digest)
}

// Limits of the grammar (distribution-spec, "Pulling manifests").
const (
	maxNameLen = 255
	maxTagLen  = 128
	maxIDLen   = 64
)

// ParsePath parses the part of a path after "/v2/" that names a
// repository endpoint. Names, tags and digests are validated: an invalid
// one is an Invalid error with the spec's code (NAME_INVALID, TAG_INVALID,
// DIGEST_INVALID); a path that is no endpoint is NotFound. It is pure.
func ParsePath(tail string) (Coord, error) {
	const op = "oci.ParsePath"
	segs := strings.Split(tail, "/")
	n := len(segs)
	var c Coord
	var nameSegs int
	switch {
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		c.Endpoint, nameSegs = Tags, n-2
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		if segs[n-1] == "" {
			c.Endpoint = UploadStart
		} else {
			c.Endpoint, c.Upload = Upload, segs[n-1]
			if !validID(c.Upload) {
				return Coord{}, errf(codeBlobUploadUnknown, fault.NotFound, op, "upload %q is not known", clip(c.Upload))
			}
		}
		nameSegs = n - 3
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		c.Endpoint, nameSegs = UploadStart, n-2
	case n >= 3 && segs[n-2] == "manifests":
		c.Endpoint, nameSegs = ManifestEndpoint, n-2
		ref := segs[n-1]
		if strings.Contains(ref, ":") {
			d, err := ParseDigest(ref)
			if err != nil {
				return Coord{}, err
			}
			c.Digest = d
		} else {
			if !ValidTag(ref) {
				return Coord{}, errf(codeTagInvalid, fault.Invalid, op, "invalid tag %q", clip(ref))
			}
			c.Tag = ref
		}
	case n >= 3 && (segs[n-2] == "blobs" || segs[n-2] == "referrers"):
		c.Endpoint, nameSegs = Blob, n-2
		if segs[n-2] == "referrers" {
			c.Endpoint = Referrers
		}
		d, err := ParseDigest(segs[n-1])
		if err != nil {
			return Coord{}, err
		}
		c.Digest = d
	default:
		return Coord{}, fault.Newf(op, fault.NotFound, "no endpoint at /v2/%s", clip(tail))
	}
	c.Name = strings.Join(segs[:nameSegs], "/")
	if !ValidName(c.Name) {
		return Coord{}, errf(codeNameInvalid, fault.Invalid, op, "invalid repository name %q", clip(c.Name))
	}
	return c, nil
}

// ParseDigest validates a digest of an algorithm the registry stores
// (sha256, sha512); anything else is DIGEST_INVALID.
func ParseDigest(s string) (blob.Digest, error) {
	d, err := blob.ParseDigest(s)
	if err != nil || (d.Algorithm() != blob.SHA256 && d.Algorithm() != blob.SHA512) {
		return "", errf(codeDigestInvalid, fault.Invalid, "oci.ParseDigest", "invalid or unsupported digest %q", clip(s))
	}
	return d, nil
}

// ValidName reports whether s is a repository name: path components of
// lowercase letters and digits joined by '.', '_', '__' or dashes,
// separated by '/', at most 255 characters.
func ValidName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, comp := range strings.Split(s, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

// validComponent checks [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
func validComponent(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	alnum := func(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
	for i < len(s) {
		start := i
		for i < len(s) && alnum(s[i]) {
			i++
		}
		if i == start {
			return false // a separator at the start, or two in a row
		}
		if i == len(s) {
			return true
		}
		switch {
		case s[i] == '.':
			i++
		case s[i] == '_':
			i++
			if i < len(s) && s[i] == '_' {
				i++
			}
		case s[i] == '-':
			for i < len(s) && s[i] == '-' {
				i++
			}
		default:
			return false
		}
		if i == len(s) {
			return false // a separator at the end
		}
	}
	return true
}

// ValidTag reports whether s is a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func ValidTag(s string) bool {
	if s == "" || len(s) > maxTagLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		word := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
		if !word && (i == 0 || c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// validID accepts upload session ids as this registry makes them, and
// nothing that could escape a file name.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// clip bounds client input quoted in a message.
func clip(s string) string {
	if len(s) > 140 {
		return s[:140] + "…"
	}
	return s
}

// Scope is one "type:name:actions" item of a token request.
type Scope struct {
	Type    string // "repository" or "registry"
	Name    string
	Actions []string
}

// ParseScope parses a token request's scope. The name may hold colons
// only for the registry type (there are none in repository names); an
// item that does not parse is ok false and is ignored, as the Docker
// token protocol says.
func ParseScope(s string) (Scope, bool) {
	typ, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Scope{}, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return Scope{}, false
	}
	sc := Scope{Type: typ, Name: rest[:i]}
	for _, a := range strings.Split(rest[i+1:], ",") {
		if a = strings.TrimSpace(a); a != "" {
			sc.Actions = append(sc.Actions, a)
		}
	}
	if typ == "repository" {
		// repository(plugin) is an old Docker form of the type.
		if !ValidName(sc.Name) {
			return Scope{}, false
		}
	} else if typ != "registry" {
		return Scope{}, false
	}
	return sc, len(sc.Actions) > 0
}

// NormalizeClaim returns the namespace an organization claims when it
// asks for a first path segment through the management API. The first
// segment of a repository name belongs to the organization of the same
// name (see locate), so it must be org's own, and a valid name component;
// anything else is Invalid.
func NormalizeClaim(org, namespace string) (string, error) {
	const op = "oci.NormalizeClaim"
	if strings.Contains(namespace, "/") || !validComponent(namespace) {
		return "", fault.Newf(op, fault.Invalid, "invalid namespace %q: the first segment of a repository name, lowercase letters and digits joined by . _ __ or -", clip(namespace))
	}
	if namespace != org {
		return "", fault.Newf(op, fault.Invalid, "the namespace %s belongs to the organization named %s: an organization holds only its own, %s", namespace, namespace, org)
	}
	return namespace, nil
}
