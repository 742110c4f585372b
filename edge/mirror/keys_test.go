package mirror

import (
	"net/url"
	"strings"
	"testing"

	"entrepot/hosted/blob"
)

const (
	sha256d = blob.Digest("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	sha512d = blob.Digest("sha512:ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff")
	sha1d   = blob.Digest("sha1:a94a8fe5ccb19ba61c4c0873d391e987982fbbd3")
)

var base = &url.URL{Scheme: "http", Host: "127.0.0.1:8080", Path: "/index/"}

// TestKeys is the layout's golden list: a key changes only on purpose,
// since a changed key is a cache every mirror fills anew.
func TestKeys(t *testing.T) {
	for _, c := range []struct {
		name, got, want string
	}{
		{"npm packument", NPMPackument("lodash", false), "npm/packument/lodash"},
		{"npm scoped packument", NPMPackument("@types/node", false), "npm/packument/@types/node"},
		{"npm abbreviated", NPMPackument("@types/node", true), "npm/abbreviated/@types/node"},
		{"npm tarball", NPMTarball("@types/node", "node-20.1.0.tgz"), "npm/tarball/@types/node/node-20.1.0.tgz"},
		{"oci blob", OCIBlob(sha256d), "oci/blob/" + string(sha256d)},
		{"oci manifest by digest", OCIManifest(sha256d), "oci/manifest/" + string(sha256d)},
		{"oci tag", OCITag("hub", "library/nginx", "1.27"), "oci/tag/hub/library/nginx/1.27"},
		{"oci tags page", OCITags("hub", "library/nginx", "last=1.2&n=10"), "oci/tags/hub/library/nginx?last=1.2&n=10"},
		{"oci tags all", OCITags("hub", "library/nginx", ""), "oci/tags/hub/library/nginx?"},
		{"oci referrers", OCIReferrers("ghcr", "acme/app", sha256d), "oci/referrers/ghcr/acme/app/" + string(sha256d)},
		{"pypi page", PyPIPage("requests"), "pypi/page/requests"},
		{"pypi file by sha256", PyPIFile(false, "requests", "requests-2.32.0-py3-none-any.whl", sha256d), "pypi/file/requests/requests-2.32.0-py3-none-any.whl/" + string(sha256d)},
		{"pypi file by sha512", PyPIFile(false, "requests", "requests-2.32.0.tar.gz", sha512d), "pypi/file/requests/requests-2.32.0.tar.gz/" + string(sha512d)},
		{"pypi file without digest", PyPIFile(false, "requests", "requests-2.32.0.tar.gz", ""), "pypi/file/requests/requests-2.32.0.tar.gz"},
		{"pypi metadata", PyPIFile(true, "requests", "requests-2.32.0-py3-none-any.whl", sha256d), "pypi/metadata/requests/requests-2.32.0-py3-none-any.whl/" + string(sha256d)},
		{"pypi metadata without digest", PyPIFile(true, "requests", "requests-2.32.0-py3-none-any.whl", ""), "pypi/metadata/requests/requests-2.32.0-py3-none-any.whl"},
		{"cargo config", CargoConfig(), "cargo/config.json"},
		{"cargo index", CargoIndex("serde_json"), "cargo/index/serde_json"},
		{"cargo crate", CargoCrate("serde_json", "1.0.100", sha256d), "cargo/crate/serde_json/1.0.100/" + string(sha256d)},
		{"maven metadata", MavenMetadata("org/acme/lib/maven-metadata.xml"), "maven/metadata/org/acme/lib/maven-metadata.xml"},
		{"maven artifact", MavenArtifact("org/acme/lib/1.0/lib-1.0.jar"), "maven/artifact/org/acme/lib/1.0/lib-1.0.jar"},
		{"maven checksum", MavenChecksum("org/acme/lib/1.0/lib-1.0.jar.sha1"), "maven/checksum/org/acme/lib/1.0/lib-1.0.jar.sha1"},
		{"composer root", ComposerRoot(), "composer/packages.json"},
		{"composer p2", ComposerP2("acme/lib"), "composer/p2/acme/lib"},
		{"composer p2 dev", ComposerP2("acme/lib~dev"), "composer/p2/acme/lib~dev"},
		{"composer dist with shasum", ComposerDist("acme/lib", "1.0.0.0", "0123abcd", "zip", sha1d), "composer/dist/acme/lib/1.0.0.0/0123abcd.zip/" + string(sha1d)},
		{"composer dist without", ComposerDist("acme/lib", "1.0.0.0", "0123abcd", "zip", ""), "composer/dist/acme/lib/1.0.0.0/0123abcd.zip"},
		{"rubygems versions", RubyGemsIndex("versions"), "rubygems/versions"},
		{"rubygems names", RubyGemsIndex("names"), "rubygems/names"},
		{"rubygems info", RubyGemsIndex("info/rails"), "rubygems/info/rails"},
		{"rubygems gem", RubyGemsGem("rails-7.1.0", sha256d), "rubygems/gem/rails-7.1.0/" + string(sha256d)},
		{"rubygems gemspec", RubyGemsGemspec("nokogiri-1.16.0-x86_64-linux"), "rubygems/gemspec/nokogiri-1.16.0-x86_64-linux"},
		// The layout before this one, read once after an upgrade.
		{"npm legacy packument", LegacyNPMPackument("@types/node", false), "npm:packument:@types/node"},
		{"npm legacy abbreviated", LegacyNPMPackument("@types/node", true), "npm:packument:@types/node:abbreviated"},
		{"npm legacy tarball", LegacyNPMTarball("@types/node", "node-20.1.0.tgz"), "npm:tarball:@types/node/node-20.1.0.tgz"},
		{"oci legacy blob", LegacyOCIBlob("hub", sha256d), "oci/hub/blobs/" + string(sha256d)},
		{"oci legacy manifest", LegacyOCIRepo("hub", "library/nginx", "manifests/1.27"), "oci/hub/library/nginx/manifests/1.27"},
		{"cargo legacy index", LegacyHost("cargo", base, "index/se/rd/serde"), "cargo/127.0.0.1:8080/index/index/se/rd/serde"},
		{"maven legacy", LegacyHost("maven", base, "org/acme/lib/1.0/lib-1.0.jar"), "maven/127.0.0.1:8080/index/org/acme/lib/1.0/lib-1.0.jar"},
		{"composer legacy dist", LegacyComposerDist(base, "acme/lib", "http://127.0.0.1:8081/lib.zip", "0123abcd", ""), "composer/127.0.0.1:8080/index/dist/acme/lib/0123fdfe5da168f9e1cdcb18f31da7e6"},
		{"pypi legacy page", LegacyPyPIPage(base, "requests"), "pypi/http://127.0.0.1:8080/index/simple/requests"},
		{"pypi legacy file", LegacyPyPIFile(base, false, "http://127.0.0.1:8081/r.whl", sha256d), "pypi/http://127.0.0.1:8080/index/files/sha256/" + sha256d.Hex()},
		{"pypi legacy metadata by URL", LegacyPyPIFile(base, true, "http://127.0.0.1:8081/r.whl.metadata", ""), "pypi/http://127.0.0.1:8080/index/metadata/url/http://127.0.0.1:8081/r.whl.metadata"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("key %q, want %q", c.got, c.want)
			}
			// Every key lies under its protocol's prefix, so that purge
			// finds it, and under no other protocol's.
			var under []string
			for _, p := range keyed {
				for _, pre := range Prefixes(p) {
					if strings.HasPrefix(c.got, pre) {
						under = append(under, p)
					}
				}
			}
			if len(under) != 1 || !strings.HasPrefix(c.name, under[0]) {
				t.Errorf("key %q lies under the prefixes of %v", c.got, under)
			}
		})
	}
}

func TestPrefixes(t *testing.T) {
	for _, c := range []struct {
		protocol string
		want     []string
	}{
		{"npm", []string{"npm/", "npm:"}}, // and the layout before this one
		{"oci", []string{"oci/"}},
		{"maven", []string{"maven/"}},
	} {
		if got := Prefixes(c.protocol); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("Prefixes(%s) = %v, want %v", c.protocol, got, c.want)
		}
	}
}

// keyed lists the protocols that have mirror keys (the protocol table in
// cmd/entrepot is the list the binary uses).
var keyed = []string{npm, oci, pypi, cargo, maven, composer, rubygems}
