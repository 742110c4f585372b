package pypi_test

import (
	"archive/zip"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// debianPython is the interpreter the clients run on: Debian's, whose
// setuptools, wheel, venv and twine packages the client script installs
// (the machine's first python3 may be another one; it only serves the
// static upstream, testkit.StaticServer).
const debianPython = "/usr/bin/python3"

// clientEnv is the environment of the real clients: no PIP_* setting of
// the machine (PIP_FIND_LINKS, PIP_INDEX_URL) may leak into a test, and no
// keyring may be asked for credentials.
var clientEnv = testkit.Env([]string{"PIP_", "TWINE_"},
	"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring", "PIP_NO_INPUT=1", "PIP_DISABLE_PIP_VERSION_CHECK=1")

func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	return testkit.Run(t, dir, clientEnv, name, args...)
}

func mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	return testkit.MustRun(t, dir, clientEnv, name, args...)
}

// requireClients fails (under make test) or skips (bare go test) when
// the clients are missing.
func requireClients(t *testing.T) {
	testkit.RequireTool(t, debianPython)
	testkit.RequireTool(t, "twine")
}

// venv makes a fresh virtual environment and returns its pip and python.
func venv(t *testing.T) (pip, python string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "venv")
	mustRun(t, "", debianPython, "-m", "venv", dir)
	return filepath.Join(dir, "bin", "pip"), filepath.Join(dir, "bin", "python")
}

// buildProject builds a wheel and an sdist of a small project with
// Debian's setuptools and returns the dist folder.
func buildProject(t *testing.T, name, version string) string {
	t.Helper()
	dir := t.TempDir()
	mod := strings.ReplaceAll(name, "-", "_")
	os.MkdirAll(filepath.Join(dir, mod), 0o755)
	os.WriteFile(filepath.Join(dir, mod, "__init__.py"), []byte(fmt.Sprintf("VALUE = %q\n", version)), 0o644)
	os.WriteFile(filepath.Join(dir, "setup.py"), []byte(fmt.Sprintf(
		"from setuptools import setup\nsetup(name=%q, version=%q, packages=[%q], python_requires='>=3.7', description='entrepot test project')\n",
		name, version, mod)), 0o644)
	mustRun(t, dir, debianPython, "setup.py", "-q", "sdist", "bdist_wheel")
	return filepath.Join(dir, "dist")
}

// session is an organization member's token on a fresh server.
type session struct {
	s     *testkit.Server
	token string
	host  string // 127.0.0.1:port
}

func newSession(t *testing.T, env ...string) session {
	t.Helper()
	s := testkit.Start(t, env...)
	alice := s.OrgMember(t, "acme", "alice", "alice-password-123", "owner")
	tok := s.Token(t, alice, []string{"pypi"}, nil, nil)
	return session{s: s, token: tok, host: s.Host()}
}

// index is the simple index URL with the token in it, as pip takes it.
func (ss session) index() string {
	return "http://__token__:" + ss.token + "@" + ss.host + "/pypi/simple/"
}

