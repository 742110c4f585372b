package gomod

import (
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"entrepot/hosted/fault"
)

// Kinds of request of the module proxy protocol (go help goproxy).
type kind int

const (
	kindList   kind = iota // <module>/@v/list
	kindLatest             // <module>/@latest
	kindInfo               // <module>/@v/<version>.info
	kindMod                // <module>/@v/<version>.mod
	kindZip                // <module>/@v/<version>.zip
)

// req is a parsed module proxy request. Path and Version are decoded
// (capitals restored); Escaped is the path as on the wire, which is how
// the upstream is asked.
type req struct {
	Kind    kind
	Path    string
	Escaped string
	Version string // "" for list and @latest
	// Canonical is true for a canonical semantic version: its .info,
	// .mod and .zip never change, so they are kept forever. Other
	// queries (a branch name, a pseudo-version prefix) are kept for the
	// metadata TTL.
	Canonical bool
}

// parse turns the path under the mount point into a request: the
// module path case encoding (golang.org/x/mod/module's EscapePath) is
// undone and checked, so that two spellings of one module never reach
// the upstream or the cache as two names.
func parse(p string) (req, error) {
	const op = "gomod.parse"
	bad := func(msg string) (req, error) { return req{}, fault.New(op, fault.NotFound, msg) }
	var r req
	var esc, rest string
	if m, ok := strings.CutSuffix(p, "/@latest"); ok {
		esc, r.Kind = m, kindLatest
	} else {
		i := strings.LastIndex(p, "/@v/")
		if i < 0 {
			return bad("not a module proxy path: want <module>/@v/list, /@v/<version>.info|.mod|.zip or /@latest")
		}
		esc, rest = p[:i], p[i+len("/@v/"):]
		switch {
		case rest == "list":
			r.Kind = kindList
		case strings.HasSuffix(rest, ".info"):
			r.Kind, rest = kindInfo, strings.TrimSuffix(rest, ".info")
		case strings.HasSuffix(rest, ".mod"):
			r.Kind, rest = kindMod, strings.TrimSuffix(rest, ".mod")
		case strings.HasSuffix(rest, ".zip"):
			r.Kind, rest = kindZip, strings.TrimSuffix(rest, ".zip")
		default:
			return bad("unknown module proxy file " + rest + ": want list, <version>.info, .mod or .zip")
		}
	}
	path, err := module.UnescapePath(esc)
	if err != nil {
		return bad("invalid module path: " + err.Error())
	}
	if err := module.CheckPath(path); err != nil {
		return bad("invalid module path: " + err.Error())
	}
	r.Path, r.Escaped = path, esc
	if r.Kind == kindList || r.Kind == kindLatest {
		return r, nil
	}
	v, err := module.UnescapeVersion(rest)
	if err != nil || v == "" || strings.ContainsAny(v, "/\\") {
		return bad("invalid version " + rest)
	}
	r.Version = v
	r.Canonical = semver.IsValid(v) && semver.Canonical(v) == v && module.Check(path, v) == nil
	if r.Kind != kindInfo && !r.Canonical {
		// .mod and .zip exist for canonical versions only; the go
		// command resolves a query with .info first.
		return bad("version " + v + " is not a canonical version of " + path)
	}
	return r, nil
}

// file is the name of the request's file under @v/ as the upstream
// serves it, escaped.
func (r req) file() string {
	switch r.Kind {
	case kindList:
		return r.Escaped + "/@v/list"
	case kindLatest:
		return r.Escaped + "/@latest"
	}
	ev, _ := module.EscapeVersion(r.Version) // parse checked it
	ext := map[kind]string{kindInfo: ".info", kindMod: ".mod", kindZip: ".zip"}[r.Kind]
	return r.Escaped + "/@v/" + ev + ext
}

// prefixes are the claim candidates of a module path, longest first:
// a claim on go.acme.example holds go.acme.example/lib/v2.
func prefixes(path string) []string {
	out := []string{path}
	for i := strings.LastIndexByte(path, '/'); i > 0; i = strings.LastIndexByte(path[:i], '/') {
		out = append(out, path[:i])
	}
	return out
}

// NormalizeClaim checks a module path prefix an organization claims
// (POST /api/v1/organizations/{org}/claims): a valid module path, which
// holds every module below it.
func NormalizeClaim(_, namespace string) (string, error) {
	namespace = strings.TrimSuffix(namespace, "/...")
	if err := module.CheckPath(namespace); err != nil {
		return "", fault.New("gomod.NormalizeClaim", fault.Invalid, "invalid module path prefix: "+err.Error())
	}
	return namespace, nil
}
