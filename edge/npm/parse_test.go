package npm

import (
	"strings"
	"testing"
	"unicode/utf8"

	"entrepot/hosted/fault"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name, raw string
		want      Name
		ok        bool
		new       bool // passes CheckNew too
	}{
		{"unscoped", "lodash", Name{Base: "lodash"}, true, true},
		{"scoped escaped", "@types%2fnode", Name{Scope: "types", Base: "node"}, true, true},
		{"scoped escaped upper hex", "@types%2Fnode", Name{Scope: "types", Base: "node"}, true, true},
		{"scoped decoded", "@acme/pkg", Name{Scope: "acme", Base: "pkg"}, true, true},
		{"dots and dashes", "a.b-c_d", Name{Base: "a.b-c_d"}, true, true},
		{"legacy capitals read", "JSONStream", Name{Base: "JSONStream"}, true, false},
		{"empty", "", Name{}, false, false},
		{"dot dot", "..", Name{}, false, false},
		{"escaped dot dot", "%2e%2e", Name{}, false, false},
		{"leading dot", ".hidden", Name{}, false, false},
		{"leading underscore", "_private", Name{}, false, false},
		{"nul", "a%00b", Name{}, false, false},
		{"space", "a%20b", Name{}, false, false},
		{"slash unscoped", "a%2fb", Name{}, false, false},
		{"scope only", "@acme", Name{}, false, false},
		{"empty scope", "@%2fpkg", Name{}, false, false},
		{"scope dot dot", "@acme%2f..", Name{}, false, false},
		{"two slashes", "@a%2fb%2fc", Name{}, false, false},
		{"bad escape", "a%zz", Name{}, false, false},
		{"node_modules", "node_modules", Name{}, false, false},
		{"too long", strings.Repeat("a", 215), Name{}, false, false},
		{"longest", strings.Repeat("a", 214), Name{Base: strings.Repeat("a", 214)}, true, true},
		{"unicode", "caf%C3%A9", Name{}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseName(tc.raw)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseName(%q) = %v, %v; want ok=%v", tc.raw, got, err, tc.ok)
			}
			if err != nil {
				if !fault.Is(err, fault.Invalid) {
					t.Fatalf("error kind %v, want Invalid", fault.KindOf(err))
				}
				return
			}
			if got != tc.want {
				t.Fatalf("ParseName(%q) = %#v, want %#v", tc.raw, got, tc.want)
			}
			if (got.CheckNew() == nil) != tc.new {
				t.Fatalf("CheckNew(%q) = %v, want ok=%v", got, got.CheckNew(), tc.new)
			}
		})
	}
}

func TestNameForms(t *testing.T) {
	n := Name{Scope: "acme", Base: "pkg"}
	if n.String() != "@acme/pkg" || n.Escaped() != "@acme%2fpkg" || n.ScopeNamespace() != "@acme" {
		t.Fatalf("forms of %#v: %s %s %s", n, n.String(), n.Escaped(), n.ScopeNamespace())
	}
	u := Name{Base: "pkg"}
	if u.String() != "pkg" || u.Escaped() != "pkg" || u.ScopeNamespace() != "" {
		t.Fatalf("forms of %#v", u)
	}
	if got, err := ParseScopedName("@acme", "pkg"); err != nil || got != n {
		t.Fatalf("ParseScopedName = %v, %v", got, err)
	}
	if _, err := ParseScopedName("acme", "pkg"); err == nil {
		t.Fatal("a scope without @ parsed")
	}
}

func TestParseVersionAndTag(t *testing.T) {
	versions := []struct {
		v  string
		ok bool
	}{
		{"1.0.0", true}, {"0.0.1-beta.1", true}, {"1.2.3+build.5", true},
		{"v1.0.0", false}, {"1.0", false}, {"01.0.0", false}, {"", false}, {"1.0.0 ", false},
	}
	for _, tc := range versions {
		t.Run("version "+tc.v, func(t *testing.T) {
			if _, err := ParseVersion(tc.v); (err == nil) != tc.ok {
				t.Fatalf("ParseVersion(%q) = %v", tc.v, err)
			}
		})
	}
	tags := []struct {
		tag string
		ok  bool
	}{
		{"latest", true}, {"next", true}, {"beta-2", true},
		{"1.0.0", false}, {"v1", false}, {"", false}, {"a/b", false}, {strings.Repeat("t", 129), false},
	}
	for _, tc := range tags {
		t.Run("tag "+tc.tag, func(t *testing.T) {
			if _, err := ParseTag(tc.tag); (err == nil) != tc.ok {
				t.Fatalf("ParseTag(%q) = %v", tc.tag, err)
			}
		})
	}
}

func TestTarballVersion(t *testing.T) {
	n := Name{Scope: "acme", Base: "pkg"}
	tests := []struct {
		file, want string
	}{
		{"pkg-1.0.0.tgz", "1.0.0"},
		{"pkg-1.0.0-rc.1.tgz", "1.0.0-rc.1"},
		{"pkg-1.0.0.tar.gz", ""},
		{"other-1.0.0.tgz", ""},
		{"pkg-latest.tgz", ""},
		{"pkg-..%2f..%2fx.tgz", ""},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := TarballVersion(n, tc.file)
			if tc.want == "" {
				if err == nil || !fault.Is(err, fault.NotFound) {
					t.Fatalf("TarballVersion(%q) = %q, %v; want NotFound", tc.file, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("TarballVersion(%q) = %q, %v; want %q", tc.file, got, err, tc.want)
			}
			if TarballFile(n, got) != tc.file {
				t.Fatalf("TarballFile does not round-trip %q", tc.file)
			}
		})
	}
}

// FuzzParseName checks that whatever a path segment holds, a parsed name
// is valid, round-trips through its escaped form and never contains a
// path separator, a NUL or a dot segment.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"lodash", "@types%2fnode", "@a/b", "..", "%00", "a%2f..", "@%2e%2e%2fx", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := ParseName(raw)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("error of kind %v", fault.KindOf(err))
			}
			if !utf8.ValidString(fault.Message(err)) {
				t.Fatalf("message is not UTF-8: %q", fault.Message(err))
			}
			return
		}
		s := n.String()
		if len(s) > MaxNameLen || strings.ContainsAny(n.Base+n.Scope, "/\x00\\ ") || n.Base == ".." || n.Base == "." {
			t.Fatalf("ParseName(%q) accepted %q", raw, s)
		}
		back, err := ParseName(n.Escaped())
		if err != nil || back != n {
			t.Fatalf("round trip of %q: %v, %v", s, back, err)
		}
	})
}

// FuzzTarballVersion checks that an accepted tarball file name is exactly
// the name the version's tarball would have.
func FuzzTarballVersion(f *testing.F) {
	for _, s := range []string{"pkg-1.0.0.tgz", "pkg-1.0.0+x.tgz", "pkg-%2e%2e.tgz", "pkg-1.0.0.tgz/../x"} {
		f.Add(s)
	}
	n := Name{Base: "pkg"}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := TarballVersion(n, raw)
		if err != nil {
			return
		}
		if _, err := ParseVersion(v); err != nil || strings.ContainsAny(v, "/\x00") {
			t.Fatalf("TarballVersion(%q) = %q", raw, v)
		}
	})
}
