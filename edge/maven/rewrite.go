package maven

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"entrepot/hosted/fault"
)

// Maven documents carry no URLs, so nothing is rewritten on the way out of
// the mirror. What the server writes instead is maven-metadata.xml for
// hosted artifacts, generated from what is stored (never from what a
// client uploaded), and the checks on what clients upload: metadata is
// reconciled against the store, POMs against their path. All of it is
// pure: values and bytes in, bytes or an error out.

// Timestamp layouts of maven-metadata.xml.
const (
	lastUpdatedLayout = "20060102150405"
	snapshotLayout    = "20060102.150405"
)

// metadataDoc is maven-metadata.xml, at any of its three levels. Field
// order is the element order Maven itself writes.
type metadataDoc struct {
	XMLName      xml.Name       `xml:"metadata"`
	ModelVersion string         `xml:"modelVersion,attr,omitempty"`
	GroupID      string         `xml:"groupId,omitempty"`
	ArtifactID   string         `xml:"artifactId,omitempty"`
	Version      string         `xml:"version,omitempty"`
	Versioning   *versioningDoc `xml:"versioning,omitempty"`
	Plugins      *pluginsDoc    `xml:"plugins,omitempty"`
}

type versioningDoc struct {
	Latest           string               `xml:"latest,omitempty"`
	Release          string               `xml:"release,omitempty"`
	Snapshot         *snapshotDoc         `xml:"snapshot,omitempty"`
	Versions         *versionsDoc         `xml:"versions,omitempty"`
	LastUpdated      string               `xml:"lastUpdated,omitempty"`
	SnapshotVersions *snapshotVersionsDoc `xml:"snapshotVersions,omitempty"`
}

// The list wrappers are pointers so that an absent list writes no empty
// element (encoding/xml keeps "a>b" parents of empty slices).
type versionsDoc struct {
	Version []string `xml:"version"`
}

type snapshotVersionsDoc struct {
	SnapshotVersion []snapshotVersionDoc `xml:"snapshotVersion"`
}

type pluginsDoc struct {
	Plugin []pluginDoc `xml:"plugin"`
}

type snapshotDoc struct {
	Timestamp   string `xml:"timestamp,omitempty"`
	BuildNumber int    `xml:"buildNumber,omitempty"`
	LocalCopy   bool   `xml:"localCopy,omitempty"`
}

type snapshotVersionDoc struct {
	Classifier string `xml:"classifier,omitempty"`
	Extension  string `xml:"extension"`
	Value      string `xml:"value"`
	Updated    string `xml:"updated,omitempty"`
}

type pluginDoc struct {
	Name       string `xml:"name,omitempty"`
	Prefix     string `xml:"prefix"`
	ArtifactID string `xml:"artifactId"`
}

// StoredFile is what metadata generation needs to know of one stored
// artifact file.
type StoredFile struct {
	Version    string // the directory version
	Classifier string
	Extension  string
	Timestamp  string // unique snapshots: "20240101.120000"
	Build      int    // unique snapshots: the build number
	Uploaded   time.Time
}

func encode(d metadataDoc) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(d); err != nil {
		// Only strings and ints go in: encoding cannot fail.
		panic(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// ArtifactMetadata renders the artifact-level maven-metadata.xml of
// group:artifact from its stored files: every version that has a file,
// in Maven's order, the highest as latest, the highest non-SNAPSHOT as
// release, and the newest upload as lastUpdated. It is deterministic, so
// the document and its checksums agree between requests.
func ArtifactMetadata(group, artifact string, files []StoredFile) []byte {
	seen := map[string]bool{}
	var versions []string
	var last time.Time
	for _, f := range files {
		if !seen[f.Version] {
			seen[f.Version] = true
			versions = append(versions, f.Version)
		}
		if f.Uploaded.After(last) {
			last = f.Uploaded
		}
	}
	sort.SliceStable(versions, func(i, j int) bool { return CompareVersions(versions[i], versions[j]) < 0 })
	v := &versioningDoc{Versions: &versionsDoc{Version: versions}, LastUpdated: last.UTC().Format(lastUpdatedLayout)}
	if len(versions) > 0 {
		v.Latest = versions[len(versions)-1]
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if !IsSnapshot(versions[i]) {
			v.Release = versions[i]
			break
		}
	}
	return encode(metadataDoc{GroupID: group, ArtifactID: artifact, Versioning: v})
}

// newer orders snapshot builds: by build number, then timestamp.
func newer(a, b StoredFile) bool {
	if a.Build != b.Build {
		return a.Build > b.Build
	}
	return a.Timestamp > b.Timestamp
}

// SnapshotMetadata renders the version-level maven-metadata.xml of a
// SNAPSHOT version from its stored (timestamped) files: the newest build
// as the snapshot, and per classifier and extension the newest file.
func SnapshotMetadata(group, artifact, version string, files []StoredFile) []byte {
	type key struct{ classifier, extension string }
	newest := map[key]StoredFile{}
	var top StoredFile
	var last time.Time
	for _, f := range files {
		if f.Version != version || f.Build == 0 {
			continue
		}
		k := key{f.Classifier, f.Extension}
		if cur, ok := newest[k]; !ok || newer(f, cur) {
			newest[k] = f
		}
		if top.Build == 0 || newer(f, top) {
			top = f
		}
		if f.Uploaded.After(last) {
			last = f.Uploaded
		}
	}
	base := strings.TrimSuffix(version, "SNAPSHOT")
	v := &versioningDoc{LastUpdated: last.UTC().Format(lastUpdatedLayout)}
	if top.Build > 0 {
		v.Snapshot = &snapshotDoc{Timestamp: top.Timestamp, BuildNumber: top.Build}
	}
	keys := make([]key, 0, len(newest))
	for k := range newest {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.extension, b.extension); c != 0 {
			return c
		}
		return strings.Compare(a.classifier, b.classifier)
	})
	if len(keys) > 0 {
		v.SnapshotVersions = &snapshotVersionsDoc{}
	}
	for _, k := range keys {
		f := newest[k]
		v.SnapshotVersions.SnapshotVersion = append(v.SnapshotVersions.SnapshotVersion, snapshotVersionDoc{
			Classifier: k.classifier,
			Extension:  k.extension,
			Value:      base + f.Timestamp + "-" + strconv.Itoa(f.Build),
			Updated:    f.Uploaded.UTC().Format(lastUpdatedLayout),
		})
	}
	return encode(metadataDoc{ModelVersion: "1.1.0", GroupID: group, ArtifactID: artifact, Version: version, Versioning: v})
}

