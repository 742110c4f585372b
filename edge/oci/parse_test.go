package oci

import (
	"strings"
	"testing"

	"entrepot/hosted/fault"
)

const d256 = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"

func TestParsePath(t *testing.T) {
	cases := []struct {
		name, tail string
		want       Coord
		code       string // "" = ok; "404" = no endpoint
	}{
		{"manifest by tag", "acme/app/manifests/v1.0", Coord{Endpoint: ManifestEndpoint, Name: "acme/app", Tag: "v1.0"}, ""},
		{"manifest by digest", "acme/team/app/manifests/" + d256, Coord{Endpoint: ManifestEndpoint, Name: "acme/team/app", Digest: d256}, ""},
		{"blob", "a/blobs/" + d256, Coord{Endpoint: Blob, Name: "a", Digest: d256}, ""},
		{"upload start slash", "acme/app/blobs/uploads/", Coord{Endpoint: UploadStart, Name: "acme/app"}, ""},
		{"upload start", "acme/app/blobs/uploads", Coord{Endpoint: UploadStart, Name: "acme/app"}, ""},
		{"upload session", "acme/app/blobs/uploads/0123abcd", Coord{Endpoint: Upload, Name: "acme/app", Upload: "0123abcd"}, ""},
		{"tags", "acme/tags/list", Coord{Endpoint: Tags, Name: "acme"}, ""},
		{"referrers", "acme/app/referrers/" + d256, Coord{Endpoint: Referrers, Name: "acme/app", Digest: d256}, ""},
		{"name with endpoint words", "acme/blobs/manifests/manifests/latest", Coord{Endpoint: ManifestEndpoint, Name: "acme/blobs/manifests", Tag: "latest"}, ""},
		{"separators", "a.b/c__d/e---f/manifests/x", Coord{Endpoint: ManifestEndpoint, Name: "a.b/c__d/e---f", Tag: "x"}, ""},
		{"uppercase name", "Acme/app/manifests/v1", Coord{}, codeNameInvalid},
		{"empty component", "acme//app/manifests/v1", Coord{}, codeNameInvalid},
		{"trailing separator", "acme-/app/manifests/v1", Coord{}, codeNameInvalid},
		{"triple underscore", "a___b/manifests/v1", Coord{}, codeNameInvalid},
		{"no name", "manifests/v1", Coord{}, "404"},
		{"bad tag", "acme/app/manifests/-v1", Coord{}, codeTagInvalid},
		{"long tag", "acme/app/manifests/" + strings.Repeat("a", 129), Coord{}, codeTagInvalid},
		{"bad digest", "acme/app/manifests/sha256:baddigeststring", Coord{}, codeDigestInvalid},
		{"md5 digest", "acme/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", Coord{}, codeDigestInvalid},
		{"upload id traversal", "acme/app/blobs/uploads/..", Coord{}, codeBlobUploadUnknown},
		{"long name", strings.Repeat("a", 256) + "/manifests/v1", Coord{}, codeNameInvalid},
		{"nothing", "acme/app", Coord{}, "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePath(tc.tail)
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.code == "404":
				if !fault.Is(err, fault.NotFound) {
					t.Fatalf("want NotFound, got %v", err)
				}
			case tc.code != "":
				if err == nil || codeOf(err) != tc.code {
					t.Fatalf("want %s, got %v", tc.code, err)
				}
			case got != tc.want:
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	cases := []struct {
		in   string
		want Scope
		ok   bool
	}{
		{"repository:acme/app:pull,push", Scope{"repository", "acme/app", []string{"pull", "push"}}, true},
		{"repository:acme/app:*", Scope{"repository", "acme/app", []string{"*"}}, true},
		{"registry:catalog:*", Scope{"registry", "catalog", []string{"*"}}, true},
		{"repository:Acme:pull", Scope{}, false},
		{"repository:acme:", Scope{}, false},
		{"other:x:pull", Scope{}, false},
		{"junk", Scope{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := ParseScope(tc.in)
			if ok != tc.ok || ok && (got.Type != tc.want.Type || got.Name != tc.want.Name || strings.Join(got.Actions, ",") != strings.Join(tc.want.Actions, ",")) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in         string
		start, end int64
		ok         bool
	}{
		{"0-99", 0, 99, true},
		{"bytes 100-199/*", 100, 199, true},
		{"5-4", 0, 0, false},
		{"-1-4", 0, 0, false},
		{"x", 0, 0, false},
	}
	for _, tc := range cases {
		s, e, ok := parseContentRange(tc.in)
		if ok != tc.ok || ok && (s != tc.start || e != tc.end) {
			t.Errorf("%q: got %d-%d %v", tc.in, s, e, ok)
		}
	}
}

// FuzzParsePath: whatever the path, ParsePath never panics, and what it
// accepts is a valid name with a safe upload id and a valid reference.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"acme/app/manifests/v1", "a/blobs/uploads/", "a/b/blobs/uploads/abc", "a/tags/list",
		"a/referrers/" + d256, "x/blobs/" + d256, "/", "", "a//b/manifests/:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tail string) {
		c, err := ParsePath(tail)
		if err != nil {
			return
		}
		if !ValidName(c.Name) {
			t.Fatalf("accepted invalid name %q", c.Name)
		}
		if c.Endpoint == Upload && !validID(c.Upload) || strings.ContainsAny(c.Upload, "/.") {
			t.Fatalf("accepted upload id %q", c.Upload)
		}
		if c.Endpoint == ManifestEndpoint && c.Tag == "" && c.Digest == "" {
			t.Fatal("manifest without reference")
		}
	})
}