func (ss session) get(t *testing.T, path, accept string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", ss.s.URL+path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if ss.token != "" {
		req.SetBasicAuth("__token__", ss.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (ss session) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, out := testkit.Request(t, "POST", ss.s.URL+path, b, "Authorization", testkit.Basic("__token__", ss.token))
	return resp.StatusCode, out
}

type simpleJSON struct {
	Name     string   `json:"name"`
	Versions []string `json:"versions"`
	Files    []struct {
		Filename     string            `json:"filename"`
		URL          string            `json:"url"`
		Hashes       map[string]string `json:"hashes"`
		CoreMetadata map[string]string `json:"core-metadata"`
		Yanked       any               `json:"yanked"`
		Size         int64             `json:"size"`
		UploadTime   string            `json:"upload-time"`
	} `json:"files"`
}

func (ss session) page(t *testing.T, project string) simpleJSON {
	t.Helper()
	resp, b := ss.get(t, "/pypi/simple/"+project+"/", "application/vnd.pypi.simple.v1+json")
	if resp.StatusCode != 200 {
		t.Fatalf("page %s: %d %s", project, resp.StatusCode, b)
	}
	var p simpleJSON
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func filenames(p simpleJSON) string {
	var names []string
	for _, f := range p.Files {
		names = append(names, f.Filename)
	}
	return strings.Join(names, " ")
}

// upload posts one file the way twine does; fields override the form.
func (ss session) upload(t *testing.T, filename string, content []byte, fields map[string]string) (int, string) {
	t.Helper()
	sum := sha256.Sum256(content)
	m5 := md5.Sum(content)
	form := map[string]string{
		":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
		"name": "demo-pkg", "version": "1.0.0", "filetype": "bdist_wheel", "pyversion": "py3",
		"sha256_digest": hex.EncodeToString(sum[:]), "md5_digest": hex.EncodeToString(m5[:]),
	}
	for k, v := range fields {
		form[k] = v
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range form {
		mw.WriteField(k, v)
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{`form-data; name="content"; filename="` + filename + `"`}
	h["Content-Type"] = []string{"application/octet-stream"}
	pw, _ := mw.CreatePart(h)
	pw.Write(content)
	mw.Close()
	resp, b := testkit.Request(t, "POST", ss.s.URL+"/pypi/", body.Bytes(),
		"Content-Type", mw.FormDataContentType(), "Authorization", testkit.Basic("__token__", ss.token))
	return resp.StatusCode, resp.Status + " " + string(b)
}

// wheel builds a minimal wheel whose METADATA names project and version.
func wheel(t *testing.T, project, version string, pad int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	dir := strings.ReplaceAll(project, "-", "_") + "-" + version + ".dist-info/"
	w, _ := zw.Create(dir + "METADATA")
	fmt.Fprintf(w, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nRequires-Python: >=3.7\n\n", project, version)
	w, _ = zw.Create(dir + "WHEEL")
	fmt.Fprintf(w, "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
	if pad > 0 {
		w, _ = zw.CreateHeader(&zip.FileHeader{Name: "pad.bin", Method: zip.Store})
		w.Write(bytes.Repeat([]byte{7}, pad))
	}
	zw.Close()
	return b.Bytes()
}

// TestHosted drives twine and pip against hosted projects: upload of a
// wheel and an sdist, installs into fresh virtualenvs, yanking, core
// metadata, ranged downloads, the JSON API, deletion.
func TestHosted(t *testing.T) {
	t.Parallel()
	requireClients(t)
	ss := newSession(t)
	dist1 := buildProject(t, "demo-pkg", "1.0.0")
	dist2 := buildProject(t, "demo-pkg", "1.1.0")

	for _, d := range []string{dist1, dist2} {
		files, _ := filepath.Glob(filepath.Join(d, "*"))
		args := append([]string{"upload", "--non-interactive", "--disable-progress-bar", "--repository-url", ss.s.URL + "/pypi/", "-u", "__token__", "-p", ss.token}, files...)
		mustRun(t, "", "twine", args...)
	}
	p := ss.page(t, "demo-pkg")
	if len(p.Files) != 4 || strings.Join(p.Versions, ",") != "1.0.0,1.1.0" {
		t.Fatalf("page after upload: %s %v", filenames(p), p.Versions)
	}

	// A second upload of a file is refused, with twine showing why.
	files, _ := filepath.Glob(filepath.Join(dist1, "*.whl"))
	out, err := run(t, "", "twine", "upload", "--non-interactive", "--disable-progress-bar", "--repository-url", ss.s.URL+"/pypi/", "-u", "__token__", "-p", ss.token, files[0])
	if err == nil || !strings.Contains(out, "409") || !strings.Contains(out, "File already exists") {
		t.Fatalf("duplicate upload: %v\n%s", err, out)
	}

	if st, b := ss.post(t, "/pypi/manage/demo-pkg/1.1.0/yank", map[string]string{"reason": "broken build"}); st != 200 {
		t.Fatalf("yank: %d %s", st, b)
	}

	t.Run("pip skips the yanked release", func(t *testing.T) {
		pip, python := venv(t)
		mustRun(t, "", pip, "install", "--no-cache-dir", "--index-url", ss.index(), "demo-pkg")
		if got := mustRun(t, "", python, "-c", "import demo_pkg; print(demo_pkg.VALUE)"); strings.TrimSpace(got) != "1.0.0" {
			t.Fatalf("installed %q, want 1.0.0", got)
		}
	})
	t.Run("pip installs a pinned yanked release", func(t *testing.T) {
		pip, python := venv(t)
		mustRun(t, "", pip, "install", "--no-cache-dir", "--index-url", ss.index(), "demo-pkg==1.1.0")
		if got := mustRun(t, "", python, "-c", "import demo_pkg; print(demo_pkg.VALUE)"); strings.TrimSpace(got) != "1.1.0" {
			t.Fatalf("installed %q, want 1.1.0", got)
		}
	})
	t.Run("pip downloads through the core metadata", func(t *testing.T) {
		// Debian's pip (23.0) reads PEP 658 from HTML pages only, and asks
		// an index for JSON: give it the edge's HTML page as find-links.
		_, html := ss.get(t, "/pypi/simple/demo-pkg/", "text/html")
		dir := t.TempDir()
		page := strings.ReplaceAll(string(html), "http://"+ss.host, "http://__token__:"+ss.token+"@"+ss.host)
		os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644)
		pip, _ := venv(t)
		out := mustRun(t, "", pip, "download", "-v", "--no-cache-dir", "--no-deps", "--no-index", "-d", filepath.Join(dir, "dl"),
			"--find-links", "file://"+filepath.Join(dir, "index.html"), "demo-pkg==1.0.0")
		if !strings.Contains(out, "demo_pkg-1.0.0-py3-none-any.whl.metadata") {
			t.Fatalf("pip did not use the .metadata file:\n%s", out)
		}
	})
	t.Run("core metadata is the wheel's METADATA", func(t *testing.T) {
		whl, _ := os.ReadFile(files[0])
		zr, _ := zip.NewReader(bytes.NewReader(whl), int64(len(whl)))
		var want []byte
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, ".dist-info/METADATA") {
				rc, _ := f.Open()
				want, _ = io.ReadAll(rc)
			}
		}
		resp, got := ss.get(t, "/pypi/files/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl.metadata", "")
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("metadata: %d %q", resp.StatusCode, got)
		}
		sum := sha256.Sum256(got)
		for _, f := range ss.page(t, "demo-pkg").Files {
			if f.Filename == "demo_pkg-1.0.0-py3-none-any.whl" && f.CoreMetadata["sha256"] != hex.EncodeToString(sum[:]) {
				t.Fatalf("advertised %v, served %x", f.CoreMetadata, sum)
			}
			if strings.HasSuffix(f.Filename, ".tar.gz") && f.CoreMetadata != nil {
				t.Fatalf("sdist advertises metadata: %+v", f)
			}
		}
	})
	t.Run("ranged and conditional downloads", func(t *testing.T) {
		whl, _ := os.ReadFile(files[0])
		resp, b := ss.get(t, "/pypi/files/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl", "", "Range", "bytes=-22")
		if resp.StatusCode != 206 || !bytes.Equal(b, whl[len(whl)-22:]) || resp.Header.Get("ETag") == "" {
			t.Fatalf("range: %d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = ss.get(t, "/pypi/files/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl", "", "If-None-Match", resp.Header.Get("ETag"))
		if resp.StatusCode != 304 {
			t.Fatalf("conditional: %d", resp.StatusCode)
		}
	})
	t.Run("pages", func(t *testing.T) {
		resp, _ := ss.get(t, "/pypi/simple/Demo_Pkg/", "")
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "/pypi/simple/demo-pkg/" {
			t.Fatalf("redirect: %d %v", resp.StatusCode, resp.Header)
		}
		resp, b := ss.get(t, "/pypi/simple/demo-pkg/", "text/html")
		if resp.Header.Get("Vary") != "Accept" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(b), `data-yanked="broken build"`) || !strings.Contains(string(b), `data-core-metadata="sha256=`) {
			t.Fatalf("html page: %v\n%s", resp.Header, b)
		}
		resp, b = ss.get(t, "/pypi/simple/", "application/vnd.pypi.simple.v1+json")
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"demo-pkg"`) {
			t.Fatalf("root: %d %s", resp.StatusCode, b)
		}
		anon := ss
		anon.token = ""
		if _, b := anon.get(t, "/pypi/simple/", "application/vnd.pypi.simple.v1+json"); strings.Contains(string(b), "demo-pkg") {
			t.Fatalf("anonymous root lists a private project: %s", b)
		}
		if resp, _ := anon.get(t, "/pypi/simple/demo-pkg/", ""); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("anonymous private page: %d %v", resp.StatusCode, resp.Header)
		}
		_, b = ss.get(t, "/pypi/pypi/demo-pkg/json", "")
		var doc struct {
			Info struct {
				Version, Summary string
			}
			Releases map[string][]struct{ Yanked bool }
		}
		json.Unmarshal(b, &doc)
		if doc.Info.Version != "1.0.0" || len(doc.Releases["1.1.0"]) != 2 || !doc.Releases["1.1.0"][0].Yanked || doc.Info.Summary == "" {
			t.Fatalf("json api: %s", b)
		}
		if resp, b := ss.get(t, "/pypi/pypi/demo-pkg/1.1.0/json", ""); resp.StatusCode != 200 || !strings.Contains(string(b), `"yanked":true`) {
			t.Fatalf("json api release: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("deleted file names are never reused", func(t *testing.T) {
		if resp, b := testkit.Request(t, "DELETE", ss.s.URL+"/pypi/manage/demo-pkg/1.1.0", nil, "Authorization", testkit.Basic("__token__", ss.token)); resp.StatusCode != 200 {
			t.Fatalf("delete: %d %s", resp.StatusCode, b)
		}
		if p := ss.page(t, "demo-pkg"); len(p.Files) != 2 {
			t.Fatalf("after delete: %s", filenames(p))
		}
		whl, _ := filepath.Glob(filepath.Join(dist2, "*.whl"))
		out, err := run(t, "", "twine", "upload", "--non-interactive", "--disable-progress-bar", "--repository-url", ss.s.URL+"/pypi/", "-u", "__token__", "-p", ss.token, whl[0])
		if err == nil || !strings.Contains(out, "File already exists") {
			t.Fatalf("re-upload after delete: %v\n%s", err, out)
		}
	})
}

// TestBadUploads sends malformed uploads: each gets a clear error with
// the right status, and nothing is stored.
func TestBadUploads(t *testing.T) {
	t.Parallel()
	ss := newSession(t, "MAX_UPLOAD_SIZE=1")
	good := wheel(t, "demo-pkg", "1.0.0", 0)
	if st, msg := ss.upload(t, "demo_pkg-1.0.0-py3-none-any.whl", good, nil); st != 200 {
		t.Fatalf("good upload: %s", msg)
	}
	cases := []struct {
		name     string
		filename string
		content  []byte
		fields   map[string]string
		status   int
		says     string
	}{
		{"mismatched digest", "demo_pkg-2.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "2.0.0", 0),
			map[string]string{"version": "2.0.0", "sha256_digest": strings.Repeat("ab", 32), "md5_digest": ""}, 400, "does not match"},
		{"file version differs from the form", "demo_pkg-2.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "2.0.0", 0),
			map[string]string{"version": "2.0.1"}, 400, "does not match the version"},
		{"METADATA version differs", "demo_pkg-2.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "2.0.1", 0),
			map[string]string{"version": "2.0.0"}, 400, "METADATA"},
		{"invalid PEP 440 version", "demo_pkg-2.0.x-py3-none-any.whl", wheel(t, "demo-pkg", "2.0.x", 0),
			map[string]string{"version": "2.0.x"}, 400, "PEP 440"},
		{"file of another project", "other-2.0.0.tar.gz", []byte("x"),
			map[string]string{"version": "2.0.0", "filetype": "sdist"}, 400, "does not"},
		{"duplicate file name", "demo_pkg-1.0.0-py3-none-any.whl", good, nil, 409, "File already exists"},
		{"oversize", "demo_pkg-3.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "3.0.0", 1<<20+1000),
			map[string]string{"version": "3.0.0"}, 413, "limit"},
		{"path in the file name", "../demo_pkg-2.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "2.0.0", 0),
			map[string]string{"version": "2.0.0"}, 400, "invalid file name"},
		{"path in the project name", "demo_pkg-2.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "2.0.0", 0),
			map[string]string{"version": "2.0.0", "name": "../demo-pkg"}, 400, "invalid project name"},
		{"not a wheel", "demo_pkg-2.0.0-py3-none-any.whl", []byte("not a zip"),
			map[string]string{"version": "2.0.0"}, 400, "invalid wheel"},
		{"egg", "demo_pkg-2.0.0-py3.11.egg", []byte("x"),
			map[string]string{"version": "2.0.0"}, 400, "unsupported file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := ss.upload(t, tc.filename, tc.content, tc.fields)
			if st != tc.status || !strings.Contains(msg, tc.says) {
				t.Fatalf("got %d %q, want %d saying %q", st, msg, tc.status, tc.says)
			}
		})
	}
	p := ss.page(t, "demo-pkg")
	if filenames(p) != "demo_pkg-1.0.0-py3-none-any.whl" || len(p.Versions) != 1 {
		t.Fatalf("a bad upload left something: %s %v", filenames(p), p.Versions)
	}
	anon := ss
	anon.token = ""
	if st, msg := anon.upload(t, "demo_pkg-4.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "4.0.0", 0), map[string]string{"version": "4.0.0"}); st != 401 {
		t.Fatalf("anonymous upload: %d %s", st, msg)
	}

	// Another organization's member cannot take the name, nor can a member
	// of two organizations publish without saying which.
	admin := ss.s.AdminToken(t)
	ss.s.CreateOrg(t, admin, "globex")
	bob := ss.s.CreateUser(t, admin, "bob", "bob-password-1234")
	ss.s.AddMember(t, admin, "globex", bob, "owner")
	other := ss
	other.token = ss.s.Token(t, ss.s.Login(t, "bob", "bob-password-1234"), []string{"pypi"}, nil, nil)
	if st, msg := other.upload(t, "demo_pkg-5.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "5.0.0", 0), map[string]string{"version": "5.0.0"}); st != 403 {
		t.Fatalf("upload to another organization's project: %d %s", st, msg)
	}
	ss.s.AddMember(t, admin, "acme", bob, "member")
	if st, msg := other.upload(t, "fresh-1.0.tar.gz", []byte("sdist"), map[string]string{"name": "fresh", "version": "1.0", "filetype": "sdist"}); st != 400 || !strings.Contains(msg, "several organizations") {
		t.Fatalf("ambiguous organization: %d %s", st, msg)
	}
	for _, path := range []string{"/pypi/simple/..%2F..%2Fetc/", "/pypi/files/demo-pkg/..%2Fsecrets.json", "/pypi/files/demo-pkg/.metadata"} {
		if resp, _ := ss.get(t, path, ""); resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
}

// staticIndex writes a PEP 503 tree of the wheels Debian ships (pip,
// setuptools, wheel) under dir/simple, with their core metadata files.
func staticIndex(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	whls, _ := filepath.Glob("/usr/share/python-wheels/*.whl")
	if len(whls) < 3 {
		t.Fatalf("Debian's wheels are missing from /usr/share/python-wheels: %v", whls)
	}
	byProject := map[string][]string{}
	files := map[string][]byte{}
	os.MkdirAll(filepath.Join(dir, "packages"), 0o755)
	for _, w := range whls {
		b, _ := os.ReadFile(w)
		name := filepath.Base(w)
		files[name] = b
		os.WriteFile(filepath.Join(dir, "packages", name), b, 0o644)
		project := strings.ToLower(name[:strings.IndexByte(name, '-')])
		sum := sha256.Sum256(b)
		link := fmt.Sprintf(`<a href="../../packages/%s#sha256=%x" data-requires-python="&gt;=3.7">%s</a><br/>`, name, sum, name)
		if project == "wheel" { // one wheel with PEP 658 metadata upstream
			zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			for _, f := range zr.File {
				if strings.HasSuffix(f.Name, ".dist-info/METADATA") {
					rc, _ := f.Open()
					md, _ := io.ReadAll(rc)
					os.WriteFile(filepath.Join(dir, "packages", name+".metadata"), md, 0o644)
					link = fmt.Sprintf(`<a href="../../packages/%s#sha256=%x" data-dist-info-metadata="sha256=%x">%s</a><br/>`, name, sum, sha256.Sum256(md), name)
				}
			}
		}
		byProject[project] = append(byProject[project], link)
	}
	for project, links := range byProject {
		os.MkdirAll(filepath.Join(dir, "simple", project), 0o755)
		os.WriteFile(filepath.Join(dir, "simple", project, "index.html"),
			[]byte("<!DOCTYPE html><html><body>\n"+strings.Join(links, "\n")+"\n</body></html>\n"), 0o644)
	}
	return files
}

// TestMirror installs through the edge from a real web server serving a
// static index, then again from the cache alone with the upstream gone.
func TestMirror(t *testing.T) {
	t.Parallel()
	requireClients(t)
	dir := t.TempDir()
	files := staticIndex(t, dir)
	up := testkit.StaticServer(t, dir)
	// A short TTL, so that the second install revalidates and, with the
	// upstream down, is served stale.
	s := testkit.Start(t, "UPSTREAM_PYPI="+up.URL+"/simple/", "UPSTREAM_CACHE_EXPIRY=0.0002")
	ss := session{s: s, host: s.Host()}
	index := s.URL + "/pypi/simple/"

	resp, b := ss.get(t, "/pypi/simple/wheel/", "text/html")
	if resp.StatusCode != 200 || strings.Contains(string(b), up.URL) || !strings.Contains(string(b), s.URL+"/pypi/files/wheel/") ||
		!strings.Contains(string(b), "data-core-metadata=") {
		t.Fatalf("rewritten page: %d\n%s", resp.StatusCode, b)
	}
	var wheelName string
	for name := range files {
		if strings.HasPrefix(name, "wheel-") {
			wheelName = name
		}
	}
	if resp, md := ss.get(t, "/pypi/files/wheel/"+wheelName+".metadata", ""); resp.StatusCode != 200 || !bytes.HasPrefix(md, []byte("Metadata-Version")) {
		t.Fatalf("proxied metadata: %d %s", resp.StatusCode, md)
	}

	pip, python := venv(t)
	mustRun(t, "", pip, "install", "--no-cache-dir", "--index-url", index, "wheel")
	mustRun(t, "", python, "-c", "import wheel")
	if up.Hits("GET /packages/"+wheelName) == 0 {
		t.Fatalf("the upstream never served the wheel:\n%s", up.Log())
	}

	up.Stop()
	time.Sleep(time.Second) // past the TTL: the page is now stale
	pip, python = venv(t)
	mustRun(t, "", pip, "install", "--no-cache-dir", "--index-url", index, "wheel")
	mustRun(t, "", python, "-c", "import wheel")
	if resp, _ := ss.get(t, "/pypi/simple/never-seen/", ""); resp.StatusCode != 502 && resp.StatusCode != 404 {
		t.Fatalf("unknown project with the upstream down: %d", resp.StatusCode)
	}
}

// TestMirrorGuards checks the dependency-confusion guard, the fill
// deduplication and digest verification against a counting upstream.
func TestMirrorGuards(t *testing.T) {
	t.Parallel()
	up := testkit.NewUpstream(t)
	ss := newSession(t, "UPSTREAM_PYPI="+up.URL+"/simple/")

	evil := wheel(t, "demo-pkg", "9.9.9", 0)
	up.Handle("/simple/demo-pkg/", []byte(fmt.Sprintf(`<a href="/files/demo_pkg-9.9.9-py3-none-any.whl#sha256=%x">demo_pkg-9.9.9-py3-none-any.whl</a>`, sha256.Sum256(evil))),
		func(r *testkit.Route) { r.ContentType = "text/html" })
	up.Handle("/files/demo_pkg-9.9.9-py3-none-any.whl", evil)
	// The upstream has the name: a first upload would be refused, so a
	// platform admin claims it for acme on purpose first.
	if st, raw := ss.s.API("POST", "/organizations/acme/claims", ss.s.AdminToken(t), map[string]string{"protocol": "pypi", "namespace": "demo-pkg"}, nil); st != http.StatusCreated {
		t.Fatalf("claim demo-pkg: %d %s", st, raw)
	}
	if st, msg := ss.upload(t, "demo_pkg-1.0.0-py3-none-any.whl", wheel(t, "demo-pkg", "1.0.0", 0), nil); st != 200 {
		t.Fatal(msg)
	}

	t.Run("a claimed name never goes upstream", func(t *testing.T) {
		p := ss.page(t, "demo-pkg")
		if strings.Join(p.Versions, ",") != "1.0.0" {
			t.Fatalf("versions %v", p.Versions)
		}
		for _, path := range []string{"/pypi/files/demo-pkg/demo_pkg-9.9.9-py3-none-any.whl", "/pypi/pypi/demo-pkg/9.9.9/json"} {
			if resp, _ := ss.get(t, path, ""); resp.StatusCode != 404 {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
		anon := ss
		anon.token = ""
		anon.get(t, "/pypi/simple/demo-pkg/", "")
		// (TotalHits would count the server's health probes of the base.)
		if n := up.Hits("/simple/demo-pkg/") + up.Hits("/files/demo_pkg-9.9.9-py3-none-any.whl"); n != 0 {
			t.Fatalf("the upstream saw %d requests for the claimed name", n)
		}
	})

	t.Run("one upstream request for 100 concurrent misses", func(t *testing.T) {
		body := wheel(t, "cold", "1.0", 256<<10)
		up.Handle("/simple/cold/", []byte(fmt.Sprintf(`{"meta":{"api-version":"1.1"},"name":"cold","files":[{"filename":"cold-1.0-py3-none-any.whl","url":"../../files/cold-1.0-py3-none-any.whl","hashes":{"sha256":"%x"}}]}`, sha256.Sum256(body))),
			func(r *testkit.Route) { r.ContentType = "application/vnd.pypi.simple.v1+json" })
		up.Handle("/files/cold-1.0-py3-none-any.whl", body, func(r *testkit.Route) { r.Delay = 300 * time.Millisecond })
		for _, e := range testkit.Stampede(100, ss.s.URL+"/pypi/files/cold/cold-1.0-py3-none-any.whl", body) {
			t.Fatal(e)
		}
		if n := up.Hits("/files/cold-1.0-py3-none-any.whl"); n != 1 {
			t.Fatalf("%d upstream requests for the file", n)
		}
		if n := up.Hits("/simple/cold/"); n != 1 {
			t.Fatalf("%d upstream requests for the page", n)
		}
	})

	t.Run("corrupt bytes are refused and not cached", func(t *testing.T) {
		body := wheel(t, "bent", "1.0", 64<<10)
		up.Handle("/simple/bent/", []byte(fmt.Sprintf(`<a href="/files/bent-1.0-py3-none-any.whl#sha256=%x">bent-1.0-py3-none-any.whl</a>`, sha256.Sum256(body))))
		up.Handle("/files/bent-1.0-py3-none-any.whl", body, func(r *testkit.Route) { r.Corrupt = true })
		if resp, _ := ss.get(t, "/pypi/files/bent/bent-1.0-py3-none-any.whl", ""); resp.StatusCode != 502 {
			t.Fatalf("corrupt: %d", resp.StatusCode)
		}
		up.Handle("/files/bent-1.0-py3-none-any.whl", body)
		if resp, b := ss.get(t, "/pypi/files/bent/bent-1.0-py3-none-any.whl", ""); resp.StatusCode != 200 || !bytes.Equal(b, body) {
			t.Fatalf("after repair: %d", resp.StatusCode)
		}
	})

	t.Run("unknown projects", func(t *testing.T) {
		if resp, _ := ss.get(t, "/pypi/simple/nothing-here/", ""); resp.StatusCode != 404 {
			t.Fatalf("unknown: %d", resp.StatusCode)
		}
		ss.get(t, "/pypi/simple/nothing-here/", "")
		if n := up.Hits("/simple/nothing-here/"); n != 1 {
			t.Fatalf("404 not cached: %d hits", n)
		}
	})
}
