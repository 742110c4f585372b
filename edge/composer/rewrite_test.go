package composer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

func readVersions(t *testing.T, path string) []object {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := parseVersionList(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return vs
}

func marshalVersions(t *testing.T, vs []object) string {
	t.Helper()
	var parts []string
	for _, v := range vs {
		j, err := v.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(j))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// The golden files under testdata/minify were written by Composer's own
// MetadataMinifier (testdata/minify.php): for each X.input.json, PHP's
// minify in X.minified.json and PHP's expand of that in X.expanded.json.
func TestMinifyMatchesComposer(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/minify/*.input.json")
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		base := strings.TrimSuffix(in, ".input.json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			wantMin, _ := os.ReadFile(base + ".minified.json")
			wantExp, _ := os.ReadFile(base + ".expanded.json")
			// PHP writes "a\/b" as "a/b"; we keep the upstream's spelling.
			unslash := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), `\/`, "/") }
			gotMin := marshalVersions(t, Minify(readVersions(t, in)))
			if unslash(gotMin) != unslash(string(wantMin)) {
				t.Errorf("minify:\n got %s\nwant %s", gotMin, wantMin)
			}
			gotExp := marshalVersions(t, Expand(readVersions(t, base+".minified.json")))
			if unslash(gotExp) != unslash(string(wantExp)) {
				t.Errorf("expand:\n got %s\nwant %s", gotExp, wantExp)
			}
			// Our own round trip lands where PHP's does.
			again := marshalVersions(t, Expand(Minify(readVersions(t, in))))
			if unslash(again) != unslash(string(wantExp)) {
				t.Errorf("expand(minify(input)):\n got %s\nwant %s", again, wantExp)
			}
		})
	}
}

func TestRewriteMirrorGolden(t *testing.T) {
	inputs, _ := filepath.Glob("testdata/mirror/*.input.json")
	if len(inputs) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range inputs {
		golden := strings.TrimSuffix(in, ".input.json") + ".golden.json"
		t.Run(filepath.Base(golden), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rewriteMirror(raw, "http://edge.test/composer", "")
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			json.Indent(&pretty, got, "", " ")
			pretty.WriteByte('\n')
			testkit.Golden(t, golden, pretty.Bytes())
			// Nothing in the output links to the upstream any more.
			if bytes.Contains(got, []byte("up.invalid")) || bytes.Contains(got, []byte("dist.example")) || bytes.Contains(got, []byte("mirror.invalid")) {
				t.Errorf("rewritten document still names an upstream host: %s", got)
			}
			// The rewrite is stable: rewriting its own output gives the
			// same versions (key order may move: expansion reorders).
			again, err := rewriteMirror(got, "http://edge.test/composer", "")
			if err != nil {
				t.Fatal(err)
			}
			if !sameDocs(t, again, got) {
				t.Errorf("rewrite is not stable:\n%s\n%s", again, got)
			}
		})
	}
}

func TestParseP2Errors(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":        `{"packages":`,
		"not object":      `[]`,
		"unknown minify":  `{"packages":{},"minified":"composer/9"}`,
		"version scalar":  `{"packages":{"a/b":[1]}}`,
		"versions scalar": `{"packages":{"a/b":"x"}}`,
		"trailing data":   `{"packages":{}} {}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseP2([]byte(doc)); err == nil {
				t.Errorf("parseP2(%s) succeeded", doc)
			}
		})
	}
}

func TestEdgeDistURL(t *testing.T) {
	for _, c := range []struct{ name, ver, ref, typ, want string }{
		{"acme/lib", "1.0.0.0", "abc123", "zip", "http://e/composer/dist/acme/lib/abc123/1.0.0.0.zip"},
		{"acme/lib", "dev-feature/x y", "", "", "http://e/composer/dist/acme/lib/_/dev-feature/x%20y.zip"},
		{"acme/lib", "1.0.0.0", "../..", "ta/r", "http://e/composer/dist/acme/lib/_/1.0.0.0.zip"},
	} {
		if got := edgeDistURL("http://e/composer", c.name, c.ver, c.ref, c.typ); got != c.want {
			t.Errorf("edgeDistURL(%q, %q, %q, %q) = %q, want %q", c.name, c.ver, c.ref, c.typ, got, c.want)
		}
	}
}

// sameDocs compares two p2 documents version by version, expanded.
func sameDocs(t *testing.T, a, b []byte) bool {
	t.Helper()
	da, err := parseP2(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := parseP2(b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(da.names, ",") != strings.Join(db.names, ",") {
		return false
	}
	for _, n := range da.names {
		va, vb := da.versions[n], db.versions[n]
		if len(va) != len(vb) {
			return false
		}
		for i := range va {
			ja, _ := va[i].MarshalJSON()
			jb, _ := vb[i].MarshalJSON()
			if !same(ja, jb) {
				return false
			}
		}
	}
	return true
}
