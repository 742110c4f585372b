package pypi

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"entrepot/deploy/testkit"
)

func TestRewrite(t *testing.T) {
	const pageURL = "http://upstream.test/simple/demo/"
	const base = "https://edge.test/pypi" // the mount point's URL
	cases := []struct {
		in, contentType string
	}{
		{"upstream_demo.html", "text/html; charset=utf-8"},
		{"upstream_demo.json", "application/vnd.pypi.simple.v1+json"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tc.in))
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParseUpstream(in, tc.contentType, pageURL, "demo")
			if err != nil {
				t.Fatal(err)
			}
			testkit.Golden(t, "testdata/"+tc.in+".golden.html", RenderHTML(p, base))
			testkit.Golden(t, "testdata/"+tc.in+".golden.json", RenderJSON(p, base))
			for _, f := range p.Files {
				if f.Source == "" || bytes.Contains([]byte(f.Source), []byte("#")) {
					t.Errorf("source %q", f.Source)
				}
			}
		})
	}
}

func TestParseUpstreamRejectsGarbage(t *testing.T) {
	if _, err := ParseUpstream([]byte("{not json"), "application/vnd.pypi.simple.v1+json", "http://u.test/simple/x/", "x"); err == nil {
		t.Fatal("garbage JSON parsed")
	}
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		accept string
		want   string // content type; "" = not acceptable
	}{
		{"", typeHTML},
		{"*/*", typeHTML},
		{"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01", typeJSON},
		{"text/html", typeHTML},
		{"application/vnd.pypi.simple.v1+html", typeHTMLv1},
		{"application/vnd.pypi.simple.latest+json", typeJSON},
		{"application/vnd.pypi.simple.v1+json;q=0.2, text/html", typeHTML},
		{"application/json", ""},
		{"application/vnd.pypi.simple.v2+json", ""},
		{"text/html;q=0", ""},
	}
	for _, tc := range cases {
		f, ok := negotiate(tc.accept)
		if got := f.contentType; (tc.want == "" && ok) || (tc.want != "" && got != tc.want) {
			t.Errorf("negotiate(%q) = %q %v, want %q", tc.accept, got, ok, tc.want)
		}
	}
}
