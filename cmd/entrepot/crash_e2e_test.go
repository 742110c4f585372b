package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// The crash campaign: for every protocol's publish, and for the garbage
// collector, the process is killed with SIGKILL at a random point, many
// times over; after each kill `entrepot fsck --repair` may only have to
// remove what an interrupted publish leaves by design (a file reference
// written before its version), a second fsck finds nothing, the restarted
// server left no spooled or temporary file behind, and the version the
// kill interrupted is either whole (its artifact is served, byte for byte)
// or absent and publishable again; a version whose publish was answered
// is never lost. At the end a real client reads from what the campaign
// left. ENTREPOT_CRASH_RUNS sets the runs per protocol (default 50).

// crashRuns is the number of kills per protocol.
func crashRuns(t *testing.T) int {
	if testing.Short() {
		t.Skip("the crash campaign is long: not with -short")
	}
	if v := os.Getenv("ENTREPOT_CRASH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("ENTREPOT_CRASH_RUNS=%q", v)
		}
		return n
	}
	return 50
}

// crashEnv is one protocol's campaign: a server and alice's credentials.
type crashEnv struct {
	t     *testing.T
	s     *testkit.Server
	token string
	auth  string // Basic alice:token
}

// try makes one request and returns its status, 0 when the connection
// failed (the server was killed under it), and the body.
func (c *crashEnv) try(method, path string, body []byte, header ...string) (int, []byte) {
	req, err := http.NewRequest(method, c.s.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", c.auth)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	return resp.StatusCode, b
}

// crashProto is one protocol's part in the campaign.
type crashProto struct {
	name string
	// publish sends version v and returns the answer's status (0: no
	// answer); success is a 2xx.
	publish func(c *crashEnv, v string) int
	// artifact is v's artifact: its path and the bytes it must serve.
	artifact func(c *crashEnv, v string) (string, []byte)
	// listed reports whether the protocol's metadata lists v.
	listed func(c *crashEnv, v string) bool
	// read has the protocol's real client fetch version v.
	read func(c *crashEnv, v string)
}

func ok(status int) bool { return status >= 200 && status < 300 }

func TestCrashCampaign(t *testing.T) {
	runs := crashRuns(t)
	for _, p := range crashProtos() {
		t.Run(p.name, func(t *testing.T) { crashCampaign(t, p, runs) })
	}
}

func crashCampaign(t *testing.T, p crashProto, runs int) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	s := testkit.Start(t)
	token := s.Token(t, s.OrgMember(t, "acme", "alice", alicePassword, "admin"), []string{"npm", "pypi", "cargo", "maven", "composer", "rubygems", "oci"}, nil, nil)
	c := &crashEnv{t: t, s: s, token: token, auth: testkit.Basic("alice", token)}

	// Publishes not killed measure how long one takes: kills land
	// anywhere from before the request to after its answer.
	if st := p.publish(c, crashVersion(0)); !ok(st) {
		t.Fatalf("publish %s: %d", crashVersion(0), st)
	}
	// Timed on a second publish: the first one creates the package.
	t0 := time.Now()
	if st := p.publish(c, crashVersion(runs+1)); !ok(st) {
		t.Fatalf("publish %s: %d", crashVersion(runs+1), st)
	}
	span := 2 * time.Since(t0)
	repaired, answered, half := 0, 0, 0
	for i := 1; i <= runs; i++ {
		v := crashVersion(i)
		delay := time.Duration(rng.Int64N(int64(span) + 1))
		got := make(chan int, 1)
		go func() { got <- p.publish(c, v) }()
		time.Sleep(delay)
		s.Kill()
		st := <-got
		if ok(st) {
			answered++
		}
		repaired += crashFsck(t, s.DataDir, nil)
		if err := s.Edge.Start(); err != nil {
			t.Fatal(err)
		}
		if n := leftovers(s.DataDir); len(n) > 0 {
			t.Fatalf("run %d: files left behind after a restart: %v", i, n)
		}
		path, want := p.artifact(c, v)
		code, body := c.try("GET", path, nil)
		switch {
		case code == 200 && !bytes.Equal(body, want):
			t.Fatalf("run %d: %s serves %d bytes, not the %d published", i, path, len(body), len(want))
		case code != 200 && code != 404:
			t.Fatalf("run %d: %s answers %d after a crash", i, path, code)
		case ok(st) && code != 200:
			t.Fatalf("run %d: publish of %s was answered %d, and the version is lost after a crash (%s: %d)", i, v, st, path, code)
		case code != 200 && p.listed(c, v):
			t.Fatalf("run %d: %s is listed but its artifact %s answers %d: half visible", i, v, path, code)
		}
		if code != 200 {
			half++
			if st := p.publish(c, v); !ok(st) {
				t.Fatalf("run %d: publishing %s again after the crash: %d", i, v, st)
			}
		}
	}
	// Nothing published was lost on the way.
	for i := 0; i <= runs; i++ {
		path, want := p.artifact(c, crashVersion(i))
		if code, body := c.try("GET", path, nil); code != 200 || !bytes.Equal(body, want) {
			t.Fatalf("%s: %d, %d bytes at the end", path, code, len(body))
		}
		if !p.listed(c, crashVersion(i)) {
			t.Fatalf("%s is not listed at the end", crashVersion(i))
		}
	}
	t.Logf("%d kills over %s: %d publishes answered before the kill, %d versions absent and published again, %d records repaired by fsck",
		runs, span, answered, half, repaired)
	if p.read != nil {
		p.read(c, crashVersion(runs))
	}
}

