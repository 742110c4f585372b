package npm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/Masterminds/semver/v3"

	"entrepot/hosted"
)

// pkgMeta is what a hosted npm package keeps in hosted.Package.Meta.
type pkgMeta struct {
	DistTags map[string]string `json:"distTags,omitempty"`
	// Fields are top-level packument fields from the latest publish
	// (description, readme, keywords, ...), served as they came.
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
}

// keptFields are the top-level packument fields a publish may set.
var keptFields = []string{"description", "readme", "readmeFilename", "keywords", "license", "homepage", "repository", "bugs", "author", "maintainers", "contributors"}

// abbreviatedFields are the manifest fields of an abbreviated packument
// (npm's "corgi" documents), as the public registry serves them.
var abbreviatedFields = []string{"name", "version", "deprecated", "dependencies", "optionalDependencies", "devDependencies", "bundleDependencies", "bundledDependencies", "peerDependencies", "peerDependenciesMeta", "acceptDependencies", "bin", "directories", "dist", "engines", "cpu", "os", "libc", "funding", "license", "_hasShrinkwrap", "hasInstallScript"}

func decodeMeta(raw json.RawMessage) pkgMeta {
	var m pkgMeta
	if len(raw) > 0 {
		json.Unmarshal(raw, &m) // written by us; a bad one reads as empty
	}
	if m.DistTags == nil {
		m.DistTags = map[string]string{}
	}
	return m
}

// sortVersions orders versions by semver precedence, oldest first.
func sortVersions(vs []hosted.Version) {
	sort.SliceStable(vs, func(i, j int) bool { return versionLess(vs[i].Version, vs[j].Version) })
}

func versionLess(a, b string) bool {
	va, ea := semver.NewVersion(a)
	vb, eb := semver.NewVersion(b)
	if ea != nil || eb != nil {
		return a < b
	}
	return va.LessThan(vb)
}

// liveTags returns the dist-tags that point at a live version, with
// "latest" falling back to the highest release (or, without one, the
// highest version) when its version is gone.
func liveTags(tags map[string]string, live []hosted.Version) map[string]string {
	have := make(map[string]bool, len(live))
	for _, v := range live {
		have[v.Version] = true
	}
	out := make(map[string]string, len(tags)+1)
	for t, v := range tags {
		if have[v] {
			out[t] = v
		}
	}
	if _, ok := out["latest"]; !ok && len(live) > 0 {
		out["latest"] = highest(live)
	}
	return out
}

// highest returns the highest release among sorted versions, else the
// highest version.
func highest(sorted []hosted.Version) string {
	for i := len(sorted) - 1; i >= 0; i-- {
		if v, err := semver.NewVersion(sorted[i].Version); err == nil && v.Prerelease() == "" {
			return sorted[i].Version
		}
	}
	return sorted[len(sorted)-1].Version
}

// revOf is the CouchDB-style revision of a package, which npm echoes back
// in unpublish URLs.
func revOf(p hosted.Package) string {
	s := strconv.FormatUint(p.Serial, 10)
	sum := sha256.Sum256([]byte(p.ID + "@" + s))
	return s + "-" + hex.EncodeToString(sum[:16])
}

// manifestOf returns a version's manifest with dist.tarball pointing at
// tarballBase, from what the version keeps in Meta.
func manifestOf(v hosted.Version, n Name, tarballBase string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	json.Unmarshal(v.Meta, &m)
	dist := map[string]json.RawMessage{}
	json.Unmarshal(m["dist"], &dist)
	dist["tarball"], _ = marshal(tarballBase + TarballFile(n, v.Version))
	m["dist"], _ = marshal(dist)
	m["name"], _ = marshal(n.String())
	m["version"], _ = marshal(v.Version)
	return m
}

// BuildPackument builds a hosted package's packument, full or
// abbreviated, from its catalog records: live versions only, tarball URLs
// under tarballBase ("<base>/npm/<name>/-/"). It is pure.
func BuildPackument(p hosted.Package, live []hosted.Version, n Name, tarballBase string, abbreviated bool) ([]byte, error) {
	sortVersions(live)
	meta := decodeMeta(p.Meta)
	versions := make(map[string]map[string]json.RawMessage, len(live))
	for _, v := range live {
		m := manifestOf(v, n, tarballBase)
		if abbreviated {
			a := make(map[string]json.RawMessage, len(abbreviatedFields))
			for _, f := range abbreviatedFields {
				if x, ok := m[f]; ok {
					a[f] = x
				}
			}
			m = a
		}
		versions[v.Version] = m
	}
	tags := liveTags(meta.DistTags, live)
	modified := p.UpdatedAt.UTC().Format(time.RFC3339Nano)
	if abbreviated {
		return marshal(struct {
			Name     string                                `json:"name"`
			Modified string                                `json:"modified"`
			DistTags map[string]string                     `json:"dist-tags"`
			Versions map[string]map[string]json.RawMessage `json:"versions"`
		}{n.String(), modified, tags, versions})
	}
	doc := make(map[string]any, len(meta.Fields)+6)
	for k, v := range meta.Fields {
		doc[k] = v
	}
	times := map[string]string{"created": p.CreatedAt.UTC().Format(time.RFC3339Nano), "modified": modified}
	for _, v := range live {
		times[v.Version] = v.PublishedAt.UTC().Format(time.RFC3339Nano)
	}
	doc["_id"] = n.String()
	doc["_rev"] = revOf(p)
	doc["name"] = n.String()
	doc["dist-tags"] = tags
	doc["versions"] = versions
	doc["time"] = times
	return marshal(doc)
}
