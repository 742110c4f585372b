package cargo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestIndexEntryGolden turns publish metadata (testdata/publish/*.json)
// into index lines and compares them with the .golden files.
func TestIndexEntryGolden(t *testing.T) {
	ins, _ := filepath.Glob("testdata/publish/*.json")
	if len(ins) == 0 {
		t.Fatal("no golden inputs")
	}
	for _, in := range ins {
		t.Run(filepath.Base(in), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			m, err := decodePublish(raw)
			if err != nil {
				t.Fatal(err)
			}
			got := renderIndex([]indexEntry{indexEntryOf(m, strings.Repeat("ab", 32))})
			testkit.Golden(t, strings.TrimSuffix(in, ".json")+".golden", got)
		})
	}
}

func TestRenderIndexOrder(t *testing.T) {
	got := renderIndex([]indexEntry{{Name: "a", Vers: "1.10.0"}, {Name: "a", Vers: "1.2.0"}, {Name: "a", Vers: "1.2.0-rc.1"}})
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	want := []string{"1.2.0-rc.1", "1.2.0", "1.10.0"}
	for i, l := range lines {
		if !strings.Contains(l, `"vers":"`+want[i]+`"`) {
			t.Fatalf("line %d = %s, want version %s", i, l, want[i])
		}
	}
}

func TestDownloadURL(t *testing.T) {
	sum := strings.Repeat("0f", 32)
	tests := []struct{ tmpl, want string }{
		{"https://dl.example/api/v1/crates", "https://dl.example/api/v1/crates/Serde/1.0.0/download"},
		{"https://dl.example/api/v1/crates/", "https://dl.example/api/v1/crates/Serde/1.0.0/download"},
		{"https://dl.example/{crate}/{version}", "https://dl.example/Serde/1.0.0"},
		{"https://dl.example/{prefix}/{lowerprefix}/{crate}-{version}.crate", "https://dl.example/Se/rd/se/rd/Serde-1.0.0.crate"},
		{"/files/{sha256-checksum}", "/files/" + sum},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			if got := downloadURL(tt.tmpl, "Serde", "1.0.0", sum); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFindVersion(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	idx := []byte(`{"name":"Foo","vers":"1.0.0","deps":[],"cksum":"` + sum + `","features":{},"yanked":false}
not json
{"name":"Foo","vers":"1.0.0-rc.1","deps":[],"cksum":"` + strings.Repeat("cd", 32) + `","features":{},"yanked":true}
{"name":"Foo","vers":"2.0.0","cksum":"short"}
`)
	tests := []struct {
		vers, sum string
		ok        bool
	}{
		{"1.0.0", sum, true},
		{"1.0.0-rc.1", strings.Repeat("cd", 32), true},
		{"1.0", "", false},
		{"2.0.0", "", false},
		{"3.0.0", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.vers, func(t *testing.T) {
			name, got, ok := findVersion(idx, tt.vers)
			if ok != tt.ok || got != tt.sum || ok && name != "Foo" {
				t.Fatalf("got %q %q %v", name, got, ok)
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	got := string(configJSON("http://h:1/cargo", true))
	want := `{"dl":"http://h:1/cargo/api/v1/crates","api":"http://h:1/cargo","auth-required":true}`
	if got != want {
		t.Fatalf("got %s", got)
	}
}
