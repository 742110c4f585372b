package rubygems

import (
	"strings"
	"testing"

	"entrepot/edge/claimtest"
	"entrepot/hosted/fault"
)

// FuzzParse covers the parsers of parse.go that FuzzParseFullName does
// not: requested file names, gem names and claim namespaces.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"rack-2.2.8.gem", "nokogiri-1.16.0-x86_64-linux.gem", "rack.gem", "rack-2.2.8.gemspec.rz", "rails-html", "-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if full, cs, err := parseFile(s, ".gem"); err == nil {
			if full+".gem" != s || len(cs) == 0 {
				t.Fatalf("parseFile(%q) = %q, %v", s, full, cs)
			}
			for _, c := range cs {
				if c.FullName() != full {
					t.Fatalf("parseFile(%q): %+v does not rebuild %q", s, c, full)
				}
			}
		} else if !fault.Is(err, fault.NotFound) {
			t.Fatalf("parseFile(%q): error of kind %v", s, fault.KindOf(err))
		}
		if name, err := parseName(s); err == nil && (name != s || strings.ContainsAny(name, "/\\")) {
			t.Fatalf("parseName(%q) = %q", s, name)
		} else if err != nil && !fault.Is(err, fault.NotFound) {
			t.Fatalf("parseName(%q): error of kind %v", s, fault.KindOf(err))
		}
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, "acme", s)
	})
}
