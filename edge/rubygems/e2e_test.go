package rubygems

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// gemSource writes a small gem's sources into dir and builds it with the
// real `gem build`; it returns the .gem's path.
func buildGem(t *testing.T, dir, name, version string, deps map[string]string, extra int) string {
	t.Helper()
	gemBin := testkit.RequireTool(t, "gem")
	src := filepath.Join(dir, "src-"+name+"-"+version)
	os.MkdirAll(filepath.Join(src, "lib"), 0o755)
	os.WriteFile(filepath.Join(src, "lib", name+".rb"), []byte(fmt.Sprintf("module %s\n  VERSION = %q\nend\n", strings.ToUpper(name[:1])+name[1:], version)), 0o644)
	files := `["lib/` + name + `.rb"]`
	if extra > 0 { // incompressible bulk, for the size limit
		b := make([]byte, extra)
		rand.Read(b)
		os.WriteFile(filepath.Join(src, "lib", "blob.bin"), b, 0o644)
		files = `["lib/` + name + `.rb", "lib/blob.bin"]`
	}
	var spec strings.Builder
	fmt.Fprintf(&spec, "Gem::Specification.new do |s|\n  s.name = %q\n  s.version = %q\n  s.summary = %q\n  s.authors = [\"Test\"]\n  s.license = \"MIT\"\n  s.files = %s\n", name, version, name+" gem", files)
	for d, req := range deps {
		fmt.Fprintf(&spec, "  s.add_dependency %q, %q\n", d, req)
	}
	spec.WriteString("end\n")
	os.WriteFile(filepath.Join(src, name+".gemspec"), []byte(spec.String()), 0o644)
	testkit.MustRun(t, src, testkit.Env(nil, "HOME="+dir, "SOURCE_DATE_EPOCH=1700000000"), gemBin, "build", name+".gemspec")
	return filepath.Join(src, name+"-"+version+".gem")
}

// rubyEnv is a fresh environment for gem and bundle: nothing of the
// machine's own gem or Bundler configuration leaks in.
func rubyEnv(t *testing.T, extra ...string) []string {
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GEM_HOME=" + filepath.Join(home, "gems"),
		"GEM_PATH=" + filepath.Join(home, "gems"), "BUNDLE_USER_HOME=" + filepath.Join(home, "bundle-home"),
		"BUNDLE_PATH=" + filepath.Join(home, "vendor"), "BUNDLE_DISABLE_SHARED_GEMS=true", "LANG=C.UTF-8"}
	return append(env, extra...)
}

func withCreds(base, user, token string) string {
	u, _ := url.Parse(base)
	u.User = url.UserPassword(user, token)
	return u.String()
}

