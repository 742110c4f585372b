package pypi

import (
	"testing"

	"entrepot/edge/claimtest"
	"entrepot/hosted/fault"
)

// FuzzParse covers the parsers of parse.go that FuzzParseFilename does
// not: the files URL's {project}/{file}, PEP 503 normalization and claim
// namespaces.
func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{{"Foo.Bar", "foo_bar-1.0-py3-none-any.whl"}, {"requests", "requests-2.0.0.tar.gz.metadata"}, {"a__b", "../x.whl"}, {"-x", "x.metadata"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, project, file string) {
		tg, err := ParseFileTarget(project, file)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("ParseFileTarget(%q, %q): error of kind %v", project, file, fault.KindOf(err))
			}
		} else if tg.Project != Normalize(tg.Project) || ValidFilename(tg.Filename) != nil {
			t.Fatalf("ParseFileTarget(%q, %q) = %+v", project, file, tg)
		}
		if ValidName(project) == nil {
			if n := Normalize(project); Normalize(n) != n || ValidName(n) != nil {
				t.Fatalf("Normalize(%q) = %q, not a fixed point", project, n)
			}
		}
		claimtest.CheckClaimRule(t, Protocol, NormalizeClaim, "acme", project)
	})
}
