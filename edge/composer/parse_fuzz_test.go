package composer

import (
	"strings"
	"testing"

	"entrepot/edge/claimtest"
	"entrepot/hosted/fault"
)

// FuzzParse covers the parsers of parse.go that FuzzParseMetadata and
// FuzzParseDist do not: package names, published versions and claim
// namespaces.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{{"acme", "lib"}, {"Acme", "Lib"}, {"acme", "1.0.0"}, {"v2.0.0-beta.1", "dev-main"}, {"acme", "dev-"}, {"a/b", "1.0 as 2.0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, vendor, pkg string) {
		if name, err := parseName(vendor, pkg); err == nil {
			if name != strings.ToLower(name) || vendorOf(name) != strings.ToLower(vendor) {
				t.Fatalf("parseName(%q, %q) = %q", vendor, pkg, name)
			}
		} else if !fault.Is(err, fault.Invalid) {
			t.Fatalf("parseName(%q, %q): error of kind %v", vendor, pkg, fault.KindOf(err))
		}
		if v, n, err := parsePublishVersion(pkg); err == nil {
			if v != pkg || n == "" {
				t.Fatalf("parsePublishVersion(%q) = %q, %q", pkg, v, n)
			}
		} else if !fault.Is(err, fault.Invalid) {
			t.Fatalf("parsePublishVersion(%q): error of kind %v", pkg, fault.KindOf(err))
		}
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, vendor, vendor)
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, "acme", pkg)
	})
}
