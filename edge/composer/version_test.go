package composer

import (
	"bufio"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/hosted/fault"
)

// versions.tsv holds "input<TAB>normalized" lines written by Composer's
// own VersionParser (testdata/normalize.php); "!invalid" marks a version
// it refuses.
func readVersionGolden(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("testdata/versions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		in, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		out = append(out, [2]string{in, want})
	}
	return out
}

func TestNormalizeGolden(t *testing.T) {
	for _, c := range readVersionGolden(t) {
		t.Run(c[0], func(t *testing.T) {
			checkNormalize(t, c[0], c[1])
		})
	}
}

func checkNormalize(t *testing.T, in, want string) {
	t.Helper()
	got, err := Normalize(in)
	if want == "!invalid" {
		if err == nil {
			t.Errorf("Normalize(%q) = %q, Composer refuses it", in, got)
		} else if !fault.Is(err, fault.Invalid) {
			t.Errorf("Normalize(%q) error kind %v, want Invalid", in, fault.KindOf(err))
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("Normalize(%q) = %q, %v; Composer says %q", in, got, err, want)
	}
}

// TestNormalizeMatchesComposer feeds Composer's VersionParser (through
// php) a few thousand generated version strings and compares every
// answer with ours.
func TestNormalizeMatchesComposer(t *testing.T) {
	php := testkit.RequireTool(t, "php")
	rng := rand.New(rand.NewPCG(1, 2))
	atoms := []string{"1", "0", "2", "10", "99999", "123456", "2024", "01", "12", ".", ".", ".", "-", "_", "+", "v", "V",
		"x", "X", "*", "beta", "b", "RC", "rc", "alpha", "a", "patch", "pl", "p", "stable", "dev", "DEV", "dev-",
		"master", " as ", "@beta", "@dev", "foo", "/", ":", "build", " "}
	seen := map[string]bool{}
	var inputs []string
	for len(inputs) < 4000 {
		n := 1 + rng.IntN(7)
		var b strings.Builder
		for range n {
			b.WriteString(atoms[rng.IntN(len(atoms))])
		}
		s := b.String()
		if strings.ContainsAny(s, "\n\t") || seen[s] {
			continue
		}
		seen[s] = true
		inputs = append(inputs, s)
	}
	sort.Strings(inputs)
	cmd := exec.Command(php, "testdata/normalize.php")
	cmd.Stdin = strings.NewReader(strings.Join(inputs, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		t.Fatalf("php answered %d lines for %d inputs", len(lines), len(inputs))
	}
	bad := 0
	for i, l := range lines {
		in, want, _ := strings.Cut(l, "\t")
		if in != inputs[i] {
			t.Fatalf("line %d: php echoed %q for %q", i, in, inputs[i])
		}
		got, err := Normalize(in)
		if (want == "!invalid") != (err != nil) || (err == nil && got != want) {
			bad++
			if bad <= 20 {
				t.Errorf("Normalize(%q) = %q, %v; Composer says %q", in, got, err, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d differ", bad, len(inputs))
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{
		"dev-main", "1.0.0.0-dev", "1.0.0.0-alpha1", "1.0.0.0-beta1-dev", "1.0.0.0-beta1", "1.0.0.0-beta2",
		"1.0.0.0-RC1", "1.0.0.0", "1.0.0.0-patch1", "1.0.1.0", "1.2.0.0", "1.10.0.0", "2.0.0.0",
	}
	for i := range ordered {
		for j := range ordered {
			got := compareVersions(ordered[i], ordered[j])
			want := cmpInt(int64(i), int64(j))
			if got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"1.0", "v1.2.3-beta.1", "1.x-dev", "dev-main", "2010-01-02", "1.0 as 2.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err == nil && n == "" && strings.TrimSpace(s) != "" {
			t.Errorf("Normalize(%q) is empty without an error", s)
		}
	})
}
