package cargo_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// The end-to-end tests drive the real cargo against the real binary. No
// public registry is reachable: the upstream is a static sparse index
// built here from crates made with the real `cargo package`, served by a
// real web server (testkit.StaticServer), and every cargo home replaces
// crates.io so that cargo never tries to reach it.

// crateSrc is a small crate written by the tests.
type crateSrc struct {
	name, version string
	deps          string // the [dependencies] table's lines
	lib           string // src/lib.rs, or src/main.rs when bin
	bin           bool
}

func writeCrate(t *testing.T, dir string, c crateSrc) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("[package]\nname = %q\nversion = %q\nedition = \"2021\"\ndescription = \"test crate %s\"\nlicense = \"MIT\"\n\n[dependencies]\n%s\n",
		c.name, c.version, c.name, c.deps)
	src := "lib.rs"
	if c.bin {
		src = "main.rs"
	}
	testkit.WriteFile(t, filepath.Join(dir, "Cargo.toml"), toml)
	testkit.WriteFile(t, filepath.Join(dir, "src", src), c.lib)
	return dir
}

// cargoHome makes a fresh CARGO_HOME whose config.toml holds extra.
func cargoHome(t *testing.T, extra string) string {
	t.Helper()
	home := t.TempDir()
	testkit.WriteFile(t, filepath.Join(home, "config.toml"), "[net]\nretry = 1\n\n[http]\ntimeout = 60\n\n"+extra)
	return home
}

// entrepotHome is a cargo home that knows Entrepot as the "entrepot"
// registry with the token provider, and uses it in place of crates.io.
func entrepotHome(t *testing.T, server string) string {
	return cargoHome(t, fmt.Sprintf(`[registries.entrepot]
index = "sparse+%s/cargo/index/"

[registry]
global-credential-providers = ["cargo:token"]

[source.crates-io]
replace-with = "entrepot"
`, server))
}

// runCargo runs cargo in dir with home and token, returning its output.
func runCargo(t *testing.T, home, token, dir string, args ...string) (string, error) {
	t.Helper()
	env := testkit.Env([]string{"CARGO_"}, "CARGO_HOME="+home, "CARGO_TERM_COLOR=never", "CARGO_TERM_PROGRESS_WHEN=never",
		"CARGO_TARGET_DIR="+filepath.Join(dir, "target"))
	if token != "" {
		env = append(env, "CARGO_REGISTRIES_ENTREPOT_TOKEN="+token)
	}
	out, err := testkit.Run(t, dir, env, testkit.RequireTool(t, "cargo"), args...)
	// ENTREPOT_CARGO_DEBUG=1 logs every cargo run, to follow a failure.
	if os.Getenv("ENTREPOT_CARGO_DEBUG") != "" {
		t.Logf("cargo %s:\n%s", strings.Join(args, " "), out)
	}
	return out, err
}