// parseMetadata reads a client's maven-metadata.xml. Errors are Invalid.
func parseMetadata(b []byte) (metadataDoc, error) {
	var d metadataDoc
	if err := strictUnmarshal(b, &d); err != nil {
		return d, fault.WrapMsg("maven.parseMetadata", fault.Invalid, "maven-metadata.xml is not well-formed XML: "+err.Error(), err)
	}
	return d, nil
}

// strictUnmarshal decodes XML and refuses trailing content after the root
// element, which encoding/xml alone would ignore.
func strictUnmarshal(b []byte, v any) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errTrailing
			}
		case xml.Comment, xml.ProcInst:
		default:
			return errTrailing
		}
	}
}

type xmlError string

func (e xmlError) Error() string { return string(e) }

const errTrailing = xmlError("content after the root element")

// Reconcile checks a client's artifact- or version-level metadata against
// the stored files: it must name the same coordinates and list nothing
// that was never deployed. The server then serves its own document, so a
// client that read stale metadata before a concurrent deploy loses
// nothing. version is "" at the artifact level. Errors are Invalid.
func Reconcile(b []byte, group, artifact, version string, files []StoredFile) error {
	const op = "maven.Reconcile"
	d, err := parseMetadata(b)
	if err != nil {
		return err
	}
	if d.GroupID != group || d.ArtifactID != artifact {
		return fault.Newf(op, fault.Invalid, "maven-metadata.xml names %s:%s, but the path is %s:%s", d.GroupID, d.ArtifactID, group, artifact)
	}
	if version != "" && d.Version != "" && d.Version != version {
		return fault.Newf(op, fault.Invalid, "maven-metadata.xml names version %s, but the path is %s", d.Version, version)
	}
	if d.Versioning == nil {
		return nil
	}
	known := map[string]bool{}
	for _, f := range files {
		known[f.Version] = true
		if f.Build > 0 {
			base := strings.TrimSuffix(f.Version, "SNAPSHOT")
			known[f.Version+"|"+f.Classifier+"|"+f.Extension+"|"+base+f.Timestamp+"-"+strconv.Itoa(f.Build)] = true
		}
	}
	if version == "" {
		var listed []string
		if d.Versioning.Versions != nil {
			listed = append(listed, d.Versioning.Versions.Version...)
		}
		if d.Versioning.Latest != "" {
			listed = append(listed, d.Versioning.Latest)
		}
		if d.Versioning.Release != "" {
			listed = append(listed, d.Versioning.Release)
		}
		for _, v := range listed {
			if !known[v] {
				return fault.Newf(op, fault.Invalid, "maven-metadata.xml lists version %s of %s:%s, which was never deployed", v, group, artifact)
			}
		}
		return nil
	}
	if d.Versioning.SnapshotVersions == nil {
		return nil
	}
	for _, sv := range d.Versioning.SnapshotVersions.SnapshotVersion {
		if !known[version+"|"+sv.Classifier+"|"+sv.Extension+"|"+sv.Value] {
			name := artifact + "-" + sv.Value
			if sv.Classifier != "" {
				name += "-" + sv.Classifier
			}
			return fault.Newf(op, fault.Invalid, "maven-metadata.xml lists %s.%s, which was never deployed", name, sv.Extension)
		}
	}
	return nil
}

// pomDoc holds the coordinates of a POM; groupId and version may be
// inherited from the parent.
type pomDoc struct {
	XMLName    xml.Name `xml:"project"`
	GroupID    string   `xml:"groupId"`
	ArtifactID string   `xml:"artifactId"`
	Version    string   `xml:"version"`
	Packaging  string   `xml:"packaging"`
	Parent     struct {
		GroupID string `xml:"groupId"`
		Version string `xml:"version"`
	} `xml:"parent"`
}

// CheckPOM verifies that a POM is well-formed and that its coordinates
// (groupId and version inherited from the parent when absent) are the
// path's. Errors are Invalid.
func CheckPOM(b []byte, group, artifact, version string) error {
	const op = "maven.CheckPOM"
	var p pomDoc
	if err := strictUnmarshal(b, &p); err != nil {
		return fault.WrapMsg(op, fault.Invalid, "the POM is not well-formed XML: "+err.Error(), err)
	}
	g, v := strings.TrimSpace(p.GroupID), strings.TrimSpace(p.Version)
	if g == "" {
		g = strings.TrimSpace(p.Parent.GroupID)
	}
	if v == "" {
		v = strings.TrimSpace(p.Parent.Version)
	}
	a := strings.TrimSpace(p.ArtifactID)
	if g != group || a != artifact || v != version {
		return fault.Newf(op, fault.Invalid, "the POM's coordinates %s:%s:%s do not match the path's %s:%s:%s", g, a, v, group, artifact, version)
	}
	return nil
}
