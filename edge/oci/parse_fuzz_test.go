package oci

import (
	"strings"
	"testing"

	"entrepot/edge/claimtest"
	"entrepot/hosted/fault"
)

// FuzzParse covers the parsers of parse.go that FuzzParsePath does not:
// digests, tags, token scopes and claim namespaces.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sha256:" + strings.Repeat("a", 64), "sha512:" + strings.Repeat("0", 128), "md5:abc", "latest", "v1.0_rc-1",
		"repository:acme/app:pull,push", "repository:Acme/app:pull", "registry:catalog:*", "repository:acme/app:", "acme",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDigest(s); err == nil {
			if string(d) != s {
				t.Fatalf("ParseDigest(%q) = %q", s, d)
			}
		} else if !fault.Is(err, fault.Invalid) {
			t.Fatalf("ParseDigest(%q): error of kind %v", s, fault.KindOf(err))
		}
		if ValidTag(s) && (s == "" || len(s) > 128 || strings.ContainsAny(s, "/:@")) {
			t.Fatalf("ValidTag(%q) accepted it", s)
		}
		if sc, ok := ParseScope(s); ok {
			if len(sc.Actions) == 0 || (sc.Type != "repository" && sc.Type != "registry") || (sc.Type == "repository" && !ValidName(sc.Name)) {
				t.Fatalf("ParseScope(%q) = %+v", s, sc)
			}
		}
		claimtest.CheckClaimRule(t, "oci", NormalizeClaim, "acme", s)
		claimtest.CheckClaimRule(t, "oci", NormalizeClaim, s, s)
	})
}

// FuzzParseManifest: a pushed manifest either is MANIFEST_INVALID or
// names a manifest media type and only well-formed blob descriptors.
func FuzzParseManifest(f *testing.F) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2}`
	for _, s := range [][2]string{
		{`{"schemaVersion":2,"mediaType":"` + mtOCIManifest + `","config":` + cfg + `,"layers":[]}`, mtOCIManifest},
		{`{"schemaVersion":2,"config":` + cfg + `,"layers":[` + cfg + `]}`, ""},
		{`{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[` + cfg + `]}`, mtOCIIndex},
		{`{"schemaVersion":1}`, "application/vnd.docker.distribution.manifest.v1+json"},
		{`{"schemaVersion":2,"config":{"digest":"sha256:x","size":-1}}`, "text/plain"},
		{`[]`, ""},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		m, mt, err := ParseManifest(body, contentType)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("ParseManifest: error of kind %v", fault.KindOf(err))
			}
			return
		}
		if mt == "" {
			t.Fatal("ParseManifest accepted a manifest without a media type")
		}
		for _, d := range m.Blobs() {
			if _, err := ParseDigest(string(d.Digest)); err != nil || d.Size < 0 {
				t.Fatalf("ParseManifest accepted descriptor %+v", d)
			}
		}
	})
}
