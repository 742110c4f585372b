package maven

import "testing"

func TestCompareVersions(t *testing.T) {
	// Each pair is strictly ascending, as Maven orders them.
	ascending := [][2]string{
		{"1.0", "1.1"},
		{"1.9", "1.10"},
		{"1.0-alpha-1", "1.0-beta-1"},
		{"1.0-a1", "1.0-b1"},
		{"1.0-beta-2", "1.0-milestone-1"},
		{"1.0-m1", "1.0-rc1"},
		{"1.0-rc1", "1.0-SNAPSHOT"},
		{"1.0-SNAPSHOT", "1.0"},
		{"1.0", "1.0-sp1"},
		{"1.0", "1.0.1"},
		{"1.0-sp", "1.0-whatever"},
		{"1.0.0-RC1", "1.0.0"},
		{"2.0.0-SNAPSHOT", "2.0.0"},
		{"1.1.0-SNAPSHOT", "1.1.0"},
		{"1.0.0", "1.1.0-SNAPSHOT"},
		{"9", "10"},
		{"1.0-1", "1.0-2"},
	}
	for _, p := range ascending {
		if c := CompareVersions(p[0], p[1]); c != -1 {
			t.Errorf("CompareVersions(%q, %q) = %d, want -1", p[0], p[1], c)
		}
		if c := CompareVersions(p[1], p[0]); c != 1 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 1", p[1], p[0], c)
		}
	}
	for _, p := range [][2]string{{"1.0", "1.0.0"}, {"1.0", "1"}, {"1.0-ga", "1.0"}, {"1.0-final", "1.0"}, {"1.0-cr1", "1.0-rc1"}, {"1.0-RELEASE", "1.0"}, {"01.2", "1.2"}} {
		if c := CompareVersions(p[0], p[1]); c != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0", p[0], p[1], c)
		}
	}
}
