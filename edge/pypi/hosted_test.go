package pypi

import (
	"bytes"
	"fmt"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted/fault"
)

func TestWheelMetadata(t *testing.T) {
	h := New(&edge.Registry{}, nil, Options{MaxMetadata: 1 << 10})
	md := func(name, version string) string {
		return fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nlong description\n", name, version)
	}
	cases := []struct {
		name  string
		files map[string]string
		want  fault.Kind // 0: ok
	}{
		{"good", map[string]string{"demo_pkg-1.0.0.dist-info/METADATA": md("demo-pkg", "1.0.0")}, 0},
		{"other version in METADATA", map[string]string{"demo_pkg-1.0.0.dist-info/METADATA": md("demo-pkg", "1.0.1")}, fault.Invalid},
		{"other name in METADATA", map[string]string{"demo_pkg-1.0.0.dist-info/METADATA": md("other", "1.0.0")}, fault.Invalid},
		{"no METADATA", map[string]string{"demo_pkg-1.0.0.dist-info/WHEEL": "x"}, fault.Invalid},
		{"nested METADATA", map[string]string{"x/demo_pkg-1.0.0.dist-info/METADATA": md("demo-pkg", "1.0.0")}, fault.Invalid},
		{"huge METADATA", map[string]string{"demo_pkg-1.0.0.dist-info/METADATA": md("demo-pkg", "1.0.0") + string(bytes.Repeat([]byte("x"), 2<<10))}, fault.TooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z := testkit.Zip(t, tc.files)
			u := checkedUpload{dist: Dist{Filename: "demo_pkg-1.0.0-py3-none-any.whl", Project: "demo_pkg", Version: "1.0.0"}, project: "demo-pkg", version: "1.0.0"}
			got, err := h.wheelMetadata(bytes.NewReader(z), int64(len(z)), archive.Budget(int64(len(z)), 0), u)
			if tc.want == 0 {
				if err != nil || string(got) != tc.files["demo_pkg-1.0.0.dist-info/METADATA"] {
					t.Fatalf("got %q, %v", got, err)
				}
				return
			}
			if !fault.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestMount registers the routes on a real router, which panics on
// conflicting patterns.
func TestMount(t *testing.T) {
	srv := edge.New(edge.Config{})
	New(&edge.Registry{}, nil, Options{}).Mount(srv.Mux().Group("/pypi"))
}