// TestE2EHosted pushes two gems with `gem push`, installs them with `gem
// install` and Bundler, yanks a version, and feeds the push bad input.
func TestE2EHosted(t *testing.T) {
	gemBin := testkit.RequireTool(t, "gem")
	bundle := testkit.RequireTool(t, "bundle")
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=1")
	token := s.Token(t, s.OrgMember(t, "acme", "dev", "dev-password-123456", "admin"), nil, nil, nil)
	host := s.URL + "/rubygems"

	dir := t.TempDir()
	beta10 := buildGem(t, dir, "beta", "1.0.0", nil, 0)
	beta11 := buildGem(t, dir, "beta", "1.1.0", nil, 0)
	alpha := buildGem(t, dir, "alpha", "1.0.0", map[string]string{"beta": "~> 1.0"}, 0)

	pushEnv := rubyEnv(t, "GEM_HOST_API_KEY="+token)
	for _, g := range []string{beta10, beta11, alpha} {
		out := testkit.MustRun(t, dir, pushEnv, gemBin, "push", g, "--host", host)
		if !strings.Contains(out, "Successfully registered gem") {
			t.Fatalf("gem push: %s", out)
		}
	}

	t.Run("anonymous reads see nothing private", func(t *testing.T) {
		if st, body := s.Get("/rubygems/info/alpha"); st != 401 && st != 404 {
			t.Fatalf("anonymous /info/alpha: %d %s", st, body)
		}
		if _, body := s.Get("/rubygems/versions"); strings.Contains(string(body), "alpha") {
			t.Fatalf("anonymous /versions lists a private gem:\n%s", body)
		}
	})

	t.Run("gem install", func(t *testing.T) {
		env := rubyEnv(t)
		out := testkit.MustRun(t, dir, env, gemBin, "install", "alpha", "--no-document", "--clear-sources", "--source", withCreds(host, "dev", token)+"/")
		if !strings.Contains(out, "Successfully installed beta-1.1.0") || !strings.Contains(out, "Successfully installed alpha-1.0.0") {
			t.Fatalf("gem install:\n%s", out)
		}
	})

	t.Run("yank", func(t *testing.T) {
		out := testkit.MustRun(t, dir, pushEnv, gemBin, "yank", "beta", "-v", "1.1.0", "--host", host)
		if !strings.Contains(out, "Successfully deleted gem") {
			t.Fatalf("gem yank: %s", out)
		}
		if st, _ := get(t, host+"/gems/beta-1.1.0.gem", token, nil); st != 404 {
			t.Fatalf("yanked gem download: %d", st)
		}
	})

	t.Run("bundle install", func(t *testing.T) {
		app := t.TempDir()
		os.WriteFile(filepath.Join(app, "Gemfile"), []byte("source \""+host+"/\"\ngem \"alpha\"\n"), 0o644)
		// Bundler's credentials for a host: BUNDLE_<HOST> with dots as __.
		env := rubyEnv(t, "BUNDLE_127__0__0__1=dev:"+token)
		out := testkit.MustRun(t, app, env, bundle, "install")
		lock, _ := os.ReadFile(filepath.Join(app, "Gemfile.lock"))
		if !strings.Contains(string(lock), "beta (1.0.0)") || !strings.Contains(string(lock), "alpha (1.0.0)") {
			t.Fatalf("bundle install resolved the yanked beta 1.1.0 or failed:\n%s\n%s", out, lock)
		}
		// Bundler again: its compact-index cache is now warm, and it asks
		// for ranges of /versions and /info.
		testkit.MustRun(t, dir, pushEnv, gemBin, "push", buildGem(t, dir, "beta", "1.2.0", nil, 0), "--host", host)
		os.Remove(filepath.Join(app, "Gemfile.lock"))
		out = testkit.MustRun(t, app, env, bundle, "install")
		lock, _ = os.ReadFile(filepath.Join(app, "Gemfile.lock"))
		if !strings.Contains(string(lock), "beta (1.2.0)") {
			t.Fatalf("bundle install after a new version:\n%s\n%s", out, lock)
		}
		// The second run appended to its copies: ranges answered 206, and
		// the MD5 ETag matched its appended files (else it would have
		// fetched the whole file again with a 200).
		log := s.Log()
		if !strings.Contains(log, `"path":"/rubygems/versions","status":206`) || !strings.Contains(log, `"path":"/rubygems/info/beta","status":206`) {
			t.Fatalf("Bundler made no range requests:\n%s", grepLines(log, "/rubygems/"))
		}
	})

	t.Run("compact index validators and ranges", func(t *testing.T) {
		st, full := get(t, host+"/versions", token, nil)
		if st != 200 {
			t.Fatalf("/versions: %d", st)
		}
		h := headers(t, host+"/versions", token, nil)
		sum := sha256.Sum256(full)
		if h.Get("ETag") != `"`+md5hex(full)+`"` || !strings.Contains(h.Get("Repr-Digest"), "sha-256=:") || h.Get("Digest") == "" {
			t.Fatalf("headers %v (sha256 %x)", h, sum)
		}
		st, part := get(t, host+"/versions", token, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(full)-1)})
		if st != 206 || string(part) != "\n" {
			t.Fatalf("range: %d %q", st, part)
		}
		if st, _ := get(t, host+"/versions", token, map[string]string{"If-None-Match": h.Get("ETag")}); st != 304 {
			t.Fatalf("If-None-Match: %d", st)
		}
		if !strings.Contains(string(full), "beta -1.1.0 ") {
			t.Fatalf("/versions has no yank line:\n%s", full)
		}
		_, info := get(t, host+"/info/beta", token, nil)
		if strings.Contains(string(info), "1.1.0") || !strings.Contains(string(info), "1.0.0 |checksum:") {
			t.Fatalf("/info/beta:\n%s", info)
		}
		if st, b := get(t, host+"/api/v1/versions/beta.json", token, nil); st != 200 || !strings.Contains(string(b), `"yanked":true`) {
			t.Fatalf("versions.json: %d %s", st, b)
		}
		if st, b := get(t, host+"/api/v1/gems/alpha.json", token, nil); st != 200 || !strings.Contains(string(b), `"runtime":[{"name":"beta","requirements":"~\u003e 1.0"}]`) {
			t.Fatalf("gems/alpha.json: %d %s", st, b)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		good, _ := os.ReadFile(alpha)
		before, _ := getBody(t, host+"/versions", token)
		for _, tc := range []struct {
			name   string
			body   []byte
			status int
			msg    string
		}{
			{"corrupt archive", []byte("this is not a gem at all, not even a tar archive................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................"), 400, "not a gem"},
			{"checksum mismatch", tamper(t, good, "data.tar.gz", nil), 400, "checksum mismatch"},
			{"invalid version", tamper(t, good, "metadata.gz", func(y string) string {
				return strings.Replace(y, "version: 1.0.0", "version: 1.0.0 beta", 1)
			}), 400, "invalid version"},
			{"re-push", good, 409, "Repushing"},
			{"oversize", mustRead(t, buildGem(t, dir, "huge", "1.0.0", nil, 1<<20+4096)), 413, "limit"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, b := post(t, host+"/api/v1/gems", token, tc.body)
				if st != tc.status || !strings.Contains(string(b), tc.msg) {
					t.Fatalf("push: %d %s, want %d %q", st, b, tc.status, tc.msg)
				}
			})
		}
		after, _ := getBody(t, host+"/versions", token)
		if !bytes.Equal(before, after) {
			t.Fatalf("a failed push changed /versions:\n%s\n---\n%s", before, after)
		}
		if st, _ := get(t, host+"/info/huge", token, nil); st != 404 {
			t.Fatalf("oversize gem left a trace: %d", st)
		}
		if st, b := post(t, host+"/api/v1/gems", "", good); st != 401 {
			t.Fatalf("anonymous push: %d %s", st, b)
		}
	})
}

