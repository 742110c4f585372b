package pypi_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/edge/pypi"
	"entrepot/upstream"
)

// The claim tests: what a first upload may claim, by the shared suite
// (edge/claimtest).

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

// claims is PyPI's adapter to the claim suite.
var claims = claimtest.Protocol{
	Name: pypi.Protocol,
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream) {
		client, err := upstream.New("pypi", up.URL+"/simple/", upstream.Options{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		pypi.New(r, client, pypi.Options{}).Mount(m.Group("/pypi"))
	},
	Claim: pypi.NormalizeClaim,
	Publish: func(t *testing.T, e *claimtest.Env, token, project, version string) (int, string) {
		return upload(t, e, token, project, version, claimWheel(project, version), nil)
	},
	Published: http.StatusOK,
	Bad: []claimtest.Bad{
		{Case: "bad-digest", Publish: func(t *testing.T, e *claimtest.Env, token, p string) (int, string) {
			return upload(t, e, token, p, "1.0.0", claimWheel(p, "1.0.0"), []byte("other bytes"))
		}},
		{Case: "bad-archive", Publish: func(t *testing.T, e *claimtest.Env, token, p string) (int, string) {
			return upload(t, e, token, p, "1.0.0", []byte("this is not a zip archive"), nil)
		}},
		{Case: "other-version", Publish: func(t *testing.T, e *claimtest.Env, token, p string) (int, string) {
			return upload(t, e, token, p, "1.0.0", claimWheel(p, "2.0.0"), nil)
		}},
	},
	Serve:     serveUpstream,
	Lookup:    func(project string) string { return "/simple/" + project + "/" },
	Versions:  versions,
	Free:      "rival-tool",
	Taken:     "requests",
	ClaimAs:   "Requests",
	Spellings: [][2]string{{"Requests_Toolbelt", "requests-toolbelt"}, {"zope.interface", "zope-interface"}},
}

// claimWheel builds a minimal wheel of project at version.
func claimWheel(project, version string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create(wheelName(project) + "-" + version + ".dist-info/METADATA")
	fmt.Fprintf(w, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n", project, version)
	zw.Close()
	return b.Bytes()
}

// wheelName is project as wheel file names spell it.
func wheelName(project string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(project)
}

// upload posts content as project's wheel at version the way twine does,
// announcing digest as its sha256 (nil: the content's own), and returns
// the status and the message PyPI's error format carries ("" on success).
func upload(t *testing.T, e *claimtest.Env, token, project, version string, content, digest []byte) (int, string) {
	t.Helper()
	if digest == nil {
		digest = content
	}
	sum := sha256.Sum256(digest)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{
		{":action", "file_upload"}, {"protocol_version", "1"}, {"metadata_version", "2.1"},
		{"name", project}, {"version", version}, {"filetype", "bdist_wheel"}, {"pyversion", "py3"},
		{"sha256_digest", hex.EncodeToString(sum[:])},
	} {
		mw.WriteField(kv[0], kv[1])
	}
	pw, _ := mw.CreateFormFile("content", wheelName(project)+"-"+version+"-py3-none-any.whl")
	pw.Write(content)
	mw.Close()
	resp, b := e.Do(t, "POST", "/pypi/", body.Bytes(), "Content-Type", mw.FormDataContentType(), "Authorization", "Bearer "+token)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	msg := strings.TrimSpace(string(b))
	if reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode))); msg == "" || !strings.HasPrefix(msg, reason) {
		t.Fatalf("%s without PyPI's error format: %q", resp.Status, b)
	}
	return resp.StatusCode, msg
}

// serveUpstream has the fake upstream index list one sdist of project at
// version.
func serveUpstream(up *testkit.Upstream, project, version string) {
	file := wheelName(project) + "-" + version + ".tar.gz"
	up.Handle("/simple/"+project+"/", []byte(fmt.Sprintf(`<a href="/files/%s#sha256=%s">%s</a>`, file, strings.Repeat("0", 64), file)),
		func(r *testkit.Route) { r.ContentType = "text/html" })
}

// versions GETs project's page as token ("": anonymously) and returns the
// version of each file it lists.
func versions(t *testing.T, e *claimtest.Env, token, project string) (int, []string) {
	t.Helper()
	header := []string{"Accept", "application/vnd.pypi.simple.v1+json"}
	if token != "" {
		header = append(header, "Authorization", "Bearer "+token)
	}
	resp, body := e.Do(t, "GET", "/pypi/simple/"+project+"/", nil, header...)
	var page struct{ Files []struct{ Filename string } }
	json.Unmarshal(body, &page)
	var vs []string
	for _, f := range page.Files {
		// name-version.tar.gz or name-version-py3-none-any.whl
		rest := strings.TrimPrefix(f.Filename, wheelName(project)+"-")
		v, _, _ := strings.Cut(strings.TrimSuffix(rest, ".tar.gz"), "-")
		vs = append(vs, v)
	}
	return resp.StatusCode, vs
}
