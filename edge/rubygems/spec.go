package rubygems

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"entrepot/hosted/fault"
)

// Spec is what Entrepot keeps of a gem's specification: everything the
// compact index, the Marshal gemspec and the JSON API need. It is stored
// as the hosted version's Meta.
type Spec struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Platform string `json:"platform"` // "ruby" for pure-Ruby gems
	// SHA256 is the hex sha256 of the .gem file.
	SHA256                  string            `json:"sha256,omitempty"`
	Size                    int64             `json:"size,omitempty"`
	Summary                 string            `json:"summary,omitempty"`
	Description             string            `json:"description,omitempty"`
	Authors                 []string          `json:"authors,omitempty"`
	Email                   []string          `json:"email,omitempty"`
	Homepage                string            `json:"homepage,omitempty"`
	Licenses                []string          `json:"licenses,omitempty"`
	Metadata                map[string]string `json:"metadata,omitempty"`
	Date                    time.Time         `json:"date"`
	Dependencies            []Dependency      `json:"dependencies,omitempty"`
	RequiredRubyVersion     []Req             `json:"requiredRubyVersion,omitempty"`
	RequiredRubygemsVersion []Req             `json:"requiredRubygemsVersion,omitempty"`
	RubygemsVersion         string            `json:"rubygemsVersion,omitempty"`
	SpecificationVersion    int               `json:"specificationVersion,omitempty"`
}

// Dependency is one runtime or development dependency.
type Dependency struct {
	Name        string `json:"name"`
	Type        string `json:"type"` // "runtime" or "development"
	Requirement []Req  `json:"requirement"`
}

// Req is one (operator, version) pair of a Gem::Requirement.
type Req struct {
	Op      string `json:"op"`
	Version string `json:"version"`
}

// FullName is name-version, with -platform unless the platform is ruby:
// the gem's file name without .gem and its spec name without .gemspec.
func (s *Spec) FullName() string { return fullName(s.Name, s.Version, s.Platform) }

func fullName(name, version, platform string) string {
	if platform == "" || platform == "ruby" {
		return name + "-" + version
	}
	return name + "-" + version + "-" + platform
}

// Prerelease reports whether the version has a letter in it, as
// Gem::Version#prerelease? decides.
func (s *Spec) Prerelease() bool { return prerelease(s.Version) }

func prerelease(v string) bool { return strings.IndexFunc(v, isLetter) >= 0 }

func isLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }

// ReqString renders requirements as the compact index does: "~> 1.0&< 3".
func ReqString(reqs []Req) string {
	if len(reqs) == 0 {
		return ">= 0"
	}
	parts := make([]string, len(reqs))
	for i, r := range reqs {
		parts[i] = r.Op + " " + r.Version
	}
	return strings.Join(parts, "&")
}

// ReqDisplay renders requirements as rubygems.org's JSON does: "~> 1.0, < 3".
func ReqDisplay(reqs []Req) string { return strings.ReplaceAll(ReqString(reqs), "&", ", ") }

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	versionRE  = regexp.MustCompile(`^[0-9]+(\.[0-9A-Za-z]+)*$`)
	platformRE = regexp.MustCompile(`^[A-Za-z0-9_.]+(-[A-Za-z0-9_.]+){0,3}$`)
	reqOps     = map[string]bool{"=": true, "!=": true, ">": true, "<": true, ">=": true, "<=": true, "~>": true}
)

// validName reports whether name is a gem name rubygems.org would accept.
func validName(name string) bool {
	return nameRE.MatchString(name) && strings.IndexFunc(name, isLetter) >= 0
}

func validVersion(v string) bool { return len(v) <= 64 && versionRE.MatchString(v) }

func validPlatform(p string) bool { return p == "ruby" || (len(p) <= 64 && platformRE.MatchString(p)) }