func crashVersion(i int) string { return fmt.Sprintf("1.0.%d", i) }

// crashFsck runs `entrepot fsck --repair` on a stopped server's data
// directory: every problem must be one that allowed lists (kinds an
// interrupted write leaves by design: a dangling file reference), and
// repaired; a second fsck must find nothing. It returns the repairs.
func crashFsck(t *testing.T, dataDir string, env []string, allowed ...string) int {
	t.Helper()
	env = append([]string{"DATA_DIR=" + dataDir}, env...)
	out, errOut, code := entrepot(t, nil, env, "fsck", "--repair", "--json")
	var rep struct {
		Problems []struct {
			Kind, Source, Detail string
			Repaired             bool
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("fsck --repair: exit %d %v\n%s%s", code, err, out, errOut)
	}
	allowed = append(allowed, "dangling-file-ref")
	for _, p := range rep.Problems {
		known := false
		for _, a := range allowed {
			known = known || p.Kind == a
		}
		if !known || !p.Repaired {
			t.Fatalf("fsck after a crash: %s %s: %s (repaired %v)", p.Kind, p.Source, p.Detail, p.Repaired)
		}
	}
	if out, errOut, code := entrepot(t, nil, env, "fsck"); code != 0 {
		t.Fatalf("fsck after --repair: exit %d\n%s%s", code, out, errOut)
	}
	return len(rep.Problems)
}

// leftovers lists the files a crash left where interrupted writes spool
// (DATA_DIR/spool, the blob store's tmp/): a server that started has
// swept them all.
func leftovers(dataDir string) []string {
	var out []string
	for _, dir := range []string{"spool", "blobs/tmp"} {
		filepath.WalkDir(filepath.Join(dataDir, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				out = append(out, strings.TrimPrefix(p, dataDir+"/"))
			}
			return nil
		})
	}
	return out
}

