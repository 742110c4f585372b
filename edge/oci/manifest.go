package oci

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"

	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// The manifest media types the registry stores and negotiates.
const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtDockerSchema1  = "application/vnd.docker.distribution.manifest.v1+json"
	mtDockerSigned   = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// manifestTypes are the types PUT accepts.
var manifestTypes = []string{mtOCIManifest, mtOCIIndex, mtDockerManifest, mtDockerList}

func isIndex(mt string) bool { return mt == mtOCIIndex || mt == mtDockerList }

// Descriptor points at content, as manifests and indexes write it.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
}

// Platform is an index entry's platform.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Variant      string `json:"variant,omitempty"`
}

// Manifest is an image manifest or an index, the fields the registry reads.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        *Descriptor       `json:"config,omitempty"`
	Layers        []Descriptor      `json:"layers,omitempty"`
	Manifests     []Descriptor      `json:"manifests,omitempty"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// baseType strips parameters from a media type.
func baseType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
	}
	return strings.ToLower(strings.TrimSpace(mt))
}

// ParseManifest validates a pushed manifest and returns it with its media
// type: from the Content-Type when it names a manifest type, else from
// the document's mediaType, else inferred from its fields. Malformed JSON,
// an unsupported or contradictory media type, or a bad descriptor is
// MANIFEST_INVALID. It is pure.
func ParseManifest(body []byte, contentType string) (Manifest, string, error) {
	const op = "oci.ParseManifest"
	var m Manifest
	if err := json.Unmarshal(body, &m); err != nil || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "manifest is not a JSON object")
	}
	ct := baseType(contentType)
	if ct == mtDockerSchema1 || ct == mtDockerSigned || m.SchemaVersion == 1 {
		return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "Docker schema 1 manifests are not supported: push with a current client")
	}
	if m.SchemaVersion != 2 {
		return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "schemaVersion must be 2")
	}
	mt := ""
	known := func(t string) bool {
		for _, k := range manifestTypes {
			if t == k {
				return true
			}
		}
		return false
	}
	switch {
	case known(ct):
		mt = ct
		if m.MediaType != "" && m.MediaType != ct {
			return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "Content-Type %s does not match the manifest's mediaType %s", ct, m.MediaType)
		}
	case m.MediaType != "":
		mt = m.MediaType
		if !known(mt) {
			return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "unsupported manifest media type %q", clip(mt))
		}
	case m.Manifests != nil:
		mt = mtOCIIndex
	default:
		mt = mtOCIManifest
	}
	if isIndex(mt) {
		if m.Config != nil || m.Layers != nil {
			return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "an index has no config or layers")
		}
		for i := range m.Manifests {
			if err := checkDescriptor(op, m.Manifests[i], "manifests"); err != nil {
				return Manifest{}, "", err
			}
		}
	} else {
		if m.Config == nil {
			return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "an image manifest needs a config")
		}
		if m.Manifests != nil {
			return Manifest{}, "", errf(codeManifestInvalid, fault.Invalid, op, "an image manifest has no manifests list")
		}
		if err := checkDescriptor(op, *m.Config, "config"); err != nil {
			return Manifest{}, "", err
		}
		for i := range m.Layers {
			if err := checkDescriptor(op, m.Layers[i], "layers"); err != nil {
				return Manifest{}, "", err
			}
		}
	}
	if m.Subject != nil {
		if err := checkDescriptor(op, *m.Subject, "subject"); err != nil {
			return Manifest{}, "", err
		}
	}
	return m, mt, nil
}

func checkDescriptor(op string, d Descriptor, field string) error {
	if d.MediaType == "" {
		return errf(codeManifestInvalid, fault.Invalid, op, "a descriptor in %s has no mediaType", field)
	}
	if d.Size < 0 {
		return errf(codeManifestInvalid, fault.Invalid, op, "a descriptor in %s has a negative size", field)
	}
	if _, err := blob.ParseDigest(d.Digest); err != nil {
		return errf(codeManifestInvalid, fault.Invalid, op, "a descriptor in %s has an invalid digest %q", field, clip(d.Digest))
	}
	return nil
}

// nondistributable reports whether a layer may be absent from the
// registry: OCI non-distributable and Docker foreign layers are fetched
// from their URLs, never pushed.
func nondistributable(d Descriptor) bool {
	return strings.Contains(d.MediaType, "nondistributable") || strings.Contains(d.MediaType, ".foreign.")
}

// Blobs lists the blobs a manifest needs in the repository: config and
// layers (not the non-distributable ones).
func (m Manifest) Blobs() []Descriptor {
	var out []Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	for _, l := range m.Layers {
		if !nondistributable(l) {
			out = append(out, l)
		}
	}
	return out
}

// artifactType is the type the referrers API reports for m: its own, or
// for an image manifest its config's media type.
func (m Manifest) artifactType() string {
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil && m.Manifests == nil {
		return m.Config.MediaType
	}
	return ""
}

// Accepts reports whether a client's Accept headers take media type mt. A
// client that names no manifest type at all takes anything (old clients
// send no Accept), and so does one that sends */*.
func Accepts(accept [][]byte, mt string) bool {
	named := false
	for _, h := range accept {
		for _, item := range strings.Split(string(h), ",") {
			t := baseType(item)
			switch {
			case t == mt, t == "*/*":
				return true
			case strings.HasPrefix(t, "application/vnd.oci.image.") || strings.HasPrefix(t, "application/vnd.docker.distribution.manifest."):
				named = true
			}
		}
	}
	return !named
}

// PickPlatform chooses the manifest of an index a client that does not
// take indexes gets: linux/amd64 as docker does, else the first entry
// whose type the client takes. ok is false when none fits.
func PickPlatform(index []byte, accept [][]byte) (Descriptor, bool) {
	var m Manifest
	if json.Unmarshal(index, &m) != nil {
		return Descriptor{}, false
	}
	var first *Descriptor
	for i := range m.Manifests {
		d := &m.Manifests[i]
		if !Accepts(accept, d.MediaType) {
			continue
		}
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
			return *d, true
		}
		if first == nil {
			first = d
		}
	}
	if first == nil {
		return Descriptor{}, false
	}
	return *first, true
}