// TestE2EMirror installs gems through Entrepot from a local upstream: gems
// built by `gem build`, indexed by `gem generate_index` (legacy indexes,
// Marshal gemspecs) plus compact-index files written here, served by
// python3's http.server. Then the upstream stops and a fresh GEM_HOME
// installs again from the cache.
func TestE2EMirror(t *testing.T) {
	gemBin := testkit.RequireTool(t, "gem")
	bundle := testkit.RequireTool(t, "bundle")
	dir := t.TempDir()
	root := filepath.Join(dir, "upstream")
	os.MkdirAll(filepath.Join(root, "gems"), 0o755)
	var gems []string
	for _, g := range []struct {
		name, version string
		deps          map[string]string
	}{
		{"gamma", "1.0.0", nil},
		{"gamma", "2.0.0", nil},
		{"delta", "1.0.0", map[string]string{"gamma": "< 2"}},
		{"epsilon", "9.9.9", nil}, // the name an organization also publishes
	} {
		p := buildGem(t, dir, g.name, g.version, g.deps, 0)
		dst := filepath.Join(root, "gems", filepath.Base(p))
		os.WriteFile(dst, mustRead(t, p), 0o644)
		gems = append(gems, dst)
	}
	testkit.MustRun(t, dir, rubyEnv(t), gemBin, "generate_index", "-d", root)
	writeCompactIndex(t, root, gems)
	up := testkit.StaticServer(t, root)

	s := testkit.Start(t, "UPSTREAM_RUBYGEMS="+up.URL+"/")
	host := s.URL + "/rubygems"

	t.Run("gem install through the mirror", func(t *testing.T) {
		out := testkit.MustRun(t, dir, rubyEnv(t), gemBin, "install", "delta", "--no-document", "--clear-sources", "--source", host+"/")
		if !strings.Contains(out, "Successfully installed gamma-1.0.0") || !strings.Contains(out, "Successfully installed delta-1.0.0") {
			t.Fatalf("gem install:\n%s", out)
		}
	})

	t.Run("bundle install through the mirror", func(t *testing.T) {
		app := t.TempDir()
		os.WriteFile(filepath.Join(app, "Gemfile"), []byte("source \""+host+"/\"\ngem \"delta\"\ngem \"epsilon\"\n"), 0o644)
		out := testkit.MustRun(t, app, rubyEnv(t), bundle, "install")
		lock, _ := os.ReadFile(filepath.Join(app, "Gemfile.lock"))
		if !strings.Contains(string(lock), "gamma (1.0.0)") || !strings.Contains(string(lock), "epsilon (9.9.9)") {
			t.Fatalf("bundle install:\n%s\n%s", out, lock)
		}
	})

	t.Run("dependency confusion", func(t *testing.T) {
		dev := s.OrgMember(t, "acme", "dev", "dev-password-123456", "admin")
		admin := s.AdminToken(t)
		// The upstream has epsilon: acme claims the name on purpose, as a first push may not.
		if st, b := s.API("POST", "/organizations/acme/claims", admin, map[string]string{"protocol": "rubygems", "namespace": "epsilon"}, nil); st != 201 {
			t.Fatalf("claim of epsilon: %d %s", st, b)
		}
		token := s.Token(t, dev, nil, nil, nil)
		testkit.MustRun(t, dir, rubyEnv(t, "GEM_HOST_API_KEY="+token), gemBin, "push", buildGem(t, dir, "epsilon", "0.1.0", nil, 0), "--host", host)
		_, info := get(t, host+"/info/epsilon", token, nil)
		if strings.Contains(string(info), "9.9.9") || !strings.Contains(string(info), "0.1.0") {
			t.Fatalf("/info/epsilon mixes in the upstream:\n%s", info)
		}
		if st, _ := get(t, host+"/gems/epsilon-9.9.9.gem", token, nil); st != 404 {
			t.Fatalf("the upstream's epsilon-9.9.9.gem: %d", st)
		}
		_, versions := get(t, host+"/versions", token, nil)
		if strings.Contains(string(versions), "epsilon 9.9.9") || !strings.Contains(string(versions), "epsilon 0.1.0") || !strings.Contains(string(versions), "delta 1.0.0") {
			t.Fatalf("/versions:\n%s", versions)
		}
		_, names := get(t, host+"/names", token, nil)
		if strings.Count(string(names), "epsilon\n") != 1 || !strings.Contains(string(names), "gamma\n") {
			t.Fatalf("/names:\n%s", names)
		}
	})

	t.Run("served from the cache with the upstream stopped", func(t *testing.T) {
		up.Stop()
		out := testkit.MustRun(t, dir, rubyEnv(t), gemBin, "install", "delta", "--no-document", "--clear-sources", "--source", host+"/")
		if !strings.Contains(out, "Successfully installed delta-1.0.0") {
			t.Fatalf("gem install from the cache:\n%s", out)
		}
	})
}