// crashProtos are the protocols' publishes over their HTTP APIs, as the
// clients send them, with deterministic bytes per version.
func crashProtos() []crashProto {
	return []crashProto{
		{
			name: "npm",
			publish: func(c *crashEnv, v string) int {
				st, _ := c.try("PUT", "/npm/@acme%2fcrash", npmDoc("@acme/crash", v, npmTarball("@acme/crash", v)), "Content-Type", "application/json", "Authorization", "Bearer "+c.token)
				return st
			},
			artifact: func(c *crashEnv, v string) (string, []byte) {
				return "/npm/@acme/crash/-/crash-" + v + ".tgz", npmTarball("@acme/crash", v)
			},
			listed: func(c *crashEnv, v string) bool {
				code, body := c.try("GET", "/npm/@acme%2fcrash", nil, "Authorization", "Bearer "+c.token)
				return code == 200 && bytes.Contains(body, []byte(`"`+v+`":`))
			},
			read: npmRead,
		},
		{
			name: "pypi",
			publish: func(c *crashEnv, v string) int {
				content := wheel("crash-pkg", v)
				sum := sha256.Sum256(content)
				st, _ := crashForm(c, map[string]string{
					":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
					"name": "crash-pkg", "version": v, "filetype": "bdist_wheel", "pyversion": "py3",
					"sha256_digest": hex.EncodeToString(sum[:]),
				}, "crash_pkg-"+v+"-py3-none-any.whl", content)
				return st
			},
			artifact: func(c *crashEnv, v string) (string, []byte) {
				return "/pypi/files/crash-pkg/crash_pkg-" + v + "-py3-none-any.whl", wheel("crash-pkg", v)
			},
			listed: func(c *crashEnv, v string) bool {
				code, body := c.try("GET", "/pypi/simple/crash-pkg/", nil)
				return code == 200 && bytes.Contains(body, []byte("crash_pkg-"+v+"-py3-none-any.whl"))
			},
			read: pipRead,
		},
		{
			name: "cargo",
			publish: func(c *crashEnv, v string) int {
				st, _ := c.try("PUT", "/cargo/api/v1/crates/new", cargoPublish("crash-crate", v), "Authorization", c.token)
				return st
			},
			artifact: func(c *crashEnv, v string) (string, []byte) {
				return "/cargo/api/v1/crates/crash-crate/" + v + "/download", crateFile("crash-crate", v)
			},
			listed: func(c *crashEnv, v string) bool {
				code, body := c.try("GET", "/cargo/index/cr/as/crash-crate", nil)
				return code == 200 && bytes.Contains(body, []byte(`"vers":"`+v+`"`))
			},
			read: cargoRead,
		},
		{
			name: "maven",
			publish: func(c *crashEnv, v string) int {
				st, _ := c.try("PUT", "/maven2/com/acme/crash/"+v+"/crash-"+v+".pom", mavenPom(v))
				return st
			},
			artifact: func(c *crashEnv, v string) (string, []byte) {
				return "/maven2/com/acme/crash/" + v + "/crash-" + v + ".pom", mavenPom(v)
			},
			listed: func(c *crashEnv, v string) bool {
				code, body := c.try("GET", "/maven2/com/acme/crash/maven-metadata.xml", nil)
				return code == 200 && bytes.Contains(body, []byte("<version>"+v+"</version>"))
			},
		},
		{
			name: "composer",
			publish: func(c *crashEnv, v string) int {
				st, _ := c.try("PUT", "/composer/packages/acme/crash?version="+v, composerZip(v), "Authorization", "Bearer "+c.token)
				return st
			},
			artifact: func(c *crashEnv, v string) (string, []byte) {
				return composerDist(c, v), composerZip(v)
			},
			listed: func(c *crashEnv, v string) bool { return composerDist(c, v) != "/composer/none" },
			read:   composerRead,
		},
		{
			name: "rubygems",
			publish: func(c *crashEnv, v string) int {
				st, _ := c.try("POST", "/rubygems/api/v1/gems", crashGem(c.t, "crashgem", v), "Authorization", c.token, "Content-Type", "application/octet-stream")
				return st
			},
			artifact: func(c *crashEnv, v string) (string, []byte) {
				return "/rubygems/gems/crashgem-" + v + ".gem", crashGem(c.t, "crashgem", v)
			},
			listed: func(c *crashEnv, v string) bool {
				code, body := c.try("GET", "/rubygems/info/crashgem", nil)
				return code == 200 && bytes.Contains(body, []byte("\n"+v+" "))
			},
			read: gemRead,
		},
		{
			name:    "oci",
			publish: ociPublish,
			artifact: func(c *crashEnv, v string) (string, []byte) {
				_, manifest := ociImage(v)
				return "/v2/acme/crash/manifests/" + v, manifest
			},
			listed: func(c *crashEnv, v string) bool {
				code, body := c.try("GET", "/v2/acme/crash/tags/list", nil)
				if code != 200 || !bytes.Contains(body, []byte(`"`+v+`"`)) {
					return false
				}
				// Listed: every blob of the image must be there too.
				blobs, _ := ociImage(v)
				for _, b := range blobs {
					if code, got := c.try("GET", "/v2/acme/crash/blobs/"+sha256Digest(b), nil); code != 200 || !bytes.Equal(got, b) {
						c.t.Fatalf("tag %s is listed but blob %s answers %d", v, sha256Digest(b), code)
					}
				}
				return true
			},
			read: skopeoRead,
		},
	}
}

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// deterministic tar.gz of files (sorted by the caller), zero times.
func tgzOf(files ...string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for i := 0; i+1 < len(files); i += 2 {
		tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[i+1]))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func npmTarball(name, v string) []byte {
	pj, _ := json.Marshal(map[string]string{"name": name, "version": v, "main": "index.js"})
	return tgzOf("package/package.json", string(pj), "package/index.js", "module.exports = "+strconv.Quote(v)+";\n")
}