// validate checks what the compact index and file names depend on.
func (s *Spec) validate() error {
	const op = "rubygems.Spec.validate"
	if !validName(s.Name) {
		return fault.Newf(op, fault.Invalid, "invalid gem name %q: use letters, digits, '.', '_' and '-', up to 100 characters", trunc(s.Name))
	}
	if !validVersion(s.Version) {
		return fault.Newf(op, fault.Invalid, "invalid version %q of %s: use dot-separated numbers and letters, such as 1.2.0 or 2.0.0.rc1", trunc(s.Version), s.Name)
	}
	if !validPlatform(s.Platform) {
		return fault.Newf(op, fault.Invalid, "invalid platform %q", trunc(s.Platform))
	}
	reqs := [][]Req{s.RequiredRubyVersion, s.RequiredRubygemsVersion}
	for _, d := range s.Dependencies {
		if !validName(d.Name) {
			return fault.Newf(op, fault.Invalid, "invalid dependency name %q", trunc(d.Name))
		}
		reqs = append(reqs, d.Requirement)
	}
	for _, rs := range reqs {
		for _, r := range rs {
			if !reqOps[r.Op] || !validReqVersion(r.Version) {
				return fault.Newf(op, fault.Invalid, "invalid requirement %q", trunc(r.Op+" "+r.Version))
			}
		}
	}
	return nil
}

