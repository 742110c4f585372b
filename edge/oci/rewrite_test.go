package oci

import (
	"os"
	"testing"

	"entrepot/deploy/testkit"
)

func TestDocuments(t *testing.T) {
	refs := []Descriptor{
		{MediaType: mtOCIManifest, Digest: d256, Size: 500, ArtifactType: "application/vnd.example.sbom", Annotations: map[string]string{"org.example": "a"}},
		{MediaType: mtOCIIndex, Digest: "sha256:1111111111111111111111111111111111111111111111111111111111111111", Size: 300, ArtifactType: "application/vnd.example.sig"},
	}
	upstreamTags, _ := os.ReadFile("testdata/upstream-tags.json")
	rewritten, tags, err := RewriteTagList(upstreamTags, "hub/library/nginx")
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 3 {
		t.Fatalf("tags %v", tags)
	}
	cases := []struct {
		name string
		got  []byte
	}{
		{"referrers-all.json", ReferrersIndex(refs, "")},
		{"referrers-filtered.json", ReferrersIndex(refs, "application/vnd.example.sig")},
		{"referrers-empty.json", ReferrersIndex(nil, "")},
		{"tags.json", TagList("acme/app", []string{"1.0", "latest"})},
		{"tags-empty.json", TagList("acme/app", nil)},
		{"catalog.json", CatalogList([]string{"acme/app", "acme/team/tool"})},
		{"tags-rewritten.json", rewritten},
		{"link.txt", []byte(NextLink("/v2/acme/app/tags/list", "v1.0", 2))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { testkit.Golden(t, "testdata/"+tc.name, tc.got) })
	}
}