func npmDoc(name, v string, tarball []byte) []byte {
	s512, s1 := sha512.Sum512(tarball), sha1.Sum(tarball)
	doc := map[string]any{
		"_id": name, "name": name, "dist-tags": map[string]string{"latest": v},
		"versions": map[string]any{v: map[string]any{
			"name": name, "version": v, "main": "index.js",
			"dist": map[string]string{"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), "shasum": hex.EncodeToString(s1[:])},
		}},
		"_attachments": map[string]any{strings.TrimPrefix(name, "@acme/") + "-" + v + ".tgz": map[string]any{
			"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tarball), "length": len(tarball),
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}

// crashForm posts an upload form as twine does.
func crashForm(c *crashEnv, fields map[string]string, filename string, content []byte) (int, []byte) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("content", filename)
	fw.Write(content)
	mw.Close()
	return c.try("POST", "/pypi/", body.Bytes(), "Content-Type", mw.FormDataContentType())
}

func crateFile(name, v string) []byte {
	return tgzOf(name+"-"+v+"/Cargo.toml", fmt.Sprintf("[package]\nname = %q\nversion = %q\nedition = \"2021\"\ndescription = \"crash\"\nlicense = \"MIT\"\n", name, v),
		name+"-"+v+"/src/lib.rs", "pub fn crash() {}\n")
}

func cargoPublish(name, v string) []byte {
	crate := crateFile(name, v)
	meta := fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"features":{},"description":"crash","license":"MIT"}`, name, v)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint32(len(meta)))
	buf.WriteString(meta)
	binary.Write(&buf, binary.LittleEndian, uint32(len(crate)))
	buf.Write(crate)
	return buf.Bytes()
}

func mavenPom(v string) []byte {
	return []byte(`<?xml version="1.0"?><project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>` +
		`<groupId>com.acme</groupId><artifactId>crash</artifactId><version>` + v + `</version></project>`)
}

func composerZip(v string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("composer.json")
	io.WriteString(w, `{"name":"acme/crash","type":"library","license":"MIT","autoload":{"psr-4":{"Acme\\Crash\\":"src/"}}}`)
	w, _ = zw.Create("src/Crash.php")
	io.WriteString(w, "<?php\nnamespace Acme\\Crash;\nclass Crash { const V = '"+v+"'; }\n")
	zw.Close()
	return b.Bytes()
}

// composerDist returns the path of v's dist from the package's metadata,
// "/composer/none" when it does not list v.
func composerDist(c *crashEnv, v string) string {
	code, body := c.try("GET", "/composer/p2/acme/crash.json", nil)
	if code != 200 {
		return "/composer/none"
	}
	var doc struct {
		Packages map[string][]struct {
			Version string
			Dist    struct{ URL string }
		}
	}
	json.Unmarshal(body, &doc)
	for _, p := range doc.Packages["acme/crash"] {
		if p.Version == v {
			return strings.TrimPrefix(p.Dist.URL, c.s.URL)
		}
	}
	return "/composer/none"
}

// crashGem is edge/rubygems' test gem renamed to name@v, its checksums
// made to agree.
func crashGem(t testing.TB, name, v string) []byte {
	src, err := os.ReadFile("../../edge/rubygems/testdata/alpha-1.0.0.gem")
	if err != nil {
		t.Fatal(err)
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	type entry struct {
		h *tar.Header
		b []byte
	}
	var entries []entry
	tr := tar.NewReader(bytes.NewReader(src))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == "metadata.gz" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			y, _ := io.ReadAll(zr)
			s := strings.Replace(string(y), "name: alpha\n", "name: "+name+"\n", 1)
			s = strings.Replace(s, "version: 1.0.0\n", "version: "+v+"\n", 1)
			b = gz([]byte(s))
		}
		entries = append(entries, entry{h, b})
	}
	var sums strings.Builder
	sums.WriteString("---\nSHA256:\n")
	for _, e := range entries {
		if e.h.Name != "checksums.yaml.gz" {
			fmt.Fprintf(&sums, "  %s: %x\n", e.h.Name, sha256.Sum256(e.b))
		}
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for _, e := range entries {
		if e.h.Name == "checksums.yaml.gz" {
			e.b = gz([]byte(sums.String()))
		}
		e.h.Size = int64(len(e.b))
		tw.WriteHeader(e.h)
		tw.Write(e.b)
	}
	tw.Close()
	return out.Bytes()
}

// ociImage is v's image: its blobs (config, layer) and its manifest.
func ociImage(v string) ([][]byte, []byte) {
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"v":"` + v + `"}}}`)
	layer := tgzOf("crash/version", v)
	desc := func(mt string, b []byte) string {
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, mt, sha256Digest(b), len(b))
	}
	manifest := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":` +
		desc("application/vnd.oci.image.config.v1+json", config) + `,"layers":[` + desc("application/vnd.oci.image.layer.v1.tar+gzip", layer) + `]}`
	return [][]byte{config, layer}, []byte(manifest)
}

