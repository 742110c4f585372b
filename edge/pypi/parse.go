package pypi

import (
	"strings"

	pep440 "github.com/aquasecurity/go-pep440-version"

	"entrepot/hosted/fault"
)

// maxNameLen bounds a project name; PyPI has no hard limit, but nothing
// real comes near it and it keeps keys and log lines small.
const maxNameLen = 200

// maxFilenameLen bounds a distribution file name.
const maxFilenameLen = 255

// ValidName reports, as an Invalid error, why name is not a project name
// (PEP 508: ASCII letters and digits, with '.', '_' and '-' inside).
func ValidName(name string) error {
	const op = "pypi.ValidName"
	if name == "" || len(name) > maxNameLen {
		return fault.Newf(op, fault.Invalid, "invalid project name %q: 1 to %d characters", clip(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum {
			continue
		}
		if (c == '.' || c == '_' || c == '-') && i > 0 && i < len(name)-1 {
			continue
		}
		return fault.Newf(op, fault.Invalid, "invalid project name %q: letters, digits and '.', '_', '-' between them only", clip(name))
	}
	return nil
}

// Normalize returns the PEP 503 normal form of a valid project name:
// lowercase, each run of '-', '_' and '.' made one '-'.
func Normalize(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ParseVersion parses a PEP 440 version and returns its normal form
// ("1.0-RC1" → "1.0rc1"). An invalid version is an Invalid error.
func ParseVersion(s string) (pep440.Version, string, error) {
	if s == "" || len(s) > 128 || strings.TrimSpace(s) != s {
		return pep440.Version{}, "", fault.Newf("pypi.ParseVersion", fault.Invalid, "invalid PEP 440 version %q", clip(s))
	}
	v, err := pep440.Parse(s)
	if err != nil {
		return pep440.Version{}, "", fault.WrapMsg("pypi.ParseVersion", fault.Invalid, "invalid PEP 440 version \""+clip(s)+"\"", err)
	}
	return v, normalVersion(v), nil
}

// normalVersion is the library's normal form with the local segment's
// separators made dots, as PEP 440 normalizes them.
func normalVersion(v pep440.Version) string {
	s := v.String()
	if pub, local, ok := strings.Cut(s, "+"); ok {
		s = pub + "+" + strings.NewReplacer("-", ".", "_", ".").Replace(local)
	}
	return s
}

// Kind is the type of a distribution file.
type Kind string

// The distribution kinds Entrepot accepts, named as the upload form's
// filetype field names them.
const (
	Wheel Kind = "bdist_wheel"
	Sdist Kind = "sdist"
)

// Dist is a parsed distribution file name.
type Dist struct {
	Filename string
	Kind     Kind
	// Project is the name as the file spells it (escaped, for wheels);
	// compare it through Normalize.
	Project string
	Version string // as the file spells it
	// Normal is the PEP 440 normal form of Version.
	Normal string
	// Wheel tags (PEP 427), empty for sdists.
	Build, Python, ABI, Platform string
}

// ValidFilename reports, as an Invalid error, why name cannot be a file
// name: empty, too long, a path, a dot file, or characters outside the
// printable ASCII that distribution names are made of.
func ValidFilename(name string) error {
	const op = "pypi.ValidFilename"
	if name == "" || len(name) > maxFilenameLen {
		return fault.Newf(op, fault.Invalid, "invalid file name %q", clip(name))
	}
	if name[0] == '.' || strings.Contains(name, "..") {
		return fault.Newf(op, fault.Invalid, "invalid file name %q: no dot files or '..'", clip(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._-+!", c) >= 0) {
			return fault.Newf(op, fault.Invalid, "invalid file name %q: letters, digits and ._-+! only", clip(name))
		}
	}
	return nil
}

// ParseFilename parses a wheel (PEP 427) or an sdist (.tar.gz, .zip) file
// name. project, when not empty, is the project the file must belong to:
// it settles where an sdist's name ends, since legacy sdist names may
// hold dashes. Anything else is an Invalid error that says why.
func ParseFilename(filename, project string) (Dist, error) {
	const op = "pypi.ParseFilename"
	if err := ValidFilename(filename); err != nil {
		return Dist{}, err
	}
	if stem, ok := strings.CutSuffix(filename, ".whl"); ok {
		return parseWheel(filename, stem)
	}
	var stem string
	for _, ext := range []string{".tar.gz", ".zip"} {
		if s, ok := strings.CutSuffix(strings.ToLower(filename), ext); ok {
			stem = filename[:len(s)]
			break
		}
	}
	if stem == "" {
		return Dist{}, fault.Newf(op, fault.Invalid, "unsupported file %q: upload wheels (.whl) and sdists (.tar.gz, .zip)", clip(filename))
	}
	// name-version: the version is what follows the last dash whose left
	// side is the project (when known), else the last dash.
	want := Normalize(project)
	for i := len(stem) - 1; i > 0; i-- {
		if stem[i] != '-' {
			continue
		}
		name, ver := stem[:i], stem[i+1:]
		if project != "" && Normalize(name) != want {
			continue
		}
		if ValidName(name) != nil {
			continue
		}
		_, normal, err := ParseVersion(ver)
		if err != nil {
			return Dist{}, fault.Newf(op, fault.Invalid, "file name %q: %s", clip(filename), fault.Message(err))
		}
		return Dist{Filename: filename, Kind: Sdist, Project: name, Version: ver, Normal: normal}, nil
	}
	if project != "" {
		return Dist{}, fault.Newf(op, fault.Invalid, "file name %q does not start with the project name %q and a version", clip(filename), project)
	}
	return Dist{}, fault.Newf(op, fault.Invalid, "file name %q is not name-version.tar.gz", clip(filename))
}

func parseWheel(filename, stem string) (Dist, error) {
	const op = "pypi.ParseFilename"
	parts := strings.Split(stem, "-")
	if len(parts) != 5 && len(parts) != 6 {
		return Dist{}, fault.Newf(op, fault.Invalid, "wheel name %q is not name-version[-build]-python-abi-platform.whl", clip(filename))
	}
	d := Dist{Filename: filename, Kind: Wheel, Project: parts[0], Version: parts[1]}
	tags := parts[2:]
	if len(parts) == 6 {
		d.Build, tags = parts[2], parts[3:]
		if d.Build == "" || d.Build[0] < '0' || d.Build[0] > '9' {
			return Dist{}, fault.Newf(op, fault.Invalid, "wheel name %q: the build tag must start with a digit", clip(filename))
		}
	}
	d.Python, d.ABI, d.Platform = tags[0], tags[1], tags[2]
	if ValidName(d.Project) != nil || strings.Contains(d.Project, "-") {
		return Dist{}, fault.Newf(op, fault.Invalid, "wheel name %q: invalid distribution name", clip(filename))
	}
	for _, t := range tags {
		if t == "" || strings.ContainsAny(t, "+!") {
			return Dist{}, fault.Newf(op, fault.Invalid, "wheel name %q: invalid tag %q", clip(filename), clip(t))
		}
	}
	// Wheel names escape '-' in versions as '_'.
	_, normal, err := ParseVersion(strings.ReplaceAll(d.Version, "_", "-"))
	if err != nil {
		return Dist{}, fault.Newf(op, fault.Invalid, "wheel name %q: %s", clip(filename), fault.Message(err))
	}
	d.Normal = normal
	return d, nil
}

// Target is what a files URL addresses: a distribution file of a project,
// or its core metadata (PEP 658) when Metadata is set.
type Target struct {
	Project  string // normalized
	Filename string
	Metadata bool
}

// ParseFileTarget parses the {project}/{file} of a files URL.
func ParseFileTarget(project, file string) (Target, error) {
	if err := ValidName(project); err != nil {
		return Target{}, fault.Op("pypi.ParseFileTarget", err)
	}
	t := Target{Project: Normalize(project), Filename: file}
	if f, ok := strings.CutSuffix(file, ".metadata"); ok {
		t.Filename, t.Metadata = f, true
	}
	if err := ValidFilename(t.Filename); err != nil {
		return Target{}, fault.Op("pypi.ParseFileTarget", err)
	}
	return t, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// NormalizeClaim returns the namespace an organization claims when it
// asks for a project name through the management API: the name's PEP 503
// normal form, as projects and claims are keyed ("Foo.Bar" → "foo-bar").
// An invalid name is Invalid; org plays no part.
func NormalizeClaim(org, namespace string) (string, error) {
	if err := ValidName(namespace); err != nil {
		return "", err
	}
	return Normalize(namespace), nil
}
