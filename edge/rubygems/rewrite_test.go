package rubygems

import (
	"bytes"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

func TestCompactIndex(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b10 := &Spec{Name: "beta", Version: "1.0.0", Platform: "ruby", SHA256: "aa"}
	b11 := &Spec{Name: "beta", Version: "1.1.0", Platform: "x86_64-linux", SHA256: "bb",
		RequiredRubyVersion: []Req{{">=", "2.7"}}}
	a10 := &Spec{Name: "alpha", Version: "1.0.0", Platform: "ruby", SHA256: "cc", Dependencies: []Dependency{
		{Name: "beta", Type: "runtime", Requirement: []Req{{"~>", "1.0"}, {"<", "3"}}},
		{Name: "rake", Type: "development", Requirement: []Req{{">=", "0"}}},
	}}
	betaLines, betaInfo := history("beta", []change{
		{At: t0, Spec: b10, order: 0},
		{At: t0.Add(time.Hour), Spec: b11, order: 1},
		{At: t0.Add(2 * time.Hour), Spec: b11, Yank: true, order: 1},
		{At: t0.Add(3 * time.Hour), Spec: b11, Yank: true, order: 1}, // repeated: no line
	})
	alphaLines, alphaInfo := history("alpha", []change{{At: t0.Add(30 * time.Minute), Spec: a10}})
	testkit.Golden(t, "testdata/info-beta.golden", betaInfo)
	testkit.Golden(t, "testdata/info-alpha.golden", alphaInfo)

	up := []byte("created_at: 2024-04-01T00:00:05Z\n---\nrack 1.0,2.0 0123\nalpha 6.6.6 evil\nrails 7.0 4567\n")
	claimed := func(n string) bool { return n == "alpha" || n == "beta" }
	versions := mergeVersions(up, claimed, append(betaLines, alphaLines...))
	testkit.Golden(t, "testdata/versions.golden", versions)
	testkit.Golden(t, "testdata/versions-hosted-only.golden", mergeVersions(nil, claimed, betaLines))
	testkit.Golden(t, "testdata/names.golden", mergeNames([]byte("---\nalpha\nrack\nrails\n"), claimed, []string{"beta", "alpha"}))

	if sum, ok := infoChecksum(betaInfo, "1.0.0"); !ok || sum != "" { // "aa" is no sha256
		t.Fatalf("infoChecksum = %q %v", sum, ok)
	}
	var tuples []string
	for _, s := range versionsTuples(versions) {
		tuples = append(tuples, s.FullName())
	}
	if got := fmtList(tuples); got != "rack-1.0 rack-2.0 rails-7.0 beta-1.0.0 alpha-1.0.0" {
		t.Fatalf("versionsTuples = %s", got)
	}
}

func fmtList(l []string) string {
	var b bytes.Buffer
	for i, s := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0.0", 0}, {"1.10", "1.9", 1}, {"1.0.a", "1.0", -1}, {"2.0.0.rc1", "2.0.0", -1},
		{"2.0.0.rc1", "2.0.0.rc2", -1}, {"1.0.0", "0.9", 1}, {"1.a", "1.b", -1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compare(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