// ociPublish pushes v's image as docker and skopeo do: each blob in a
// session (POST, PATCH, PUT), then the manifest under tag v.
func ociPublish(c *crashEnv, v string) int {
	blobs, manifest := ociImage(v)
	client := http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, url string, body []byte, ct string) (*http.Response, bool) {
		if !strings.HasPrefix(url, "http") {
			url = c.s.URL + url
		}
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", c.auth)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, true
	}
	for _, b := range blobs {
		resp, okr := do("POST", "/v2/acme/crash/blobs/uploads/", nil, "")
		if !okr || resp.StatusCode != 202 {
			return statusOf(resp)
		}
		loc := resp.Header.Get("Location")
		if resp, okr = do("PATCH", loc, b, "application/octet-stream"); !okr || resp.StatusCode != 202 {
			return statusOf(resp)
		}
		loc = resp.Header.Get("Location")
		sep := "?"
		if strings.Contains(loc, "?") {
			sep = "&"
		}
		if resp, okr = do("PUT", loc+sep+"digest="+sha256Digest(b), nil, "application/octet-stream"); !okr || resp.StatusCode != 201 {
			return statusOf(resp)
		}
	}
	resp, _ := do("PUT", "/v2/acme/crash/manifests/"+v, manifest, "application/vnd.oci.image.manifest.v1+json")
	return statusOf(resp)
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}

// The real clients' reads at the end of a campaign.

func npmRead(c *crashEnv, v string) {
	t := c.t
	npm := testkit.RequireTool(t, "npm")
	rc := filepath.Join(t.TempDir(), "npmrc")
	os.WriteFile(rc, []byte("registry="+c.s.URL+"/npm/\n//"+c.s.Host()+"/npm/:_authToken="+c.token+"\n"), 0o600)
	app := t.TempDir()
	testkit.WriteFile(t, filepath.Join(app, "package.json"), `{"name":"app","version":"1.0.0"}`)
	home := t.TempDir()
	env := append(testkit.Env([]string{"npm_config_", "NPM_CONFIG_", "HOME="}), "HOME="+home, "NO_UPDATE_NOTIFIER=1")
	testkit.MustRun(t, app, env, npm, "install", "@acme/crash@"+v, "--userconfig", rc, "--cache", t.TempDir(), "--no-audit", "--no-fund", "--update-notifier=false")
	if b, err := os.ReadFile(filepath.Join(app, "node_modules/@acme/crash/index.js")); err != nil || !bytes.Contains(b, []byte(v)) {
		t.Fatalf("npm installed %q (%v)", b, err)
	}
}

