package npm

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// golden compares got, indented so that the files read well, with
// testdata/<name> (testkit.Golden: -update rewrites it).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')
	testkit.Golden(t, filepath.Join("testdata", name), pretty.Bytes())
}

func TestRewritePackument(t *testing.T) {
	const base = "http://edge.test/npm/"
	tests := []struct {
		name  string
		pkg   string
		files []string // the tarballs the index must know
	}{
		{"full", "@types/demo", []string{"demo-1.0.0.tgz", "demo-1.1.0.tgz"}},
		{"abbreviated", "express", []string{"express-4.21.2.tgz"}},
		{"noversions", "gone", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "rewrite", tc.name+".in.json"))
			if err != nil {
				t.Fatal(err)
			}
			out, files, err := RewritePackument(in, base+tc.pkg+"/-/")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("rewrite", tc.name+".golden.json"), out)
			var got []string
			for f, d := range files {
				got = append(got, f)
				if !strings.HasPrefix(d.URL, "https://") || len(d.Want()) != 1 {
					t.Errorf("index of %s: %+v (want %v)", f, d, d.Want())
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tc.files, ",") {
				t.Fatalf("indexed %v, want %v", got, tc.files)
			}
			if bytes.Contains(out, []byte("upstream.example")) && tc.name != "full" {
				t.Fatal("an upstream URL survived the rewrite")
			}
		})
	}
	for _, bad := range []string{"invalid", "badversions"} {
		t.Run(bad, func(t *testing.T) {
			in, _ := os.ReadFile(filepath.Join("testdata", "rewrite", bad+".in.json"))
			if _, _, err := RewritePackument(in, base); !fault.Is(err, fault.Upstream) {
				t.Fatalf("err = %v, want an Upstream error", err)
			}
		})
	}
}

func TestDistWant(t *testing.T) {
	tests := []struct {
		name string
		d    Dist
		want string
	}{
		{"sha512 wins", Dist{Integrity: "sha1-3q2+7wAAAAAAAAAAAAAAAAAAAAA= sha512-" + strings.Repeat("A", 86) + "==", Shasum: strings.Repeat("a", 40)}, "sha512:" + strings.Repeat("0", 128)},
		{"shasum only", Dist{Shasum: strings.Repeat("AB", 20)}, "sha1:" + strings.Repeat("ab", 20)},
		{"nothing", Dist{}, ""},
		{"garbage", Dist{Integrity: "md4-xyz", Shasum: "nothex"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.d.Want()
			got := ""
			if len(w) == 1 {
				got = string(w[0])
			}
			if got != tc.want {
				t.Fatalf("Want() = %v, want %q", w, tc.want)
			}
		})
	}
}

func TestBuildPackument(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := hosted.Package{
		ID: "npm:@acme/lib", Protocol: Protocol, Name: "@acme/lib", Serial: 4, CreatedAt: at, UpdatedAt: at.Add(time.Hour),
		Meta: json.RawMessage(`{"distTags":{"latest":"1.0.0","beta":"2.0.0-beta.1","gone":"0.9.0"},"fields":{"description":"Lib <&>","readme":"# lib"}}`),
	}
	manifest := func(v, extra string) json.RawMessage {
		return json.RawMessage(`{"name":"@acme/lib","version":"` + v + `","main":"index.js","scripts":{"test":"x"},"dist":{"integrity":"sha512-AAAA","shasum":"abcd"}` + extra + `}`)
	}
	live := []hosted.Version{
		{Version: "2.0.0-beta.1", Meta: manifest("2.0.0-beta.1", ""), PublishedAt: at.Add(2 * time.Minute)},
		{Version: "1.0.0", Meta: manifest("1.0.0", `,"deprecated":"old","dependencies":{"x":"^1"}`), PublishedAt: at.Add(time.Minute)},
	}
	n := Name{Scope: "acme", Base: "lib"}
	for _, abbreviated := range []bool{false, true} {
		name := "full"
		if abbreviated {
			name = "abbreviated"
		}
		t.Run(name, func(t *testing.T) {
			out, err := BuildPackument(p, append([]hosted.Version(nil), live...), n, "http://edge.test/npm/@acme/lib/-/", abbreviated)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("hosted", name+".golden.json"), out)
		})
	}
}
