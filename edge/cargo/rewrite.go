package cargo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"

	"entrepot/hosted/fault"
)

// publishMeta is the JSON half of a publish request (cargo's NewCrate).
// Only what the index and the catalog keep is decoded; the rest of the
// document is ignored.
type publishMeta struct {
	Name        string              `json:"name"`
	Vers        string              `json:"vers"`
	Deps        []publishDep        `json:"deps"`
	Features    map[string][]string `json:"features"`
	Description *string             `json:"description"`
	Links       *string             `json:"links"`
	RustVersion *string             `json:"rust_version"`
}

// publishDep is one dependency as cargo publishes it.
type publishDep struct {
	Name               string   `json:"name"` // the crate's real name
	VersionReq         string   `json:"version_req"`
	Features           []string `json:"features"`
	Optional           bool     `json:"optional"`
	DefaultFeatures    bool     `json:"default_features"`
	Target             *string  `json:"target"`
	Kind               string   `json:"kind"`
	Registry           *string  `json:"registry"`              // nil: this registry
	ExplicitNameInToml *string  `json:"explicit_name_in_toml"` // the rename, if any
}

// indexEntry is one line of a sparse index file.
type indexEntry struct {
	Name        string              `json:"name"`
	Vers        string              `json:"vers"`
	Deps        []indexDep          `json:"deps"`
	Cksum       string              `json:"cksum"`
	Features    map[string][]string `json:"features"`
	Features2   map[string][]string `json:"features2,omitempty"`
	Yanked      bool                `json:"yanked"`
	Links       *string             `json:"links"`
	RustVersion *string             `json:"rust_version,omitempty"`
	V           int                 `json:"v,omitempty"`
}

// indexDep is one dependency in an index line. Name is the name the
// depending crate uses; Package the real crate name when it was renamed.
type indexDep struct {
	Name            string   `json:"name"`
	Req             string   `json:"req"`
	Features        []string `json:"features"`
	Optional        bool     `json:"optional"`
	DefaultFeatures bool     `json:"default_features"`
	Target          *string  `json:"target"`
	Kind            string   `json:"kind"`
	Registry        *string  `json:"registry,omitempty"`
	Package         *string  `json:"package,omitempty"`
}

// decodePublish parses and checks the JSON half of a publish.
func decodePublish(b []byte) (publishMeta, error) {
	const op = "cargo.decodePublish"
	var m publishMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fault.WrapMsg(op, fault.Invalid, "malformed publish metadata: "+clip(err.Error()), err)
	}
	if err := checkName(m.Name); err != nil {
		return m, err
	}
	if _, _, err := parseVersion(m.Vers); err != nil {
		return m, err
	}
	for _, d := range m.Deps {
		if err := checkName(d.Name); err != nil {
			return m, fault.Newf(op, fault.Invalid, "dependency %q: %s", clip(d.Name), fault.Message(err))
		}
		if d.ExplicitNameInToml != nil {
			if err := checkName(*d.ExplicitNameInToml); err != nil {
				return m, fault.Newf(op, fault.Invalid, "dependency %q: %s", clip(d.Name), fault.Message(err))
			}
		}
		if strings.TrimSpace(d.VersionReq) == "" || len(d.VersionReq) > 256 {
			return m, fault.Newf(op, fault.Invalid, "dependency %q has no valid version requirement", d.Name)
		}
		switch d.Kind {
		case "", "normal", "dev", "build":
		default:
			return m, fault.Newf(op, fault.Invalid, "dependency %q has an unknown kind %q", d.Name, clip(d.Kind))
		}
	}
	return m, nil
}

