package edge_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// TestPublishRefusedBeforeReading: a 200 MiB npm publish from a user who
// belongs to no organization is refused before its body is read into
// memory: the server's resident memory, and its peak, grow by less than
// 16 MiB.
func TestPublishRefusedBeforeReading(t *testing.T) {
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=512")
	admin := s.AdminToken(t)
	s.CreateUser(t, admin, "nobody", "nobody-password-123456")
	token := s.Token(t, s.Login(t, "nobody", "nobody-password-123456"), nil, nil, nil)

	const size = 200 << 20
	publish := func(n int64) int {
		prefix := `{"_id":"big-pkg","name":"big-pkg","versions":{},"_attachments":{"big-pkg-1.0.0.tgz":{"data":"`
		suffix := `"}}}`
		body := io.MultiReader(strings.NewReader(prefix), io.LimitReader(repeat('A'), n-int64(len(prefix)+len(suffix))), strings.NewReader(suffix))
		req, err := http.NewRequest("PUT", s.URL+"/npm/big-pkg", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = n
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0 // the server may close the connection on a refused body
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// One small refusal first, so that the code it runs is paged in.
	if st := publish(64 << 10); st < 400 {
		t.Fatalf("small publish by a user without an organization: %d, want a refusal", st)
	}
	before := s.Memory(t)
	if st := publish(size); st < 400 && st != 0 {
		t.Fatalf("200 MiB publish by a user without an organization: %d, want a refusal", st)
	}
	after := s.Memory(t)
	t.Logf("RSS %d → %d KiB, peak %d → %d KiB", before.RSS>>10, after.RSS>>10, before.Peak>>10, after.Peak>>10)
	if grew := after.Peak - before.Peak; grew > 16<<20 {
		t.Fatalf("a refused 200 MiB publish raised the peak RSS by %d MiB", grew>>20)
	}
	if grew := after.RSS - before.RSS; grew > 16<<20 {
		t.Fatalf("a refused 200 MiB publish raised the RSS by %d MiB", grew>>20)
	}
}

// TestPublishStreams: an accepted 48 MiB npm publish is streamed to a
// spool file, not held in memory: the server's peak RSS grows by less
// than 16 MiB, and the tarball is served back whole.
func TestPublishStreams(t *testing.T) {
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=512")
	token := s.Token(t, s.OrgMember(t, "acme", "alice", "alice-password-123456", "owner"), nil, nil, nil)
	payload := make([]byte, 48<<20)
	rand.Read(payload) // incompressible: the tarball is as large as its content
	tgz := tarGz(t, [][2]string{{"package/package.json", `{"name":"@acme/big","version":"1.0.0"}`}, {"package/blob.bin", string(payload)}}, nil)
	s1, s512 := sha1.Sum(tgz), sha512.Sum512(tgz)
	doc, _ := json.Marshal(map[string]any{
		"_id": "@acme/big", "name": "@acme/big", "dist-tags": map[string]string{"latest": "1.0.0"},
		"versions": map[string]any{"1.0.0": map[string]any{"name": "@acme/big", "version": "1.0.0",
			"dist": map[string]string{"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), "shasum": hex.EncodeToString(s1[:])}}},
		"_attachments": map[string]any{"@acme/big-1.0.0.tgz": map[string]any{"content_type": "application/octet-stream", "data": tgz, "length": len(tgz)}},
	})
	// A small publish first, so that the code it runs is paged in.
	small := tarGz(t, [][2]string{{"package/package.json", `{"name":"@acme/small","version":"1.0.0"}`}}, nil)
	ss1 := sha1.Sum(small)
	smallDoc, _ := json.Marshal(map[string]any{"name": "@acme/small",
		"versions":     map[string]any{"1.0.0": map[string]any{"name": "@acme/small", "version": "1.0.0", "dist": map[string]string{"shasum": hex.EncodeToString(ss1[:])}}},
		"_attachments": map[string]any{"@acme/small-1.0.0.tgz": map[string]any{"data": small}},
	})
	header := []string{"Content-Type", "application/json", "Authorization", "Bearer " + token}
	if resp, b := testkit.Request(t, "PUT", s.URL+"/npm/@acme%2fsmall", smallDoc, header...); resp.StatusCode != http.StatusOK {
		t.Fatalf("small publish: %d %s", resp.StatusCode, b)
	}
	before := s.Memory(t)
	if resp, b := testkit.Request(t, "PUT", s.URL+"/npm/@acme%2fbig", doc, header...); resp.StatusCode != http.StatusOK {
		t.Fatalf("48 MiB publish: %d %s", resp.StatusCode, b)
	}
	after := s.Memory(t)
	t.Logf("a %d MiB publish: RSS %d → %d KiB, peak %d → %d KiB", len(doc)>>20, before.RSS>>10, after.RSS>>10, before.Peak>>10, after.Peak>>10)
	if grew := after.Peak - before.Peak; grew > 16<<20 {
		t.Fatalf("an accepted %d MiB publish raised the peak RSS by %d MiB", len(doc)>>20, grew>>20)
	}
	resp, b := testkit.Request(t, "GET", s.URL+"/npm/@acme/big/-/big-1.0.0.tgz", nil, "Authorization", "Bearer "+token)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, tgz) {
		t.Fatalf("tarball: %d, %d bytes of %d", resp.StatusCode, len(b), len(tgz))
	}
}

type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// hostile is one entry a refused archive carries.
type hostile struct {
	h    *tar.Header // in tar archives
	zipH *zip.FileHeader
	body []byte
	kind string // what the test calls it
}

func hostiles(dir string) []hostile {
	link := &zip.FileHeader{Name: dir + "link", Method: zip.Deflate}
	link.SetMode(fs.ModeSymlink | 0o777)
	dotdot := &zip.FileHeader{Name: dir + "../../evil", Method: zip.Deflate}
	bomb := &zip.FileHeader{Name: dir + "zeros", Method: zip.Deflate}
	zeros := make([]byte, 10<<20)
	return []hostile{
		{kind: "dotdot", h: &tar.Header{Name: dir + "../../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, zipH: dotdot, body: []byte("x")},
		{kind: "symlink", h: &tar.Header{Name: dir + "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}, zipH: link, body: []byte("/etc/passwd")},
		{kind: "bomb", h: &tar.Header{Name: dir + "zeros", Typeflag: tar.TypeReg, Size: int64(len(zeros)), Mode: 0o644}, zipH: bomb, body: zeros},
	}
}

// tarGz builds a gzipped tar of the regular files and the extra entry.
func tarGz(t testing.TB, files [][2]string, extra *hostile) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeReg, Size: int64(len(f[1])), Mode: 0o644})
		tw.Write([]byte(f[1]))
	}
	if extra != nil {
		if err := tw.WriteHeader(extra.h); err != nil {
			t.Fatal(err)
		}
		if extra.h.Typeflag == tar.TypeReg {
			tw.Write(extra.body)
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func zipOf(t testing.TB, files [][2]string, extra *hostile) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, _ := zw.Create(f[0])
		w.Write([]byte(f[1]))
	}
	if extra != nil {
		w, err := zw.CreateHeader(extra.zipH)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(extra.body)
	}
	zw.Close()
	return buf.Bytes()
}

// publisher sends one publish of a protocol, with extra (nil: none) in
// its archive, and returns the status.
type publisher struct {
	name string
	send func(t *testing.T, extra *hostile) int
}

// TestRefusedPublishStoresNothing: in every protocol, a publish whose
// archive holds an entry outside its folder, a symbolic link or a
// 10 KiB gzip bomb is refused and leaves no blob and no spooled file;
// the same publish without that entry succeeds, so that the refusal is
// the entry's.
func TestRefusedPublishStoresNothing(t *testing.T) {
	s := testkit.Start(t, "MAX_UPLOAD_SIZE=16")
	token := s.Token(t, s.OrgMember(t, "acme", "alice", "alice-password-123456", "owner"), nil, nil, nil)
	do := func(t *testing.T, method, path string, body []byte, header ...string) int {
		t.Helper()
		resp, b := testkit.Request(t, method, s.URL+path, body, header...)
		if resp.StatusCode >= 300 {
			t.Logf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
		}
		return resp.StatusCode
	}
	publishers := []publisher{
		{"npm", func(t *testing.T, extra *hostile) int {
			tgz := tarGz(t, [][2]string{{"package/package.json", `{"name":"@acme/demo","version":"1.0.0"}`}}, extra)
			s1, s512 := sha1.Sum(tgz), sha512.Sum512(tgz)
			doc, _ := json.Marshal(map[string]any{
				"_id": "@acme/demo", "name": "@acme/demo", "dist-tags": map[string]string{"latest": "1.0.0"},
				"versions": map[string]any{"1.0.0": map[string]any{"name": "@acme/demo", "version": "1.0.0",
					"dist": map[string]string{"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]), "shasum": hex.EncodeToString(s1[:])}}},
				"_attachments": map[string]any{"@acme/demo-1.0.0.tgz": map[string]any{"content_type": "application/octet-stream", "data": tgz, "length": len(tgz)}},
			})
			return do(t, "PUT", "/npm/@acme%2fdemo", doc, "Content-Type", "application/json", "Authorization", "Bearer "+token)
		}},
		{"pypi wheel", func(t *testing.T, extra *hostile) int {
			whl := zipOf(t, [][2]string{{"demo_pkg-1.0.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n"}}, extra)
			return pypiUpload(t, do, token, "demo_pkg-1.0.0-py3-none-any.whl", "bdist_wheel", whl)
		}},
		{"pypi sdist", func(t *testing.T, extra *hostile) int {
			sd := tarGz(t, [][2]string{{"demo-pkg-1.0.0/PKG-INFO", "Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0.0\n"}}, extra)
			return pypiUpload(t, do, token, "demo-pkg-1.0.0.tar.gz", "sdist", sd)
		}},
		{"cargo", func(t *testing.T, extra *hostile) int {
			crate := tarGz(t, [][2]string{{"demo-1.0.0/Cargo.toml", "[package]\nname = \"demo\"\nversion = \"1.0.0\"\n"}}, extra)
			meta := `{"name":"demo","vers":"1.0.0","deps":[],"features":{},"authors":[],"description":null,"links":null}`
			var b bytes.Buffer
			binary.Write(&b, binary.LittleEndian, uint32(len(meta)))
			b.WriteString(meta)
			binary.Write(&b, binary.LittleEndian, uint32(len(crate)))
			b.Write(crate)
			return do(t, "PUT", "/cargo/api/v1/crates/new", b.Bytes(), "Authorization", token)
		}},
		{"rubygems", func(t *testing.T, extra *hostile) int {
			return do(t, "POST", "/rubygems/api/v1/gems", gemWith(t, extra), "Authorization", token, "Content-Type", "application/octet-stream")
		}},
		{"composer", func(t *testing.T, extra *hostile) int {
			z := zipOf(t, [][2]string{{"composer.json", `{"name":"acme/lib","description":"demo"}`}}, extra)
			return do(t, "PUT", "/composer/packages/acme/lib?version=1.0.0", z, "Authorization", "Bearer "+token, "Content-Type", "application/zip")
		}},
	}
	blobs := filepath.Join(s.DataDir, "blobs")
	spool := filepath.Join(s.DataDir, "spool")
	for _, p := range publishers {
		t.Run(p.name, func(t *testing.T) {
			dir := map[string]string{"npm": "package/", "pypi wheel": "demo_pkg/", "pypi sdist": "demo-pkg-1.0.0/", "cargo": "demo-1.0.0/", "rubygems": "lib/", "composer": "src/"}[p.name]
			for _, h := range hostiles(dir) {
				n := testkit.CountFiles(blobs)
				st := p.send(t, &h)
				if st < 400 || st >= 500 {
					t.Fatalf("%s: status %d, want a refusal", h.kind, st)
				}
				if h.kind == "bomb" && st != http.StatusRequestEntityTooLarge {
					t.Errorf("bomb: status %d, want 413", st)
				}
				if got := testkit.CountFiles(blobs); got != n {
					t.Fatalf("%s: a refused publish left %d blob files", h.kind, got-n)
				}
				if got := testkit.CountFiles(spool); got != 0 {
					t.Fatalf("%s: a refused publish left %d spooled files", h.kind, got)
				}
			}
			n := testkit.CountFiles(blobs)
			if st := p.send(t, nil); st >= 300 {
				t.Fatalf("the same publish without the hostile entry: %d", st)
			}
			if testkit.CountFiles(blobs) <= n {
				t.Fatal("an accepted publish stored no blob")
			}
		})
	}

	// A deploy refused because the namespace belongs to another
	// organization is refused before its body is read: no blob either.
	outsider := s.Token(t, s.OrgMember(t, "globex", "olga", "olga-password-123456", "owner"), nil, nil, nil)
	if st := do(t, "PUT", "/maven2/com/acme/lib/1.0/lib-1.0.jar", []byte("first jar"), "Authorization", "Bearer "+token); st >= 300 {
		t.Fatalf("first deploy: %d", st)
	}
	for _, c := range []struct{ name, method, path, token string }{
		{"maven", "PUT", "/maven2/com/acme/lib/1.1/lib-1.1.jar", outsider},
		{"npm", "PUT", "/npm/@acme%2fdemo", outsider},
		{"composer", "PUT", "/composer/packages/acme/lib?version=2.0.0", outsider},
	} {
		n := testkit.CountFiles(blobs)
		if st := do(t, c.method, c.path, bytes.Repeat([]byte("x"), 64<<10), "Authorization", "Bearer "+c.token); st < 400 {
			t.Fatalf("%s: an outsider's publish answered %d", c.name, st)
		}
		if got := testkit.CountFiles(blobs); got != n {
			t.Fatalf("%s: an outsider's refused publish left %d blob files", c.name, got-n)
		}
	}
}

func pypiUpload(t *testing.T, do func(*testing.T, string, string, []byte, ...string) int, token, filename, filetype string, content []byte) int {
	sum := sha256.Sum256(content)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{
		{":action", "file_upload"}, {"protocol_version", "1"}, {"metadata_version", "2.1"},
		{"name", "demo-pkg"}, {"version", "1.0.0"}, {"filetype", filetype}, {"pyversion", "py3"},
		{"sha256_digest", hex.EncodeToString(sum[:])},
	} {
		mw.WriteField(kv[0], kv[1])
	}
	pw, _ := mw.CreateFormFile("content", filename)
	pw.Write(content)
	mw.Close()
	return do(t, "POST", "/pypi/", body.Bytes(), "Content-Type", mw.FormDataContentType(), "Authorization", testkit.Basic("__token__", token))
}

// gemWith is rubygems' test gem (alpha 1.0.0) with extra in its
// data.tar.gz, and no checksums.yaml.gz.
func gemWith(t *testing.T, extra *hostile) []byte {
	src, err := os.ReadFile("rubygems/testdata/alpha-1.0.0.gem")
	if err != nil {
		t.Fatal(err)
	}
	data := tarGz(t, [][2]string{{"lib/alpha.rb", "module Alpha; end\n"}}, extra)
	return testkit.EditTar(t, src, func(name string, b []byte) ([]byte, bool) {
		if name == "data.tar.gz" {
			b = data
		}
		return b, name != "checksums.yaml.gz"
	})
}

// TestUpload: a spooled upload is hashed, verified against what the
// publish promised, read back from its start, and gone after Close.
func TestUpload(t *testing.T) {
	r := &edge.Registry{SpoolDir: t.TempDir()}
	body := []byte("the bytes of a package")
	up, err := r.Spool("npm", bytes.NewReader(body), blob.SHA1, blob.SHA512, "unknown")
	if err != nil {
		t.Fatal(err)
	}
	if n := testkit.CountFiles(filepath.Join(r.SpoolDir, "npm")); n != 1 {
		t.Fatalf("%d spooled files", n)
	}
	s1, s256 := sha1.Sum(body), sha256.Sum256(body)
	good := []blob.Digest{blob.NewDigest(blob.SHA1, s1[:]), blob.NewDigest(blob.SHA256, s256[:])}
	if err := up.Verify("mismatch", good...); err != nil {
		t.Fatal(err)
	}
	if err := up.Verify("mismatch", blob.NewDigest(blob.SHA1, make([]byte, 20))); !fault.Is(err, fault.Invalid) {
		t.Fatalf("a wrong sha1 verified: %v", err)
	}
	if err := up.Verify("mismatch", blob.NewDigest(blob.MD5, make([]byte, 16))); !fault.Is(err, fault.Invalid) {
		t.Fatalf("a digest of an algorithm not hashed verified: %v", err)
	}
	if h := up.Hashes(); len(h) != 3 || h[blob.SHA256] != hex.EncodeToString(s256[:]) {
		t.Fatalf("hashes %v", h)
	}
	for range 2 {
		if b, _ := io.ReadAll(up.Reader()); !bytes.Equal(b, body) || up.Size() != int64(len(body)) {
			t.Fatalf("read back %q", b)
		}
	}
	up.Close()
	up.Close()
	if n := testkit.CountFiles(filepath.Join(r.SpoolDir, "npm")); n != 0 {
		t.Fatalf("%d spooled files after Close", n)
	}
	// A body cut short or over its limit leaves nothing.
	if _, err := r.Spool("npm", io.MultiReader(bytes.NewReader(body), errReader{})); !fault.Is(err, fault.Invalid) {
		t.Fatalf("cut body: %v", err)
	}
	if n := testkit.CountFiles(filepath.Join(r.SpoolDir, "npm")); n != 0 {
		t.Fatalf("%d spooled files after a failed spool", n)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