// validReqVersion accepts what may follow an operator: a version, also
// with a '-' prerelease part Gem::Version understands.
func validReqVersion(v string) bool {
	return len(v) <= 64 && v != "" && strings.Trim(v, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-") == ""
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// parseSpecYAML reads the YAML gemspec of metadata.gz. The document is
// tagged with Ruby classes (!ruby/object:Gem::Specification, Gem::Version,
// Gem::Requirement, Gem::Dependency, Gem::Platform); the tags are ignored
// and the shapes read by hand, so that an unknown tag never fails a
// publish and no Ruby object is ever instantiated.
func parseSpecYAML(b []byte) (*Spec, error) {
	const op = "rubygems.parseSpecYAML"
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fault.WrapMsg(op, fault.Invalid, "the gem's metadata is not valid YAML", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fault.New(op, fault.Invalid, "the gem's metadata is not a specification")
	}
	m := doc.Content[0]
	s := &Spec{
		Name:                    scalar(field(m, "name")),
		Version:                 versionOf(field(m, "version")),
		Platform:                platformOf(field(m, "platform")),
		Summary:                 scalar(field(m, "summary")),
		Description:             scalar(field(m, "description")),
		Authors:                 strs(field(m, "authors")),
		Email:                   strs(field(m, "email")),
		Homepage:                scalar(field(m, "homepage")),
		Licenses:                strs(field(m, "licenses")),
		RubygemsVersion:         scalar(field(m, "rubygems_version")),
		RequiredRubyVersion:     reqsOf(field(m, "required_ruby_version")),
		RequiredRubygemsVersion: reqsOf(field(m, "required_rubygems_version")),
	}
	if lic := scalar(field(m, "license")); lic != "" && len(s.Licenses) == 0 {
		s.Licenses = []string{lic}
	}
	s.SpecificationVersion, _ = strconv.Atoi(scalar(field(m, "specification_version")))
	if s.SpecificationVersion == 0 {
		s.SpecificationVersion = 4
	}
	s.Date = dateOf(scalar(field(m, "date")))
	if md := field(m, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		s.Metadata = map[string]string{}
		for i := 0; i+1 < len(md.Content); i += 2 {
			s.Metadata[md.Content[i].Value] = scalar(md.Content[i+1])
		}
	}
	if deps := field(m, "dependencies"); deps != nil && deps.Kind == yaml.SequenceNode {
		for _, d := range deps.Content {
			if d.Kind != yaml.MappingNode {
				return nil, fault.New(op, fault.Invalid, "the gem's metadata has a malformed dependency")
			}
			dep := Dependency{
				Name:        scalar(field(d, "name")),
				Type:        strings.TrimPrefix(scalar(field(d, "type")), ":"),
				Requirement: reqsOf(field(d, "requirement")),
			}
			if dep.Requirement == nil {
				dep.Requirement = reqsOf(field(d, "version_requirements"))
			}
			if dep.Type != "development" {
				dep.Type = "runtime"
			}
			s.Dependencies = append(s.Dependencies, dep)
		}
	}
	if s.Platform == "" {
		s.Platform = "ruby"
	}
	return s, nil
}

// field returns the value of key in a mapping node, nil when absent.
func field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			n := m.Content[i+1]
			if n.Kind == yaml.AliasNode {
				n = n.Alias
			}
			return n
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// strs reads a list of strings, or one string as a list of one.
func strs(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if v := scalar(n); v != "" {
			return []string{v}
		}
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if v := scalar(c); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// versionOf reads a Gem::Version: a mapping with a "version" key, or a
// plain scalar.
func versionOf(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.MappingNode {
		return strings.TrimSpace(scalar(field(n, "version")))
	}
	return strings.TrimSpace(scalar(n))
}

// platformOf reads a platform string, or a Gem::Platform mapping (cpu,
// os, version) as its string form.
func platformOf(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.MappingNode {
		var parts []string
		for _, k := range []string{"cpu", "os", "version"} {
			if v := scalar(field(n, k)); v != "" {
				parts = append(parts, v)
			}
		}
		return strings.Join(parts, "-")
	}
	return strings.TrimSpace(scalar(n))
}

// reqsOf reads a Gem::Requirement: {requirements: [[op, version], ...]}.
func reqsOf(n *yaml.Node) []Req {
	rs := field(n, "requirements")
	if rs == nil || rs.Kind != yaml.SequenceNode {
		return nil
	}
	out := []Req{}
	for _, pair := range rs.Content {
		if pair.Kind != yaml.SequenceNode || len(pair.Content) != 2 {
			continue
		}
		out = append(out, Req{Op: scalar(pair.Content[0]), Version: versionOf(pair.Content[1])})
	}
	return out
}

func dateOf(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999 Z", "2006-01-02 15:04:05 Z", time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(24 * time.Hour)
		}
	}
	return time.Date(1980, 1, 2, 0, 0, 0, 0, time.UTC) // RubyGems' reproducible-build date
}

// marshalSpec writes the Gem::Specification the way RubyGems dumps it:
// a user-defined ('u') object whose data is the Marshal dump of the array
// Gem::Specification#_dump builds and Gem::Specification._load reads.
func marshalSpec(s *Spec) []byte {
	in := newMarshaller()
	in.Array(19)
	in.StringOrNil(s.RubygemsVersion)            // 0 rubygems_version
	in.Int(s.SpecificationVersion)               // 1 specification_version
	in.String(s.Name)                            // 2 name
	in.GemVersion(s.Version)                     // 3 version
	in.Time(s.Date)                              // 4 date
	in.StringOrNil(s.Summary)                    // 5 summary
	in.GemRequirement(s.RequiredRubyVersion)     // 6
	in.GemRequirement(s.RequiredRubygemsVersion) // 7
	in.String(s.Platform)                        // 8 original_platform
	in.Array(len(s.Dependencies))                // 9 dependencies
	for _, d := range s.Dependencies {
		in.Object("Gem::Dependency", 4)
		in.Symbol("@name")
		in.String(d.Name)
		in.Symbol("@requirement")
		in.GemRequirement(d.Requirement)
		in.Symbol("@type")
		in.Symbol(d.Type)
		in.Symbol("@prerelease")
		in.Bool(false)
	}
	in.String("")         // 10 rubyforge_project (removed)
	switch len(s.Email) { // 11 email
	case 0:
		in.Nil()
	case 1:
		in.String(s.Email[0])
	default:
		strList(in, s.Email)
	}
	strList(in, s.Authors)        // 12 authors
	in.StringOrNil(s.Description) // 13 description
	in.StringOrNil(s.Homepage)    // 14 homepage
	in.Bool(true)                 // 15 has_rdoc
	in.String(s.Platform)         // 16 new_platform (a String is accepted)
	strList(in, s.Licenses)       // 17 licenses
	keys := make([]string, 0, len(s.Metadata))
	for k := range s.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	in.Hash(len(keys)) // 18 metadata
	for _, k := range keys {
		in.String(k)
		in.String(s.Metadata[k])
	}
	out := newMarshaller()
	out.UserDefined("Gem::Specification", in.Bytes())
	return out.Bytes()
}

func strList(m *marshaller, l []string) {
	m.Array(len(l))
	for _, v := range l {
		m.String(v)
	}
}

// String describes the spec for messages.
func (s *Spec) String() string { return fmt.Sprintf("%s (%s)", s.Name, s.Version) }
