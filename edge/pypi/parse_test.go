package pypi

import (
	"testing"

	"entrepot/hosted/fault"
)

func TestNormalize(t *testing.T) {
	cases := map[string]string{
		"Django": "django", "zope.interface": "zope-interface", "Foo__Bar--baz": "foo-bar-baz",
		"a.-_b": "a-b", "X": "x", "pip": "pip",
	}
	for in, want := range cases {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"demo-pkg", true}, {"a", true}, {"Zope.Interface", true}, {"x_1", true},
		{"", false}, {"-x", false}, {"x-", false}, {"../etc", false}, {"a/b", false}, {"a b", false},
		{"é", false}, {string(make([]byte, 201)), false},
	}
	for _, tc := range cases {
		if err := ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"1.0", "1.0"}, {"1.0.0", "1.0.0"}, {"1.0-RC1", "1.0rc1"}, {"1.0.post1", "1.0.post1"},
		{"1.0-1", "1.0.post1"}, {"2!1.0.dev3", "2!1.0.dev3"}, {"1.0+Ubuntu-1", "1.0+ubuntu.1"},
		{"v1.2", "1.2"}, {"1.0alpha2", "1.0a2"},
		{"", ""}, {"1.0.x", ""}, {"one", ""}, {" 1.0", ""}, {"1.0/..", ""},
	}
	for _, tc := range cases {
		_, got, err := ParseVersion(tc.in)
		if tc.want == "" {
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("ParseVersion(%q) = %q, %v; want Invalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseVersion(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseFilename(t *testing.T) {
	cases := []struct {
		file, project string
		kind          Kind
		name, normal  string
		ok            bool
	}{
		{"demo_pkg-1.0.0-py3-none-any.whl", "", Wheel, "demo_pkg", "1.0.0", true},
		{"demo_pkg-1.0.0-1build-cp311-cp311-manylinux_2_17_x86_64.whl", "", Wheel, "demo_pkg", "1.0.0", true},
		{"pip-23.0.1-py3-none-any.whl", "pip", Wheel, "pip", "23.0.1", true},
		{"demo-pkg-1.0.0.tar.gz", "demo-pkg", Sdist, "demo-pkg", "1.0.0", true},
		{"demo-pkg-1.0.0.tar.gz", "", Sdist, "demo-pkg", "1.0.0", true},
		{"demo_pkg-1.0rc1.zip", "demo.pkg", Sdist, "demo_pkg", "1.0rc1", true},
		{"Demo-Pkg-2.0.tar.gz", "demo-pkg", Sdist, "Demo-Pkg", "2.0", true},
		{"demo-pkg-1.0.0.tar.gz", "other", "", "", "", false},
		{"demo_pkg-1.0.0-x-py3-none-any.whl", "", "", "", "", false}, // build tag must start with a digit
		{"demo_pkg-1.0.0-any.whl", "", "", "", "", false},
		{"demo_pkg-one-py3-none-any.whl", "", "", "", "", false},
		{"demo_pkg-1.0.0.egg", "", "", "", "", false},
		{"demo_pkg-1.0.0.tar.bz2", "", "", "", "", false},
		{"../demo_pkg-1.0.0.tar.gz", "", "", "", "", false},
		{"a/demo_pkg-1.0.0.tar.gz", "", "", "", "", false},
		{".hidden-1.0.tar.gz", "", "", "", "", false},
		{"demo-pkg.tar.gz", "", "", "", "", false},
	}
	for _, tc := range cases {
		d, err := ParseFilename(tc.file, tc.project)
		if !tc.ok {
			if !fault.Is(err, fault.Invalid) {
				t.Errorf("ParseFilename(%q, %q) = %+v, %v; want Invalid", tc.file, tc.project, d, err)
			}
			continue
		}
		if err != nil || d.Kind != tc.kind || d.Project != tc.name || d.Normal != tc.normal {
			t.Errorf("ParseFilename(%q, %q) = %+v, %v", tc.file, tc.project, d, err)
		}
	}
}

func TestParseFileTarget(t *testing.T) {
	tg, err := ParseFileTarget("Demo_Pkg", "demo_pkg-1.0-py3-none-any.whl.metadata")
	if err != nil || tg.Project != "demo-pkg" || !tg.Metadata || tg.Filename != "demo_pkg-1.0-py3-none-any.whl" {
		t.Fatalf("%+v %v", tg, err)
	}
	for _, bad := range [][2]string{{"..", "x.whl"}, {"demo", "../x.whl"}, {"demo", ".metadata"}, {"demo", ""}} {
		if _, err := ParseFileTarget(bad[0], bad[1]); !fault.Is(err, fault.Invalid) {
			t.Errorf("ParseFileTarget(%q, %q): %v", bad[0], bad[1], err)
		}
	}
}

// FuzzParseFilename checks that whatever parses is safe to use as a path
// segment and agrees with itself.
func FuzzParseFilename(f *testing.F) {
	for _, s := range []string{"demo_pkg-1.0.0-py3-none-any.whl", "demo-pkg-1.0.tar.gz", "a-1!2.0+x.y.zip", "../x-1.whl"} {
		f.Add(s, "demo-pkg")
	}
	f.Fuzz(func(t *testing.T, file, project string) {
		d, err := ParseFilename(file, project)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("error of kind %v", fault.KindOf(err))
			}
			return
		}
		if ValidFilename(d.Filename) != nil || ValidName(d.Project) != nil {
			t.Fatalf("unsafe result %+v", d)
		}
		if _, n, err := ParseVersion(d.Normal); err != nil || n != d.Normal {
			t.Fatalf("normal form %q does not round-trip: %q %v", d.Normal, n, err)
		}
	})
}
