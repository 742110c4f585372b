package npm

import (
	"encoding/json"
	"strings"
	"testing"

	"entrepot/edge/claimtest"
	"entrepot/hosted/fault"
)

// FuzzParse covers the parsers of parse.go that FuzzParseName and
// FuzzTarballVersion do not: scoped names from two path segments, tags,
// mirrored tarball file names and claim namespaces.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{{"@acme", "tool"}, {"acme", "Tool"}, {"latest", "x-1.0.0.tgz"}, {"1.0.0", "x%2f..%2fy.tgz"}, {"@acme", ".hidden"}, {"next", "pkg-1.0.0-beta.1%2Bbuild.tgz"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if n, err := ParseScopedName(a, b); err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("ParseScopedName(%q, %q): error of kind %v", a, b, fault.KindOf(err))
			}
		} else if back, err := ParseName(n.String()); err != nil || back != n {
			t.Fatalf("ParseScopedName(%q, %q) = %v, which reads back as %v, %v", a, b, n, back, err)
		}
		if tag, err := ParseTag(a); err == nil {
			if _, err := ParseVersion(tag); err == nil {
				t.Fatalf("ParseTag(%q) accepted a version", a)
			}
		} else if !fault.Is(err, fault.Invalid) {
			t.Fatalf("ParseTag(%q): error of kind %v", a, fault.KindOf(err))
		}
		if file, err := ParseFile(b); err == nil {
			if !validFileChars(file) || file[0] == '.' {
				t.Fatalf("ParseFile(%q) = %q", b, file)
			}
		} else if !fault.Is(err, fault.NotFound) {
			t.Fatalf("ParseFile(%q): error of kind %v", b, fault.KindOf(err))
		}
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, "acme", a)
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, "acme", b)
	})
}

// FuzzCheckManifest: a published version's manifest either is Invalid or
// names the package and version published, and promises its tarball's
// digests.
func FuzzCheckManifest(f *testing.F) {
	for _, s := range []string{
		`{"name":"pkg","version":"1.0.0","dist":{"integrity":"sha512-` + strings.Repeat("A", 86) + `==","shasum":"` + strings.Repeat("0", 40) + `"}}`,
		`{"name":"pkg","version":"1.0.0","dist":{"shasum":"` + strings.Repeat("0", 40) + `","tarball":"http://x/y.tgz"}}`,
		`{"name":"other","version":"1.0.0"}`, `{"name":"pkg","version":"2.0.0"}`, `[]`, `{"dist":7}`, `null`,
	} {
		f.Add([]byte(s))
	}
	n := Name{Base: "pkg"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		stored, want, err := checkManifest(n, "1.0.0", raw)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("checkManifest: error of kind %v", fault.KindOf(err))
			}
			return
		}
		if len(want) == 0 || !json.Valid(stored) {
			t.Fatalf("checkManifest accepted %q: stored %q, digests %v", raw, stored, want)
		}
	})
}
