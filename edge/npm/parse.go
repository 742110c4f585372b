package npm

import (
	"net/url"
	"strings"

	"github.com/Masterminds/semver/v3"

	"entrepot/hosted/fault"
)

// Name is an npm package name: scoped ("@acme/pkg", Scope "acme", Base
// "pkg") or not (Base only). A Name that came out of ParseName is valid to
// read; CheckNew tells whether it may be published.
type Name struct {
	Scope string // without the '@'; "" for an unscoped name
	Base  string
}

// MaxNameLen is npm's limit on a full name, scope included.
const MaxNameLen = 214

// String is the name as npm writes it in documents: "@acme/pkg" or "pkg".
func (n Name) String() string {
	if n.Scope == "" {
		return n.Base
	}
	return "@" + n.Scope + "/" + n.Base
}

// Escaped is the name as one URL path segment, the way npm requests
// packuments: "@acme%2fpkg".
func (n Name) Escaped() string {
	if n.Scope == "" {
		return n.Base
	}
	return "@" + n.Scope + "%2f" + n.Base
}

// ScopeNamespace is the claim namespace of the scope, "@acme", or "".
func (n Name) ScopeNamespace() string {
	if n.Scope == "" {
		return ""
	}
	return "@" + n.Scope
}

// ParseName reads a package name from one raw (still escaped) path
// segment: "lodash", "@types%2fnode", or an already decoded "@types/node".
// It is lenient on case, since the public registry holds legacy names with
// capitals ("JSONStream"); everything else follows npm's rules. Errors are
// Invalid.
func ParseName(raw string) (Name, error) {
	s, err := url.PathUnescape(raw)
	if err != nil {
		return Name{}, invalidName(raw)
	}
	if strings.HasPrefix(s, "@") {
		scope, base, ok := strings.Cut(s[1:], "/")
		if !ok || scope == "" {
			return Name{}, invalidName(s)
		}
		return checkName(Name{Scope: scope, Base: base})
	}
	return checkName(Name{Base: s})
}

// ParseScopedName reads a scoped name that arrived as two raw path
// segments, "@acme" and "pkg".
func ParseScopedName(rawScope, rawBase string) (Name, error) {
	scope, err1 := url.PathUnescape(rawScope)
	base, err2 := url.PathUnescape(rawBase)
	if err1 != nil || err2 != nil || len(scope) < 2 || scope[0] != '@' {
		return Name{}, invalidName(rawScope + "/" + rawBase)
	}
	return checkName(Name{Scope: scope[1:], Base: base})
}

func checkName(n Name) (Name, error) {
	s := n.String()
	if len(s) > MaxNameLen {
		return Name{}, fault.Newf("npm.ParseName", fault.Invalid, "invalid package name: longer than %d characters", MaxNameLen)
	}
	if n.Scope != "" && !validPart(n.Scope) || !validPart(n.Base) {
		return Name{}, invalidName(s)
	}
	if n.Scope == "" && (n.Base == "node_modules" || n.Base == "favicon.ico") {
		return Name{}, invalidName(s)
	}
	return n, nil
}