func mustCargo(t *testing.T, home, token, dir string, args ...string) string {
	t.Helper()
	out, err := runCargo(t, home, token, dir, args...)
	if err != nil {
		t.Fatalf("cargo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// upstreamRegistry is the local upstream: index/ and crates/ under root.
type upstreamRegistry struct {
	root string
	py   *testkit.Static
}

// indexLine appends a version to the upstream's index file of name.
func (u *upstreamRegistry) indexLine(t *testing.T, name, vers, cksum, deps string) {
	t.Helper()
	p := filepath.Join(u.root, "index", indexPathOf(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if deps == "" {
		deps = "[]"
	}
	fmt.Fprintf(f, `{"name":%q,"vers":%q,"deps":%s,"cksum":%q,"features":{},"yanked":false}`+"\n", name, vers, deps, cksum)
}

// publishUpstream packages a crate with the real cargo and adds it to the
// upstream: the .crate under crates/, its line in the index.
func (u *upstreamRegistry) publish(t *testing.T, c crateSrc, indexDeps string) {
	t.Helper()
	dir := writeCrate(t, t.TempDir(), c)
	home := cargoHome(t, fmt.Sprintf(`[source.crates-io]
replace-with = "up"

[source.up]
registry = "sparse+%s/index/"
`, u.py.URL))
	mustCargo(t, home, "", dir, "package", "--no-verify", "--allow-dirty")
	b, err := os.ReadFile(filepath.Join(dir, "target", "package", c.name+"-"+c.version+".crate"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFile(t, filepath.Join(u.root, "crates", c.name, c.name+"-"+c.version+".crate"), string(b))
	sum := sha256.Sum256(b)
	u.indexLine(t, c.name, c.version, hex.EncodeToString(sum[:]), indexDeps)
}

func indexPathOf(name string) string {
	n := strings.ToLower(name)
	switch len(n) {
	case 1:
		return "1/" + n
	case 2:
		return "2/" + n
	case 3:
		return "3/" + n[:1] + "/" + n
	}
	return n[:2] + "/" + n[2:4] + "/" + n
}

// newUpstream builds the upstream: up-base 1.0.0 and 1.1.0, up-mid 0.1.0
// (depending on up-base ^1, listed without a registry as crates.io lists
// its dependencies), and a decoy ent-a 9.0.0 for the dependency-confusion
// test.
func newUpstream(t *testing.T) *upstreamRegistry {
	t.Helper()
	root := t.TempDir()
	u := &upstreamRegistry{root: root, py: testkit.StaticServer(t, root)}
	testkit.WriteFile(t, filepath.Join(root, "index", "config.json"), fmt.Sprintf(`{"dl":"%s/crates/{crate}/{crate}-{version}.crate"}`, u.py.URL))
	u.publish(t, crateSrc{name: "up-base", version: "1.0.0", lib: "pub fn base() -> u32 { 10 }\n"}, "")
	u.publish(t, crateSrc{name: "up-base", version: "1.1.0", lib: "pub fn base() -> u32 { 11 }\n"}, "")
	u.publish(t, crateSrc{name: "up-mid", version: "0.1.0", deps: `up-base = "1"`, lib: "pub fn mid() -> u32 { up_base::base() * 100 }\n"},
		`[{"name":"up-base","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}]`)
	u.publish(t, crateSrc{name: "ent-a", version: "9.0.0", lib: "pub fn a() -> u32 { 666 }\n"}, "")
	return u
}

// org sets up an organization "acme" with a member allowed to publish and
// returns a cargo token of that member.
func org(t *testing.T, s *testkit.Server) (token, sessionToken string) {
	t.Helper()
	session := s.OrgMember(t, "acme", "ferris", "ferris-crab-password-1", "admin")
	return s.Token(t, session, []string{"cargo"}, []string{"read", "write"}, nil), session
}

// get fetches url with the Authorization token ("" for none) and header
// pairs.
func get(t *testing.T, url, token string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return testkit.Request(t, "GET", url, nil, append([]string{"Authorization", token}, header...)...)
}

// lockedVersion reads a package's version from a Cargo.lock.
func lockedVersion(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "Cargo.lock"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name = "` + regexp.QuoteMeta(name) + `"\nversion = "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s not in Cargo.lock:\n%s", name, b)
	}
	return string(m[1])
}

// TestCargo publishes, builds, yanks and mirrors with the real cargo
// against the real binary; its subtests run in order on one server.
func TestCargo(t *testing.T) {
	testkit.RequireTool(t, "cargo")
	up := newUpstream(t)
	s := testkit.Start(t, "UPSTREAM_CARGO="+up.py.URL+"/index/", "UPSTREAM_CACHE_EXPIRY=0")
	token, session := org(t, s)
	// The upstream has ent-a too (the decoy below): acme claims the name on purpose, as a first publish may not.
	if st, b := s.API("POST", "/organizations/acme/claims", s.AdminToken(t), map[string]string{"protocol": "cargo", "namespace": "ent-a"}, nil); st != 201 {
		t.Fatalf("claim of ent-a: %d %s", st, b)
	}
	work := t.TempDir()
	pubHome := entrepotHome(t, s.URL)

	t.Run("publish two crates", func(t *testing.T) {
		a := writeCrate(t, filepath.Join(work, "ent-a-0.1.0"), crateSrc{name: "ent-a", version: "0.1.0", lib: "pub fn a() -> u32 { 1 }\n"})
		mustCargo(t, pubHome, token, a, "publish", "--registry", "entrepot", "--allow-dirty")
		b := writeCrate(t, filepath.Join(work, "ent-b"), crateSrc{name: "ent-b", version: "0.1.0",
			deps: "ent-a = { version = \"0.1\", registry = \"entrepot\" }\nup-mid = \"0.1\"\n",
			lib:  "pub fn b() -> u32 { ent_a::a() + up_mid::mid() }\n"})
		mustCargo(t, pubHome, token, b, "publish", "--registry", "entrepot", "--allow-dirty")

		resp, body := get(t, s.URL+"/cargo/index/en/t-/ent-b", token)
		if resp.StatusCode != 200 {
			t.Fatalf("index of ent-b: %d %s", resp.StatusCode, body)
		}
		var line struct {
			Name, Vers, Cksum string
			Yanked            bool
			Deps              []struct {
				Name, Req, Kind string
				Registry        *string
			}
		}
		if err := json.Unmarshal(bytes.TrimSpace(body), &line); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if line.Name != "ent-b" || line.Vers != "0.1.0" || len(line.Cksum) != 64 || len(line.Deps) != 2 {
			t.Fatalf("index line %s", body)
		}
		for _, d := range line.Deps {
			// ent-a is from this registry (no registry field); up-mid names
			// crates.io's index, which the consumer replaces.
			if (d.Name == "ent-a") != (d.Registry == nil) {
				t.Fatalf("dependency %s registry %v in %s", d.Name, d.Registry, body)
			}
		}
		etag := resp.Header.Get("ETag")
		if r, _ := get(t, s.URL+"/cargo/index/en/t-/ent-b", token, "If-None-Match", etag); r.StatusCode != 304 || etag == "" {
			t.Fatalf("revalidation with %q: %d", etag, r.StatusCode)
		}
		if r, _ := get(t, s.URL+"/cargo/index/en/t-/ent-b", token, "If-Modified-Since", resp.Header.Get("Last-Modified")); r.StatusCode != 304 {
			t.Fatalf("revalidation by date: %d", r.StatusCode)
		}
		// A private crate exists: anonymous callers are told to authenticate.
		r, _ := get(t, s.URL+"/cargo/index/config.json", "")
		if r.StatusCode != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Cargo login_url=") {
			t.Fatalf("anonymous config.json: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
		if r, _ := get(t, s.URL+"/cargo/index/en/t-/ent-a", ""); r.StatusCode != 401 {
			t.Fatalf("anonymous index file: %d", r.StatusCode)
		}
		if r, _ := get(t, s.URL+"/cargo/index/no/-s/no-such-crate", token); r.StatusCode != 404 {
			t.Fatalf("unknown crate: %d", r.StatusCode)
		}
		out := mustCargo(t, pubHome, token, b, "search", "--registry", "entrepot", "ent")
		if !strings.Contains(out, `ent-a = "0.1.0"`) || !strings.Contains(out, `ent-b = "0.1.0"`) {
			t.Fatalf("cargo search:\n%s", out)
		}
		out = mustCargo(t, pubHome, token, b, "owner", "--list", "--registry", "entrepot", "ent-b")
		if !strings.Contains(out, "ferris") {
			t.Fatalf("cargo owner --list:\n%s", out)
		}
		// Owners are organization members: a session may add one, a token may not.
		admin := s.AdminToken(t)
		s.CreateUser(t, admin, "crab", "crab-crab-password-2")
		if out, err := runCargo(t, pubHome, token, b, "owner", "--add", "crab", "--registry", "entrepot", "ent-b"); err == nil {
			t.Fatalf("owner --add with an API token succeeded:\n%s", out)
		}
		mustCargo(t, pubHome, "Bearer "+session, b, "owner", "--add", "crab", "--registry", "entrepot", "ent-b")
		out = mustCargo(t, pubHome, token, b, "owner", "--list", "--registry", "entrepot", "ent-b")
		if !strings.Contains(out, "crab") {
			t.Fatalf("cargo owner --list after --add:\n%s", out)
		}
		mustCargo(t, pubHome, "Bearer "+session, b, "owner", "--remove", "crab", "--registry", "entrepot", "ent-b")

		// A name that collides with ent-a is refused, and cargo says why.
		c := writeCrate(t, filepath.Join(work, "Ent_a"), crateSrc{name: "Ent_a", version: "0.2.0", lib: "pub fn a() -> u32 { 3 }\n"})
		out, err := runCargo(t, pubHome, token, c, "publish", "--registry", "entrepot", "--allow-dirty", "--no-verify")
		if err == nil || !strings.Contains(out, "collides with the existing crate ent-a") {
			t.Fatalf("publish of Ent_a: %v\n%s", err, out)
		}
	})

	app := filepath.Join(work, "app")
	t.Run("build a project using them", func(t *testing.T) {
		writeCrate(t, app, crateSrc{name: "app", version: "0.0.0", bin: true,
			deps: "ent-b = { version = \"0.1\", registry = \"entrepot\" }\n",
			lib:  "fn main() { println!(\"answer={}\", ent_b::b()); }\n"})
		out := mustCargo(t, entrepotHome(t, s.URL), token, app, "run", "-q")
		if !strings.Contains(out, "answer=1101") {
			t.Fatalf("cargo run:\n%s", out)
		}
		if v := lockedVersion(t, app, "up-base"); v != "1.1.0" {
			t.Fatalf("up-base %s", v)
		}
	})

	t.Run("dependency confusion", func(t *testing.T) {
		// ent-a is claimed by acme; the upstream has a 9.0.0 that must
		// never be seen once the name is claimed.
		before := up.py.Hits("/index/en/t-/ent-a")
		dir := writeCrate(t, filepath.Join(work, "confused"), crateSrc{name: "confused", version: "0.0.0",
			deps: "ent-a = \"*\"\n", lib: "pub fn f() -> u32 { ent_a::a() }\n"})
		mustCargo(t, entrepotHome(t, s.URL), token, dir, "generate-lockfile")
		if v := lockedVersion(t, dir, "ent-a"); v != "0.1.0" {
			t.Fatalf("ent-a resolved to %s, want the hosted 0.1.0", v)
		}
		if up.py.Hits("/index/up/-m/up-mid") == 0 {
			t.Fatal("the upstream's access log shows no request for up-mid: the count below would prove nothing")
		}
		if after := up.py.Hits("/index/en/t-/ent-a"); after != before {
			t.Fatalf("the upstream was asked for the claimed crate (%d requests)", after-before)
		}
		if r, _ := get(t, s.URL+"/cargo/api/v1/crates/ent-a/9.0.0/download", token); r.StatusCode != 404 {
			t.Fatalf("download of the upstream's 9.0.0: %d", r.StatusCode)
		}
	})

	t.Run("yank", func(t *testing.T) {
		a := writeCrate(t, filepath.Join(work, "ent-a-0.1.1"), crateSrc{name: "ent-a", version: "0.1.1", lib: "pub fn a() -> u32 { 2 }\n"})
		mustCargo(t, pubHome, token, a, "publish", "--registry", "entrepot", "--allow-dirty")
		dir := writeCrate(t, filepath.Join(work, "locked"), crateSrc{name: "locked", version: "0.0.0", bin: true,
			deps: "ent-a = { version = \"0.1\", registry = \"entrepot\" }\n",
			lib:  "fn main() { println!(\"a={}\", ent_a::a()); }\n"})
		mustCargo(t, entrepotHome(t, s.URL), token, dir, "generate-lockfile")
		if v := lockedVersion(t, dir, "ent-a"); v != "0.1.1" {
			t.Fatalf("locked ent-a %s", v)
		}
		mustCargo(t, pubHome, token, a, "yank", "--registry", "entrepot", "ent-a@0.1.1")

		// The existing lock file still builds, from an empty cargo home.
		out := mustCargo(t, entrepotHome(t, s.URL), token, dir, "run", "-q", "--locked")
		if !strings.Contains(out, "a=2") {
			t.Fatalf("locked build:\n%s", out)
		}
		// A fresh resolution skips the yanked version.
		os.Remove(filepath.Join(dir, "Cargo.lock"))
		mustCargo(t, entrepotHome(t, s.URL), token, dir, "generate-lockfile")
		if v := lockedVersion(t, dir, "ent-a"); v != "0.1.0" {
			t.Fatalf("fresh resolution chose yanked %s", v)
		}
		mustCargo(t, pubHome, token, a, "yank", "--undo", "--registry", "entrepot", "ent-a@0.1.1")
		_, body := get(t, s.URL+"/cargo/index/en/t-/ent-a", token)
		if bytes.Contains(body, []byte(`"yanked":true`)) {
			t.Fatalf("still yanked after --undo:\n%s", body)
		}
	})

	t.Run("mirror survives the upstream", func(t *testing.T) {
		up.py.Stop()
		dir := filepath.Join(work, "app-offline")
		writeCrate(t, dir, crateSrc{name: "app", version: "0.0.0", bin: true,
			deps: "ent-b = { version = \"0.1\", registry = \"entrepot\" }\nup-mid = \"0.1\"\n",
			lib:  "fn main() { println!(\"answer={} mid={}\", ent_b::b(), up_mid::mid()); }\n"})
		out := mustCargo(t, entrepotHome(t, s.URL), token, dir, "run", "-q")
		if !strings.Contains(out, "mid=1100") {
			t.Fatalf("cargo run without the upstream:\n%s", out)
		}
	})
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func indexLineOf(name, vers, cksum string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"cksum":%q,"features":{},"yanked":false}`+"\n", name, vers, cksum))
}

// TestCargoStampede: 100 concurrent downloads of one cold crate make one
// upstream request; bytes that do not match the index checksum are never
// cached nor served.
func TestCargoStampede(t *testing.T) {
	u := testkit.NewUpstream(t)
	crate := bytes.Repeat([]byte("not really a crate, but bytes with a checksum "), 2000)
	u.Handle("/index/config.json", []byte(`{"dl":"`+u.URL+`/dl"}`))
	u.Handle("/index/st/am/stampede", indexLineOf("stampede", "1.0.0", sha256Hex(crate)))
	u.Handle("/dl/stampede/1.0.0/download", crate, func(r *testkit.Route) { r.Delay = 300 * time.Millisecond })
	u.Handle("/index/co/rr/corrupt", indexLineOf("corrupt", "1.0.0", sha256Hex(crate)))
	u.Set("/dl/corrupt/1.0.0/download", testkit.Route{Body: crate, Corrupt: true})
	u.Handle("/index/tr/un/truncated", indexLineOf("truncated", "1.0.0", sha256Hex(crate)))
	u.Set("/dl/truncated/1.0.0/download", testkit.Route{Body: crate, Truncate: 1000})
	s := testkit.Start(t, "UPSTREAM_CARGO="+u.URL+"/index/")

	t.Run("anonymous mirror", func(t *testing.T) {
		// No hosted crate: the mirror is open to anonymous callers.
		if code, b := s.Get("/cargo/index/config.json"); code != 200 || !bytes.Contains(b, []byte(`"auth-required":false`)) {
			t.Fatalf("config.json: %d %s", code, b)
		}
		if code, b := s.Get("/cargo/index/no/ne/none"); code != 404 || !bytes.Contains(b, []byte(`"errors"`)) {
			t.Fatalf("unknown crate: %d %s", code, b)
		}
	})

	t.Run("100 concurrent downloads", func(t *testing.T) {
		for _, e := range testkit.Stampede(100, s.URL+"/cargo/api/v1/crates/stampede/1.0.0/download", crate) {
			t.Error(e)
		}
		for _, p := range []string{"/dl/stampede/1.0.0/download", "/index/st/am/stampede", "/index/config.json"} {
			if h := u.Hits(p); h != 1 {
				t.Errorf("%s: %d upstream requests, want 1", p, h)
			}
		}
	})

	for _, name := range []string{"corrupt", "truncated"} {
		t.Run(name+" bytes are not cached", func(t *testing.T) {
			path := "/cargo/api/v1/crates/" + name + "/1.0.0/download"
			if code, b := s.Get(path); code != http.StatusBadGateway || !bytes.Contains(b, []byte(`"errors":[{"detail":`)) {
				t.Fatalf("%s download: %d %s", name, code, b)
			}
			u.Handle("/dl/"+name+"/1.0.0/download", crate) // the upstream recovers
			if code, b := s.Get(path); code != 200 || !bytes.Equal(b, crate) {
				t.Fatalf("%s download after the fix: %d (%d bytes)", name, code, len(b))
			}
		})
	}
}

// crateArchive builds a .crate (gzipped tar) holding a Cargo.toml.
func crateArchive(t *testing.T, folder, toml string, pad int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	files := map[string][]byte{folder + "/Cargo.toml": []byte(toml), folder + "/src/lib.rs": make([]byte, pad)}
	for _, name := range []string{folder + "/Cargo.toml", folder + "/src/lib.rs"} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write(files[name])
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func publishBody(meta string, crate []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(len(meta)))
	b.WriteString(meta)
	binary.Write(&b, binary.LittleEndian, uint32(len(crate)))
	b.Write(crate)
	return b.Bytes()
}

func metaJSON(name, vers string) string {
	return fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"features":{},"authors":[],"description":null,"links":null}`, name, vers)
}

func manifestOf(name, vers string) string {
	return fmt.Sprintf("[package]\nname = %q\nversion = %q\n", name, vers)
}

// countBlobs counts committed blobs in the server's filesystem store.
func countBlobs(s *testkit.Server) int {
	return testkit.CountFiles(filepath.Join(s.DataDir, "blobs", "sha256"))
}

// TestCargoBadInput: every malformed or refused publish answers a cargo
// error and stores nothing.
func TestCargoBadInput(t *testing.T) {
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=1")
	token, _ := org(t, s)
	put := func(body []byte) (int, string) {
		resp, b := testkit.Request(t, "PUT", s.URL+"/cargo/api/v1/crates/new", body, "Authorization", token)
		return resp.StatusCode, string(b)
	}
	good := func(name, vers string) []byte {
		return publishBody(metaJSON(name, vers), crateArchive(t, name+"-"+vers, manifestOf(name, vers), 0))
	}
	if code, body := put(good("foo-bar", "1.0.0")); code != 200 {
		t.Fatalf("first publish: %d %s", code, body)
	}
	blobs := countBlobs(s)
	full := good("ok-crate", "1.0.0")
	big := crateArchive(t, "big-1.0.0", manifestOf("big", "1.0.0"), 0)
	big = append(big, make([]byte, 2<<20)...)

	tests := []struct {
		name   string
		body   []byte
		status int
		detail string
		absent string // an index path that must stay 404
	}{
		{"empty body", nil, 400, "malformed publish request", ""},
		{"short metadata", []byte{200, 0, 0, 0, '{'}, 400, "malformed publish request", ""},
		{"short crate", full[:len(full)-10], 400, "malformed publish request", "ok/-c/ok-crate"},
		{"trailing bytes", append(append([]byte(nil), full...), 'x'), 400, "bytes after the .crate", "ok/-c/ok-crate"},
		{"not json", publishBody("{nope", []byte("x")), 400, "malformed publish metadata", ""},
		{"manifest disagrees", publishBody(metaJSON("liar", "1.0.0"), crateArchive(t, "liar-1.0.0", manifestOf("truth", "1.0.0"), 0)), 400, "does not match Cargo.toml", "3/l/liar"},
		{"manifest version disagrees", publishBody(metaJSON("liar", "1.0.0"), crateArchive(t, "liar-1.0.0", manifestOf("liar", "2.0.0"), 0)), 400, "does not match Cargo.toml", "3/l/liar"},
		{"not a crate", publishBody(metaJSON("liar", "1.0.0"), []byte("just text")), 400, "gzip", "3/l/liar"},
		{"invalid semver", good("semverless", "1.0"), 400, "invalid semver", "se/mv/semverless"},
		{"invalid name", good("9lives", "1.0.0"), 400, "invalid crate name", ""},
		{"oversize", publishBody(metaJSON("big", "1.0.0"), big), 413, "over the limit", "3/b/big"},
		{"name collision", good("Foo_bar", "1.0.1"), 409, "collides with the existing crate foo-bar", "fo/o_/foo_bar"},
		{"re-publish", good("foo-bar", "1.0.0"), 409, "already uploaded", ""},
		{"re-publish with build metadata", good("foo-bar", "1.0.0+other"), 409, "already uploaded", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := put(tt.body)
			var e struct{ Errors []struct{ Detail string } }
			if code != tt.status || json.Unmarshal([]byte(body), &e) != nil || len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Detail, tt.detail) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tt.status, tt.detail)
			}
			if tt.absent != "" {
				if r, _ := get(t, s.URL+"/cargo/index/"+tt.absent, token); r.StatusCode != 404 {
					t.Fatalf("%s: %d after a refused publish", tt.absent, r.StatusCode)
				}
			}
			if n := countBlobs(s); n != blobs {
				t.Fatalf("%d blobs stored, want %d", n, blobs)
			}
		})
	}
	_, idx := get(t, s.URL+"/cargo/index/fo/o-/foo-bar", token)
	if n := bytes.Count(idx, []byte("\n")); n != 1 {
		t.Fatalf("foo-bar has %d versions:\n%s", n, idx)
	}
	if code, body := put(good("foo-bar", "1.0.1")); code != 200 {
		t.Fatalf("a good publish after the bad ones: %d %s", code, body)
	}
}
