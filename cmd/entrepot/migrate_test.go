package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestComposerVersions reads a package's versions from the metadata forms
// a Composer repository serves: Composer 2's, minified or not, and
// Composer 1's provider file.
func TestComposerVersions(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // each version's "version" and "license", joined
		err       string
	}{
		{"minified", `{"minified":"composer/2.0","packages":{"a/b":[{"name":"a/b","version":"2.0.0","license":["MIT"]},{"version":"1.0.0"},{"version":"0.1.0","license":"__unset"}]}}`,
			[]string{"2.0.0 MIT", "1.0.0 MIT", "0.1.0 "}, ""},
		{"expanded", `{"packages":{"a/b":[{"version":"2.0.0","license":["MIT"]},{"version":"1.0.0"}]}}`,
			[]string{"2.0.0 MIT", "1.0.0 "}, ""},
		{"provider", `{"packages":{"a/b":{"1.0.0":{"version":"1.0.0"},"0.9.0":{"version":"0.9.0","license":["BSD"]}}}}`,
			[]string{"0.9.0 BSD", "1.0.0 "}, ""},
		{"other package", `{"packages":{"c/d":[]}}`, nil, "does not name it"},
		{"not JSON", `<html>`, nil, "metadata of a/b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs, err := composerVersions([]byte(c.doc), "a/b")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				var o struct {
					Version string   `json:"version"`
					License []string `json:"license"`
				}
				if err := json.Unmarshal(v, &o); err != nil {
					t.Fatal(err)
				}
				got = append(got, o.Version+" "+strings.Join(o.License, ","))
			}
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}
