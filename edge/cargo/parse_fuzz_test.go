package cargo

import (
	"strings"
	"testing"

	"entrepot/edge/claimtest"
	"entrepot/hosted/fault"
)

// FuzzParse covers the parsers of parse.go that FuzzParseIndexPath and
// FuzzParsePublish do not: versions, crate names and claim namespaces.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.0.0", "1.0.0+build.5", "1.0.0-alpha.1", "01.0.0", "serde_json", "Serde-JSON", "-x", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, key, err := parseVersion(s); err == nil {
			if strings.Contains(key, "+") || !strings.HasPrefix(s, key) {
				t.Fatalf("parseVersion(%q) keys it %q", s, key)
			}
		} else if !fault.Is(err, fault.Invalid) {
			t.Fatalf("parseVersion(%q): error of kind %v", s, fault.KindOf(err))
		}
		if checkName(s) == nil && normalize(normalize(s)) != normalize(s) {
			t.Fatalf("normalize(%q) is not a fixed point", s)
		}
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, "acme", s)
	})
}
