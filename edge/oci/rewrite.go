package oci

import (
	"encoding/json"
	"net/url"
	"strconv"
)

// The documents the registry writes itself. Each is pure: records or
// upstream bytes in, bytes out (golden files in testdata/).

// ReferrersIndex is the referrers API's answer: an OCI index of the
// manifests whose subject is the digest asked for, filtered by
// artifactType when one is given. It is never null: no referrers is an
// index with an empty list.
func ReferrersIndex(refs []Descriptor, artifactType string) []byte {
	out := []Descriptor{}
	for _, d := range refs {
		if artifactType == "" || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	b, _ := json.Marshal(struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []Descriptor `json:"manifests"`
	}{2, mtOCIIndex, out})
	return b
}

// TagList is the tags list document for repository name.
func TagList(name string, tags []string) []byte {
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
	return b
}

// CatalogList is the /v2/_catalog document.
func CatalogList(repos []string) []byte {
	if repos == nil {
		repos = []string{}
	}
	b, _ := json.Marshal(struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return b
}

// NextLink is the Link header of a paginated list whose page ended at
// last: path is "/v2/<name>/tags/list" or "/v2/_catalog".
func NextLink(path, last string, n int) string {
	q := url.Values{}
	q.Set("last", last)
	if n > 0 {
		q.Set("n", strconv.Itoa(n))
	}
	return "<" + path + "?" + q.Encode() + `>; rel="next"`
}

// RewriteTagList renames the repository of an upstream's tags list to the
// name the client asked for (the mirror prefix included), and returns the
// tags for pagination. Anything that is not a tags list is an error.
func RewriteTagList(body []byte, name string) ([]byte, []string, error) {
	var tl struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &tl); err != nil {
		return nil, nil, err
	}
	return TagList(name, tl.Tags), tl.Tags, nil
}