// TestE2EStampede asks 100 times at once for a cold mirrored gem: one
// upstream request; and a corrupt upstream gem is never cached.
func TestE2EStampede(t *testing.T) {
	testkit.RequireTool(t, "gem")
	dir := t.TempDir()
	p := buildGem(t, dir, "zeta", "1.0.0", nil, 0)
	gem := mustRead(t, p)
	spec, err := readGem(bytes.NewReader(gem), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(gem)
	spec.SHA256 = hex.EncodeToString(sum[:])
	info := infoFile([]*Spec{spec})
	up := testkit.NewUpstream(t)
	up.Handle("/info/zeta", info)
	up.Handle("/gems/zeta-1.0.0.gem", gem, func(r *testkit.Route) { r.Delay = 300 * time.Millisecond })
	up.Handle("/versions", []byte("created_at: 2024-01-01T00:00:00Z\n---\nzeta 1.0.0 "+md5hex(info)+"\n"))
	s := testkit.Start(t, "UPSTREAM_RUBYGEMS="+up.URL+"/")

	if bad := testkit.Stampede(100, s.URL+"/rubygems/gems/zeta-1.0.0.gem", gem); len(bad) != 0 {
		t.Fatalf("%d of 100 requests failed, the first: %s", len(bad), bad[0])
	}
	if n := up.Hits("/gems/zeta-1.0.0.gem"); n != 1 {
		t.Fatalf("100 concurrent requests made %d upstream requests", n)
	}

	t.Run("corrupt upstream bytes are not cached", func(t *testing.T) {
		other := buildGem(t, dir, "eta", "1.0.0", nil, 0)
		b := mustRead(t, other)
		sp, _ := readGem(bytes.NewReader(b), 1<<30)
		s1 := sha256.Sum256(b)
		sp.SHA256 = hex.EncodeToString(s1[:])
		up.Handle("/info/eta", infoFile([]*Spec{sp}))
		up.Handle("/gems/eta-1.0.0.gem", b, func(r *testkit.Route) { r.Corrupt = true })
		if st, body := get(t, s.URL+"/rubygems/gems/eta-1.0.0.gem", "", nil); st != 502 {
			t.Fatalf("corrupt gem: %d %s", st, body)
		}
		up.Handle("/gems/eta-1.0.0.gem", b)
		if st, got := get(t, s.URL+"/rubygems/gems/eta-1.0.0.gem", "", nil); st != 200 || !bytes.Equal(got, b) {
			t.Fatalf("after the upstream healed: %d", st)
		}
	})
}

// writeCompactIndex writes /versions, /names and /info/{gem} for the
// gems, as rubygems.org lays them out.
func writeCompactIndex(t *testing.T, root string, gems []string) {
	t.Helper()
	byName := map[string][]*Spec{}
	var order []string
	for _, p := range gems {
		b := mustRead(t, p)
		s, err := readGem(bytes.NewReader(b), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		s.SHA256 = hex.EncodeToString(sum[:])
		if byName[s.Name] == nil {
			order = append(order, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
	}
	os.MkdirAll(filepath.Join(root, "info"), 0o755)
	versions := "created_at: 2024-01-01T00:00:00Z\n---\n"
	names := "---\n"
	for _, n := range order {
		info := infoFile(byName[n])
		os.WriteFile(filepath.Join(root, "info", n), info, 0o644)
		var vs []string
		for _, s := range byName[n] {
			vs = append(vs, versionKey(s.Version, s.Platform))
		}
		versions += n + " " + strings.Join(vs, ",") + " " + md5hex(info) + "\n"
		names += n + "\n"
	}
	os.WriteFile(filepath.Join(root, "versions"), []byte(versions), 0o644)
	os.WriteFile(filepath.Join(root, "names"), []byte(names), 0o644)
}

// tamper rewrites one entry of a gem: edit changes the YAML of a gzipped
// entry and the checksums are recomputed; a nil edit flips a byte of the
// entry and keeps the old checksums.
func tamper(t *testing.T, gem []byte, entry string, edit func(string) string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(gem))
	type file struct {
		h *tar.Header
		b []byte
	}
	var files []file
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == entry {
			if edit == nil {
				b = append([]byte(nil), b...)
				b[len(b)/2] ^= 0xff
			} else {
				z, _ := gzip.NewReader(bytes.NewReader(b))
				y, _ := io.ReadAll(z)
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write([]byte(edit(string(y))))
				zw.Close()
				b = buf.Bytes()
			}
		}
		files = append(files, file{h, b})
	}
	if edit != nil { // recompute checksums.yaml.gz
		var y strings.Builder
		y.WriteString("---\nSHA256:\n")
		for _, f := range files {
			if f.h.Name != "checksums.yaml.gz" {
				s := sha256.Sum256(f.b)
				fmt.Fprintf(&y, "  %s: %x\n", f.h.Name, s)
			}
		}
		for i, f := range files {
			if f.h.Name == "checksums.yaml.gz" {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write([]byte(y.String()))
				zw.Close()
				files[i].b = buf.Bytes()
			}
		}
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, f := range files {
		f.h.Size = int64(len(f.b))
		tw.WriteHeader(f.h)
		tw.Write(f.b)
	}
	tw.Close()
	return out.Bytes()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func request(t *testing.T, method, u, token string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	header := []string{"Authorization", token}
	for k, v := range hdr {
		header = append(header, k, v)
	}
	resp, b := testkit.Request(t, method, u, body, header...)
	return resp.StatusCode, resp.Header, b
}

func get(t *testing.T, u, token string, hdr map[string]string) (int, []byte) {
	st, _, b := request(t, "GET", u, token, nil, hdr)
	return st, b
}

func getBody(t *testing.T, u, token string) ([]byte, error) {
	_, b := get(t, u, token, nil)
	return b, nil
}

func headers(t *testing.T, u, token string, hdr map[string]string) http.Header {
	_, h, _ := request(t, "GET", u, token, nil, hdr)
	return h
}

func post(t *testing.T, u, token string, body []byte) (int, []byte) {
	st, _, b := request(t, "POST", u, token, body, map[string]string{"Content-Type": "application/octet-stream"})
	return st, b
}