func pipRead(c *crashEnv, v string) {
	t := c.t
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Fatal("python3 (with pip) is needed")
	}
	dl := t.TempDir()
	testkit.MustRun(t, "", testkit.Env([]string{"PIP_"}), "/usr/bin/python3", "-m", "pip", "download", "--no-cache-dir", "--no-deps", "-d", dl,
		"--index-url", strings.Replace(c.s.URL, "http://", "http://__token__:"+c.token+"@", 1)+"/pypi/simple/", "crash-pkg=="+v)
	if _, err := os.Stat(filepath.Join(dl, "crash_pkg-"+v+"-py3-none-any.whl")); err != nil {
		t.Fatalf("pip did not download the wheel: %v", err)
	}
}

func cargoRead(c *crashEnv, v string) {
	t := c.t
	cargo := testkit.RequireTool(t, "cargo")
	home, user := t.TempDir(), t.TempDir()
	testkit.WriteFile(t, filepath.Join(home, "config.toml"), "[net]\nretry = 1\n[registries.entrepot]\nindex = \"sparse+"+c.s.URL+"/cargo/index/\"\n[registry]\nglobal-credential-providers = [\"cargo:token\"]\n")
	testkit.WriteFile(t, filepath.Join(user, "Cargo.toml"), "[package]\nname = \"user\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[dependencies]\ncrash-crate = { version = \"="+v+"\", registry = \"entrepot\" }\n")
	testkit.WriteFile(t, filepath.Join(user, "src/lib.rs"), "")
	// cargo fetch downloads the crate and checks it against the index's checksum.
	testkit.MustRun(t, user, testkit.Env([]string{"CARGO_"}, "CARGO_HOME="+home, "CARGO_TERM_COLOR=never", "CARGO_REGISTRIES_ENTREPOT_TOKEN="+c.token, "CARGO_TARGET_DIR="+filepath.Join(user, "target")), cargo, "fetch")
}

func composerRead(c *crashEnv, v string) {
	t := c.t
	composer := testkit.RequireTool(t, "composer")
	testkit.RequireTool(t, "unzip")
	proj := t.TempDir()
	testkit.WriteFile(t, filepath.Join(proj, "composer.json"), `{"name":"test/app","repositories":[{"packagist.org":false},{"type":"composer","url":"`+c.s.URL+`/composer"}],"config":{"secure-http":false},"require":{"acme/crash":"`+v+`"}}`)
	testkit.MustRun(t, proj, testkit.Env(nil, "COMPOSER_HOME="+t.TempDir(), "COMPOSER_CACHE_DIR="+t.TempDir(), "COMPOSER_ALLOW_SUPERUSER=1",
		"COMPOSER_AUTH="+`{"bearer":{"`+c.s.Host()+`":"`+c.token+`"}}`), composer, "install", "--no-interaction", "--no-progress")
	if b, err := os.ReadFile(filepath.Join(proj, "vendor/acme/crash/src/Crash.php")); err != nil || !bytes.Contains(b, []byte(v)) {
		t.Fatalf("composer installed %q (%v)", b, err)
	}
}

func gemRead(c *crashEnv, v string) {
	t := c.t
	gem := testkit.RequireTool(t, "gem")
	home := t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GEM_HOME=" + filepath.Join(home, "gems"), "GEM_PATH=" + filepath.Join(home, "gems"), "LANG=C.UTF-8"}
	source := strings.Replace(c.s.URL, "http://", "http://alice:"+c.token+"@", 1) + "/rubygems/"
	if out := testkit.MustRun(t, "", env, gem, "fetch", "crashgem", "--version", v, "--clear-sources", "--source", source); !strings.Contains(out, "Downloaded crashgem-"+v) {
		t.Fatalf("gem fetch:\n%s", out)
	}
}

func skopeoRead(c *crashEnv, v string) {
	t := c.t
	skopeo := testkit.RequireTool(t, "skopeo")
	testkit.MustRun(t, "", nil, skopeo, "copy", "--src-tls-verify=false", "--src-creds", "alice:"+c.token,
		"docker://"+c.s.Host()+"/acme/crash:"+v, "dir:"+filepath.Join(t.TempDir(), "image"))
}
