package composer

import (
	"regexp"
	"strings"

	"entrepot/hosted/fault"
)

// nameRE is Composer's rule for package names (ValidatingArrayLoader):
// lowercase vendor/package, words joined by single separators.
var nameRE = regexp.MustCompile(`^[a-z0-9](?:[_.-]?[a-z0-9]+)*/[a-z0-9](?:(?:[_.]|-{1,2})?[a-z0-9]+)*$`)

// maxNameLen bounds a package name, as Packagist does in practice.
const maxNameLen = 200

// parseName validates vendor/package as a Composer package name. Composer
// asks for names in lowercase; an uppercase request is answered under the
// lowercase name. Errors are Invalid.
func parseName(vendor, pkg string) (string, error) {
	name := strings.ToLower(vendor + "/" + pkg)
	if len(name) > maxNameLen || !nameRE.MatchString(name) {
		return "", fault.Newf("composer.parseName", fault.Invalid, "invalid package name %q: Composer names are vendor/package in lowercase letters, digits and . _ -", truncate(vendor+"/"+pkg, 120))
	}
	return name, nil
}

// vendorOf is the vendor part of a valid name: the namespace an
// organization claims.
func vendorOf(name string) string {
	v, _, _ := strings.Cut(name, "/")
	return v
}

// metadataReq is a request for a p2 file: p2/VENDOR/PACKAGE.json, or
// PACKAGE~dev.json for the development versions.
type metadataReq struct {
	Name string
	Dev  bool
	// Provider: Composer 1's provider file (p/VENDOR/PACKAGE.json, or
	// PACKAGE$HASH.json), every version, not minified.
	Provider bool
}

// parseMetadata reads the two path parameters of a p2 request.
func parseMetadata(vendor, file string) (metadataReq, error) {
	base, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return metadataReq{}, fault.Newf("composer.parseMetadata", fault.NotFound, "no such metadata file %q", truncate(file, 120))
	}
	base, dev := strings.CutSuffix(base, "~dev")
	name, err := parseName(vendor, base)
	if err != nil {
		return metadataReq{}, fault.Op("composer.parseMetadata", asNotFound(err))
	}
	return metadataReq{Name: name, Dev: dev}, nil
}

// parseProvider reads the two path parameters of a Composer 1 provider
// file request: PACKAGE.json or PACKAGE$SHA256.json (the hash names a
// revision; the current one is served whatever it says).
func parseProvider(vendor, file string) (metadataReq, error) {
	base, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return metadataReq{}, fault.Newf("composer.parseProvider", fault.NotFound, "no such provider file %q", truncate(file, 120))
	}
	base, _, _ = strings.Cut(base, "$")
	name, err := parseName(vendor, base)
	if err != nil {
		return metadataReq{}, fault.Op("composer.parseProvider", asNotFound(err))
	}
	return metadataReq{Name: name, Provider: true}, nil
}

// distReq is a request for a dist archive:
// dist/VENDOR/PACKAGE/REF/VERSION.TYPE, VERSION normalized.
type distReq struct {
	Name    string
	Ref     string // the reference's path segment (see refSegment)
	Version string // normalized
	Type    string
}

// maxVersionLen bounds a version string.
const maxVersionLen = 256

// parseDist reads the path parameters of a dist request; tail is
// "VERSION.TYPE" and may hold slashes (branch names).
func parseDist(vendor, pkg, ref, tail string) (distReq, error) {
	const op = "composer.parseDist"
	name, err := parseName(vendor, pkg)
	if err != nil {
		return distReq{}, fault.Op(op, asNotFound(err))
	}
	i := strings.LastIndexByte(tail, '.')
	if i <= 0 || !typeRE.MatchString(tail[i+1:]) || len(tail) > maxVersionLen {
		return distReq{}, fault.Newf(op, fault.NotFound, "no such dist file %q", truncate(tail, 120))
	}
	if ref != "_" && !refSegRE.MatchString(ref) {
		return distReq{}, fault.Newf(op, fault.NotFound, "no such dist reference %q", truncate(ref, 120))
	}
	return distReq{Name: name, Ref: ref, Version: tail[:i], Type: tail[i+1:]}, nil
}

// asNotFound turns a malformed name in a read path into a NotFound:
// there is nothing at such a path, and Composer treats 404 as "no such
// package".
func asNotFound(err error) error {
	if fault.Is(err, fault.Invalid) {
		return fault.WrapMsg("composer", fault.NotFound, fault.Message(err), err)
	}
	return err
}

// publishVersionRE is what a published version string may look like,
// before normalization: no spaces, aliases (" as ") or stability flags.
var publishVersionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+/-]*$`)

// parsePublishVersion validates the version of an upload and returns it
// with its normalized form.
func parsePublishVersion(v string) (string, string, error) {
	const op = "composer.parsePublishVersion"
	if len(v) > maxVersionLen || !publishVersionRE.MatchString(v) {
		return "", "", fault.Newf(op, fault.Invalid, "invalid version %q: use a Composer version such as 1.2.0, v2.0.0-beta.1 or dev-main", truncate(v, 120))
	}
	n, err := Normalize(v)
	if err != nil {
		return "", "", fault.WrapMsg(op, fault.Invalid, fault.Message(err)+": use a Composer version such as 1.2.0, v2.0.0-beta.1 or dev-main", err)
	}
	if n == "dev-" || strings.Contains(n, "//") || strings.HasSuffix(n, "/") {
		return "", "", fault.Newf(op, fault.Invalid, "invalid version %q: a branch needs a name", v)
	}
	return v, n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// NormalizeClaim returns the namespace an organization claims when it
// asks for a vendor through the management API: the vendor in lowercase,
// as Composer names are compared. A vendor belongs to the organization of
// the same name (see publish), so it must be org's own; anything else is
// Invalid.
func NormalizeClaim(org, namespace string) (string, error) {
	const op = "composer.NormalizeClaim"
	v := strings.ToLower(namespace)
	if strings.Contains(v, "/") || len(v) > maxNameLen || !nameRE.MatchString(v+"/x") {
		return "", fault.Newf(op, fault.Invalid, "invalid vendor %q: Composer vendors are lowercase letters, digits and . _ -", truncate(namespace, 120))
	}
	if v != org {
		return "", fault.Newf(op, fault.Invalid, "the vendor %s belongs to the organization named %s: an organization holds only its own vendor, %s", v, v, org)
	}
	return v, nil
}
