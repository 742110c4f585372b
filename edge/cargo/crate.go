package cargo

import (
	"archive/tar"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

// maxManifest bounds the Cargo.toml read from a .crate.
const maxManifest = 1 << 20

// manifest is what is checked of the Cargo.toml inside a .crate: cargo
// writes a normalized one there (workspace inheritance resolved).
type manifest struct {
	Package struct {
		Name        string  `toml:"name"`
		Version     any     `toml:"version"`
		Links       *string `toml:"links"`
		RustVersion any     `toml:"rust-version"`
	} `toml:"package"`
	Dependencies       map[string]any `toml:"dependencies"`
	DevDependencies    map[string]any `toml:"dev-dependencies"`
	DevDependencies2   map[string]any `toml:"dev_dependencies"`
	BuildDependencies  map[string]any `toml:"build-dependencies"`
	BuildDependencies2 map[string]any `toml:"build_dependencies"`
	Target             map[string]struct {
		Dependencies       map[string]any `toml:"dependencies"`
		DevDependencies    map[string]any `toml:"dev-dependencies"`
		DevDependencies2   map[string]any `toml:"dev_dependencies"`
		BuildDependencies  map[string]any `toml:"build-dependencies"`
		BuildDependencies2 map[string]any `toml:"build_dependencies"`
	} `toml:"target"`
}

// readManifest reads a .crate (a gzipped tar whose entries all live under
// "<name>-<vers>/", expanding to at most limit bytes) to its end and
// returns its Cargo.toml. Every entry is checked (edge/archive: no links,
// devices or names out of the folder); one outside that folder, a missing
// Cargo.toml or an unreadable archive is Invalid, an archive expanding
// past limit TooLarge.
func readManifest(r io.Reader, limit int64, name, vers string) (manifest, error) {
	const op = "cargo.readManifest"
	var m manifest
	root := name + "-" + vers
	tr, err := archive.NewTarGz(r, limit)
	if err != nil {
		return m, crateErr(op, "the .crate file is not gzip-compressed", err)
	}
	var raw []byte
	err = tr.Walk(func(h *tar.Header) error {
		clean := path.Clean(h.Name)
		if clean != h.Name && clean+"/" != h.Name || !strings.HasPrefix(clean, root+"/") && clean != root {
			return fault.Newf(op, fault.Invalid, "the .crate file holds %q outside %s/", clip(h.Name), root)
		}
		if clean == root+"/Cargo.toml" && h.Typeflag == tar.TypeReg {
			b, err := archive.ReadAll(tr, maxManifest, "Cargo.toml")
			if fault.Is(err, fault.TooLarge) {
				return fault.Newf(op, fault.Invalid, "Cargo.toml is over %d bytes", maxManifest)
			}
			raw = b
			return err
		}
		return nil
	})
	if err != nil {
		return m, crateErr(op, "the .crate file is not a valid tar archive", err)
	}
	if raw == nil {
		return m, fault.Newf(op, fault.Invalid, "the .crate file has no %s/Cargo.toml", root)
	}
	if _, err := toml.Decode(string(raw), &m); err != nil {
		return m, fault.WrapMsg(op, fault.Invalid, "Cargo.toml in the .crate file does not parse: "+clip(err.Error()), err)
	}
	return m, nil
}

func crateErr(op, msg string, err error) error {
	if k := fault.KindOf(err); k == fault.TooLarge || k == fault.Invalid {
		return err
	}
	return fault.WrapMsg(op, fault.Invalid, msg, err)
}

// depKey identifies a dependency the way both the metadata and the
// manifest can name it: kind, target and the name used in Cargo.toml.
type depKey struct{ kind, target, name string }

// check compares the manifest with the publish metadata: name, version,
// links, rust-version, and the dependencies (every published one is in the
// manifest under the same real name; every normal and build dependency of
// the manifest is published). It returns an Invalid error naming the first
// disagreement.
func (m manifest) check(meta publishMeta) error {
	const op = "cargo.manifest.check"
	bad := func(format string, args ...any) error {
		return fault.Newf(op, fault.Invalid, "the metadata does not match Cargo.toml in the .crate file: "+format, args...)
	}
	if m.Package.Name != meta.Name {
		return bad("package name %q, metadata %q", clip(m.Package.Name), meta.Name)
	}
	if v, _ := m.Package.Version.(string); v != meta.Vers {
		return bad("version %v, metadata %q", m.Package.Version, meta.Vers)
	}
	if deref(m.Package.Links) != deref(meta.Links) {
		return bad("links %q, metadata %q", deref(m.Package.Links), deref(meta.Links))
	}
	if rv, _ := m.Package.RustVersion.(string); meta.RustVersion != nil && rv != *meta.RustVersion {
		return bad("rust-version %q, metadata %q", rv, *meta.RustVersion)
	}

	deps := map[depKey]string{} // → real crate name
	add := func(kind, target string, tables ...map[string]any) {
		for _, t := range tables {
			for key, v := range t {
				real := key
				if tbl, ok := v.(map[string]any); ok {
					if p, ok := tbl["package"].(string); ok {
						real = p
					}
				}
				deps[depKey{kind, target, key}] = real
			}
		}
	}
	add("normal", "", m.Dependencies)
	add("dev", "", m.DevDependencies, m.DevDependencies2)
	add("build", "", m.BuildDependencies, m.BuildDependencies2)
	for target, t := range m.Target {
		add("normal", target, t.Dependencies)
		add("dev", target, t.DevDependencies, t.DevDependencies2)
		add("build", target, t.BuildDependencies, t.BuildDependencies2)
	}

	published := map[depKey]bool{}
	for _, d := range meta.Deps {
		kind := d.Kind
		if kind == "" {
			kind = "normal"
		}
		k := depKey{kind, deref(d.Target), d.Name}
		if d.ExplicitNameInToml != nil {
			k.name = *d.ExplicitNameInToml
		}
		real, ok := deps[k]
		if !ok {
			return bad("dependency %q (%s) is not in Cargo.toml", k.name, kind)
		}
		if real != d.Name {
			return bad("dependency %q is crate %q in Cargo.toml, %q in the metadata", k.name, real, d.Name)
		}
		published[k] = true
	}
	var missing []string
	for k := range deps {
		if k.kind != "dev" && !published[k] {
			missing = append(missing, k.name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return bad("dependency %q of Cargo.toml is not in the metadata", missing[0])
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