// indexEntryOf turns publish metadata into the index line of the version,
// with the checksum computed by the server. Features that use the
// "dep:" or "?/" syntax go to features2, which older cargo versions skip,
// and then the line says v: 2, as crates.io writes it.
func indexEntryOf(m publishMeta, cksum string) indexEntry {
	e := indexEntry{Name: m.Name, Vers: m.Vers, Cksum: cksum, Links: m.Links, RustVersion: m.RustVersion,
		Deps: make([]indexDep, 0, len(m.Deps)), Features: map[string][]string{}}
	for _, d := range m.Deps {
		kind := d.Kind
		if kind == "" {
			kind = "normal"
		}
		feats := d.Features
		if feats == nil {
			feats = []string{}
		}
		id := indexDep{Name: d.Name, Req: d.VersionReq, Features: feats, Optional: d.Optional,
			DefaultFeatures: d.DefaultFeatures, Target: d.Target, Kind: kind, Registry: d.Registry}
		if d.ExplicitNameInToml != nil && *d.ExplicitNameInToml != d.Name {
			pkg := d.Name
			id.Name, id.Package = *d.ExplicitNameInToml, &pkg
		}
		e.Deps = append(e.Deps, id)
	}
	for f, vals := range m.Features {
		if vals == nil {
			vals = []string{}
		}
		if usesNewSyntax(vals) {
			if e.Features2 == nil {
				e.Features2 = map[string][]string{}
			}
			e.Features2[f] = vals
			continue
		}
		e.Features[f] = vals
	}
	if e.Features2 != nil {
		e.V = 2
	}
	return e
}

func usesNewSyntax(vals []string) bool {
	for _, v := range vals {
		if strings.HasPrefix(v, "dep:") || strings.Contains(v, "?/") {
			return true
		}
	}
	return false
}

// renderIndex writes the index file of a crate: one JSON line per
// version, in ascending version order.
func renderIndex(entries []indexEntry) []byte {
	sorted := append([]indexEntry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool { return versionLess(sorted[i].Vers, sorted[j].Vers) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one line per value, '\n' after each
	enc.SetEscapeHTML(false)
	for _, e := range sorted {
		enc.Encode(e) // cannot fail: plain strings, slices and maps
	}
	return buf.Bytes()
}

func versionLess(a, b string) bool {
	va, ea := semver.StrictNewVersion(a)
	vb, eb := semver.StrictNewVersion(b)
	if ea != nil || eb != nil {
		return a < b
	}
	return va.LessThan(vb)
}

// configJSON is the index's config.json; base is the mount point's public
// URL. With no markers in dl, cargo appends /{crate}/{version}/download,
// which is the web API's download route.
func configJSON(base string, authRequired bool) []byte {
	b, _ := json.Marshal(struct {
		DL           string `json:"dl"`
		API          string `json:"api"`
		AuthRequired bool   `json:"auth-required"`
	}{base + "/api/v1/crates", base, authRequired})
	return b
}

// upstreamConfig is what is read of an upstream index's config.json.
type upstreamConfig struct {
	DL string `json:"dl"`
}

// dlMarkers are the placeholders a dl template may hold.
var dlMarkers = []string{"{crate}", "{version}", "{prefix}", "{lowerprefix}", "{sha256-checksum}"}

// downloadURL expands a dl template for one crate version, the way cargo
// does: without any marker, /{crate}/{version}/download is appended.
func downloadURL(tmpl, name, vers, cksum string) string {
	has := false
	for _, m := range dlMarkers {
		if strings.Contains(tmpl, m) {
			has = true
			break
		}
	}
	if !has {
		return strings.TrimSuffix(tmpl, "/") + "/" + name + "/" + vers + "/download"
	}
	return strings.NewReplacer(
		"{crate}", name,
		"{version}", vers,
		"{prefix}", prefixOf(name),
		"{lowerprefix}", strings.ToLower(prefixOf(name)),
		"{sha256-checksum}", cksum,
	).Replace(tmpl)
}

// findVersion scans an index file for vers and returns the crate's name
// as the index spells it and the version's checksum. Lines that do not
// parse are skipped, as cargo skips them.
func findVersion(index []byte, vers string) (name, cksum string, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(index))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(vers)) {
			continue
		}
		var e struct{ Name, Vers, Cksum string }
		if json.Unmarshal(line, &e) != nil || e.Vers != vers {
			continue
		}
		if !isHex64(e.Cksum) {
			return "", "", false
		}
		return e.Name, e.Cksum, true
	}
	return "", "", false
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
