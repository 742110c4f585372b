package rubygems

import (
	"bytes"
	"compress/zlib"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadGem(t *testing.T) {
	b, err := os.ReadFile("testdata/alpha-1.0.0.gem")
	if err != nil {
		t.Fatal(err)
	}
	s, err := readGem(bytes.NewReader(b), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "alpha" || s.Version != "1.0.0" || s.Platform != "ruby" || s.FullName() != "alpha-1.0.0" {
		t.Fatalf("spec %+v", s)
	}
	if len(s.Dependencies) != 2 || ReqString(s.Dependencies[0].Requirement) != "~> 1.0&< 3" || s.Dependencies[1].Type != "development" {
		t.Fatalf("deps %+v", s.Dependencies)
	}
	if ReqString(s.RequiredRubyVersion) != ">= 2.5" || s.Metadata["source_code_uri"] == "" || s.Email[0] != "a@example.test" {
		t.Fatalf("spec %+v", s)
	}
}

// TestMarshalSpecRuby has the real Ruby load the Marshal gemspec the way
// `gem install` does and print what it read.
func TestMarshalSpecRuby(t *testing.T) {
	ruby, err := exec.LookPath("ruby")
	if err != nil {
		t.Skip("ruby is not installed; `make test` installs it")
	}
	b, _ := os.ReadFile("testdata/alpha-1.0.0.gem")
	s, err := readGem(bytes.NewReader(b), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	s.Platform = "x86_64-linux"
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(marshalSpec(s))
	zw.Close()
	p := filepath.Join(t.TempDir(), "spec.rz")
	os.WriteFile(p, z.Bytes(), 0o644)
	out, err := exec.Command(ruby, "-rzlib", "-e", `
s = Marshal.load(Zlib::Inflate.inflate(File.binread(ARGV[0])))
raise "not a spec" unless s.is_a?(Gem::Specification)
puts [s.name, s.version.to_s, s.platform.to_s, s.full_name, s.date.strftime("%Y"), s.summary,
  s.dependencies.map { |d| "#{d.name} #{d.type} #{d.requirement}" }.join(";"),
  s.required_ruby_version.to_s, s.authors.join(","), s.email.inspect, s.licenses.join(","), s.metadata.inspect,
  s.dependencies.first.match?("beta", "1.5") ].join("|")
`, p).CombinedOutput()
	if err != nil {
		t.Fatalf("ruby: %v\n%s", err, out)
	}
	want := `alpha|1.0.0|x86_64-linux|alpha-1.0.0-x86_64-linux|2026|Alpha|beta runtime ~> 1.0, < 3;rake development >= 0|>= 2.5|A. Uthor|"a@example.test"||{"source_code_uri"=>"https://example.test/alpha"}|true`
	// Licenses read back empty: _load puts them in @license, which
	// RubyGems itself never reads (the same happens to rubygems.org's files).
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("ruby read\n%s\nwant\n%s", got, want)
	}
}
