package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestWarmCargo makes a Cargo.lock with the real cargo through the edge
// (index files only), warms it, stops the upstream and runs cargo build
// --locked with an empty CARGO_HOME: the crate comes from the mirror.
func TestWarmCargo(t *testing.T) {
	cargo := testkit.RequireTool(t, "cargo")
	up := testkit.NewUpstream(t)
	crate := testkit.TarGz(t, map[string]string{
		"warmdep-0.1.0/Cargo.toml": "[package]\nname = \"warmdep\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
		"warmdep-0.1.0/src/lib.rs": "pub fn answer() -> u32 { 42 }\n",
	})
	up.Handle("/cargo/index/config.json", []byte(`{"dl":"`+up.URL+`/cargo/dl/{crate}/{version}.crate"}`), func(r *testkit.Route) { r.ContentType = "application/json" })
	up.Handle("/cargo/index/wa/rm/warmdep", []byte(`{"name":"warmdep","vers":"0.1.0","deps":[],"cksum":"`+hexSum(crate, sum256)+`","features":{},"yanked":false}`+"\n"))
	up.Handle("/cargo/dl/warmdep/0.1.0.crate", crate)
	s := testkit.Start(t, "UPSTREAM_CARGO="+up.URL+"/cargo/index/")
	token := s.Token(t, s.AdminToken(t), []string{"cargo"}, nil, nil)

	proj := t.TempDir()
	testkit.WriteFile(t, filepath.Join(proj, "Cargo.toml"), "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nwarmdep = \"0.1\"\n")
	testkit.WriteFile(t, filepath.Join(proj, "src", "lib.rs"), "pub fn f() -> u32 { warmdep::answer() }\n")
	cargoRun := func(args ...string) {
		t.Helper()
		home := t.TempDir() // an empty cache every time
		testkit.WriteFile(t, filepath.Join(home, "config.toml"), "[net]\nretry = 1\n[source.crates-io]\nreplace-with = \"entrepot\"\n[source.entrepot]\nregistry = \"sparse+"+s.URL+"/cargo/index/\"\n")
		testkit.MustRun(t, proj, testkit.Env([]string{"CARGO_"}, "CARGO_HOME="+home, "CARGO_TERM_COLOR=never", "CARGO_TARGET_DIR="+filepath.Join(proj, "target")), cargo, args...)
	}
	cargoRun("generate-lockfile")
	if n := up.Hits("/cargo/dl/warmdep/0.1.0.crate"); n != 0 {
		t.Fatalf("cargo generate-lockfile fetched the crate (%d hits)", n)
	}
	out, err := testkit.Run(t, proj, testkit.Env([]string{"ENTREPOT_"}, "ENTREPOT_URL="+s.URL, "ENTREPOT_TOKEN="+token), testkit.Binary(t), "warm", filepath.Join(proj, "Cargo.lock"))
	if err != nil || !strings.Contains(out, "1 artifacts: 0 cached, 1 fetched") {
		t.Fatalf("entrepot warm: %v\n%s", err, out)
	}
	up.Down()
	hits := up.TotalHits()
	if err := os.RemoveAll(filepath.Join(proj, "target")); err != nil {
		t.Fatal(err)
	}
	cargoRun("build", "--locked")
	if up.TotalHits() != hits {
		t.Errorf("cargo build reached the upstream (%d requests)", up.TotalHits()-hits)
	}
}