// validPart checks a scope or a base name: URL-safe characters only, not
// starting with '.' or '_' (which also rules out "." and "..").
func validPart(p string) bool {
	if p == "" || p[0] == '.' || p[0] == '_' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// CheckNew applies the rules for names of new packages on top of
// ParseName's: no capital letters.
func (n Name) CheckNew() error {
	if s := n.String(); strings.ToLower(s) != s {
		return fault.Newf("npm.CheckNew", fault.Invalid, "invalid package name %q: name can no longer contain capital letters", s)
	}
	return nil
}

func invalidName(s string) error {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fault.Newf("npm.ParseName", fault.Invalid, "invalid package name %q", strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", `\0`), "?"))
}

// ParseVersion validates a version: strict semver 2.0, as npm publishes
// them ("1.2.3", "1.0.0-beta.1+build"). Errors are Invalid.
func ParseVersion(s string) (string, error) {
	if len(s) > 256 {
		return "", fault.New("npm.ParseVersion", fault.Invalid, "invalid version: too long")
	}
	if _, err := semver.StrictNewVersion(s); err != nil {
		return "", fault.Newf("npm.ParseVersion", fault.Invalid, "invalid version %q", strings.ToValidUTF8(s, "?"))
	}
	return s, nil
}

// ParseTag validates a dist-tag: a short plain word that is not itself a
// version ("latest", "next", "beta"), as npm requires.
func ParseTag(s string) (string, error) {
	const op = "npm.ParseTag"
	if s == "" || len(s) > 128 {
		return "", fault.New(op, fault.Invalid, "invalid tag: empty or too long")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fault.Newf(op, fault.Invalid, "invalid tag %q", strings.ToValidUTF8(s, "?"))
		}
	}
	if _, err := semver.NewVersion(s); err == nil {
		return "", fault.Newf(op, fault.Invalid, "tag %q looks like a version: tags must not be versions", s)
	}
	return s, nil
}

// TarballFile is the file name of a version's tarball: "pkg-1.0.0.tgz",
// without the scope.
func TarballFile(n Name, version string) string { return n.Base + "-" + version + ".tgz" }

// TarballVersion reads the version out of a tarball file name of n
// ("pkg-1.0.0.tgz" → "1.0.0"). Errors are NotFound: a file name that does
// not follow the pattern names no tarball.
func TarballVersion(n Name, rawFile string) (string, error) {
	file, err := url.PathUnescape(rawFile)
	if err == nil {
		if v, ok := strings.CutPrefix(file, n.Base+"-"); ok {
			if v, ok := strings.CutSuffix(v, ".tgz"); ok {
				if _, err := ParseVersion(v); err == nil {
					return v, nil
				}
			}
		}
	}
	return "", fault.Newf("npm.TarballVersion", fault.NotFound, "no tarball %q in %s", strings.ToValidUTF8(file, "?"), n)
}

// ParseFile validates a mirrored tarball's file name: the one segment
// after "/-/", which must end in ".tgz" and be URL-safe. Unlike hosted
// tarballs, a mirrored one may be named anything the upstream metadata
// says (a few legacy packages' files do not follow the pattern).
func ParseFile(rawFile string) (string, error) {
	file, err := url.PathUnescape(rawFile)
	if err != nil || len(file) > 300 || !strings.HasSuffix(file, ".tgz") || !validFileChars(file) {
		return "", fault.Newf("npm.ParseFile", fault.NotFound, "no tarball %q", strings.ToValidUTF8(rawFile, "?"))
	}
	return file, nil
}

func validFileChars(f string) bool {
	if f == "" || f[0] == '.' {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '+') {
			return false
		}
	}
	return true
}

// NormalizeClaim returns the namespace the organization named org claims
// when it asks for namespace through the management API, in the form the
// registry keys claims by (see claimed and publish): its own scope
// "@org", or an unscoped package name valid for a new package (no
// capitals). Errors are Invalid: a scoped name (its scope decides who owns
// it) and another organization's scope (a scope belongs to the
// organization of the same name) cannot be claimed.
func NormalizeClaim(org, namespace string) (string, error) {
	const op = "npm.NormalizeClaim"
	scope, scoped := strings.CutPrefix(namespace, "@")
	if !scoped {
		n, err := checkName(Name{Base: namespace})
		if err != nil {
			return "", err
		}
		if err := n.CheckNew(); err != nil {
			return "", err
		}
		return n.Base, nil
	}
	if strings.Contains(scope, "/") {
		return "", fault.Newf(op, fault.Invalid, "%q is a scoped package name: its scope decides who owns it, so claim the scope @%s", namespace, org)
	}
	n, err := checkName(Name{Scope: scope, Base: "x"})
	if err != nil {
		return "", invalidName(namespace)
	}
	if err := n.CheckNew(); err != nil {
		return "", fault.Newf(op, fault.Invalid, "invalid scope %q: scopes are lowercase", namespace)
	}
	if scope != org {
		return "", fault.Newf(op, fault.Invalid, "the scope %s belongs to the organization named %s: an organization holds only its own scope, @%s", namespace, scope, org)
	}
	return namespace, nil
}
