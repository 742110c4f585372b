package maven

import (
	"strings"
	"testing"

	"entrepot/hosted/fault"
)

func TestParse(t *testing.T) {
	cases := []struct {
		name, path string
		want       Coords // only the fields compared below
		invalid    bool
	}{
		{"release jar", "com/acme/lib/1.0/lib-1.0.jar", Coords{Kind: Artifact, Group: "com.acme", Artifact: "lib", Version: "1.0", FileVersion: "1.0", Extension: "jar"}, false},
		{"classifier", "com/acme/lib/1.0/lib-1.0-sources.jar", Coords{Kind: Artifact, Group: "com.acme", Artifact: "lib", Version: "1.0", FileVersion: "1.0", Classifier: "sources", Extension: "jar"}, false},
		{"dotted extension", "org/x/dist/2.1/dist-2.1-bin.tar.gz", Coords{Kind: Artifact, Group: "org.x", Artifact: "dist", Version: "2.1", FileVersion: "2.1", Classifier: "bin", Extension: "tar.gz"}, false},
		{"signature", "com/acme/lib/1.0/lib-1.0.jar.asc", Coords{Kind: Artifact, Group: "com.acme", Artifact: "lib", Version: "1.0", FileVersion: "1.0", Extension: "jar.asc"}, false},
		{"checksum", "com/acme/lib/1.0/lib-1.0.pom.sha512", Coords{Kind: Artifact, Checksum: "sha512", Group: "com.acme", Artifact: "lib", Version: "1.0", FileVersion: "1.0", Extension: "pom"}, false},
		{"unique snapshot", "com/acme/lib/1.1-SNAPSHOT/lib-1.1-20240102.030405-12-tests.jar", Coords{Kind: Artifact, Group: "com.acme", Artifact: "lib", Version: "1.1-SNAPSHOT", FileVersion: "1.1-20240102.030405-12", Classifier: "tests", Extension: "jar", Timestamp: "20240102.030405", Build: 12}, false},
		{"plain snapshot", "com/acme/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT.pom", Coords{Kind: Artifact, Group: "com.acme", Artifact: "lib", Version: "1.1-SNAPSHOT", FileVersion: "1.1-SNAPSHOT", Extension: "pom"}, false},
		{"hyphenated artifact", "com/acme/my-lib/1.0/my-lib-1.0.jar", Coords{Kind: Artifact, Group: "com.acme", Artifact: "my-lib", Version: "1.0", FileVersion: "1.0", Extension: "jar"}, false},
		{"artifact metadata", "com/acme/lib/maven-metadata.xml", Coords{Kind: Metadata}, false},
		{"metadata checksum", "com/acme/lib/1.1-SNAPSHOT/maven-metadata.xml.sha1", Coords{Kind: Metadata, Checksum: "sha1"}, false},
		{"traversal", "com/acme/../../etc/passwd", Coords{}, true},
		{"dot segment", "com/./lib/1.0/lib-1.0.jar", Coords{}, true},
		{"hidden file", "com/acme/lib/1.0/.lib-1.0.jar", Coords{}, true},
		{"empty segment", "com//lib/1.0/lib-1.0.jar", Coords{}, true},
		{"odd character", "com/acme/lib/1.0/lib-1.0.jar;x", Coords{}, true},
		{"backslash", `com/acme/lib/1.0/..\lib-1.0.jar`, Coords{}, true},
		{"wrong artifact", "com/acme/lib/1.0/other-1.0.jar", Coords{}, true},
		{"wrong version", "com/acme/lib/1.0/lib-2.0.jar", Coords{}, true},
		{"no extension", "com/acme/lib/1.0/lib-1.0", Coords{}, true},
		{"classifier without extension", "com/acme/lib/1.0/lib-1.0-sources", Coords{}, true},
		{"too short", "lib/1.0/lib-1.0.jar", Coords{}, true},
		{"bad timestamp", "com/acme/lib/1.1-SNAPSHOT/lib-1.1-2024010.030405-1.jar", Coords{}, true},
		{"build zero", "com/acme/lib/1.1-SNAPSHOT/lib-1.1-20240102.030405-0.jar", Coords{}, true},
		{"root metadata", "maven-metadata.xml", Coords{}, true},
		{"empty", "", Coords{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(c.path)
			if c.invalid {
				if !fault.Is(err, fault.Invalid) {
					t.Fatalf("Parse(%q) = %+v, %v; want Invalid", c.path, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := c.want
			if got.Kind != w.Kind || got.Checksum != w.Checksum || got.Group != w.Group || got.Artifact != w.Artifact ||
				got.Version != w.Version || got.FileVersion != w.FileVersion || got.Classifier != w.Classifier ||
				got.Extension != w.Extension || got.Timestamp != w.Timestamp || got.Build != w.Build {
				t.Fatalf("Parse(%q) = %+v\nwant %+v", c.path, got, w)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	c, _ := Parse("com/acme/tools/cli/1.0/cli-1.0.jar")
	if got := strings.Join(c.Groups(), " "); got != "com.acme.tools com.acme com" {
		t.Fatalf("artifact groups: %s", got)
	}
	m, _ := Parse("com/acme/cli/maven-metadata.xml")
	if got := strings.Join(m.Groups(), " "); got != "com.acme.cli com.acme com" {
		t.Fatalf("metadata groups: %s", got)
	}
}

// FuzzParse checks that whatever Parse accepts stays inside the
// repository and is consistent with itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"com/acme/lib/1.0/lib-1.0.jar", "com/acme/lib/1-SNAPSHOT/lib-1-20240102.030405-3-x.tar.gz.sha1", "a/b/maven-metadata.xml.md5", "../x", "a/b/c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := Parse(p)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("Parse(%q): error of kind %v", p, fault.KindOf(err))
			}
			return
		}
		for _, s := range strings.Split(c.Path, "/") {
			if s == "" || s[0] == '.' || strings.ContainsAny(s, `\%:`) {
				t.Fatalf("Parse(%q) accepted segment %q", p, s)
			}
		}
		if c.Kind == Artifact {
			name := c.Artifact + "-" + c.FileVersion
			if c.Classifier != "" {
				name += "-" + c.Classifier
			}
			if name+"."+c.Extension != c.FileName() {
				t.Fatalf("Parse(%q): %q does not rebuild the file name %q", p, name+"."+c.Extension, c.FileName())
			}
		}
	})
}
