package pypi_test

import (
	"archive/zip"
	"bytes"
	"context"
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
	"entrepot/edge/api"
	"entrepot/edge/pypi"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The claim tests drive uploads over HTTP against an in-process edge
// serving PyPI and the management API, mirroring a fake upstream index:
// what a first upload may claim (edge.Registry.ClaimForPublish).

// claimEnv is an edge whose organization "acme" is the platform admin's,
// and "globex" is bob's: bob is a member of globex only.
type claimEnv struct {
	e   *testkit.Edge
	up  *testkit.Upstream
	bob string // bob's srg_ token, without scope restrictions
	// bobInAcme is a token of bob's scoped to acme, where he is no member.
	bobInAcme string
}

func newClaimEnv(t *testing.T) claimEnv {
	t.Helper()
	up := testkit.NewUpstream(t)
	client, err := upstream.New("pypi", up.URL+"/simple/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := testkit.StartEdge(t, testkit.EdgeOptions{}, func(r *edge.Registry, m *edge.Mux) {
		pypi.New(r, client, pypi.Options{}).Mount(m.Group("/pypi"))
		api.New(r, api.Options{Claims: map[string]api.ClaimRule{pypi.Protocol: pypi.NormalizeClaim}}).Mount(m.Group(api.Prefix))
	})
	bob := e.Rival(t, "bob", "globex")
	return claimEnv{e: e, up: up, bob: bob.Token, bobInAcme: bob.IntoAcme}
}

// claimWheel builds a minimal wheel of project at version.
func claimWheel(project, version string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create(strings.ReplaceAll(project, "-", "_") + "-" + version + ".dist-info/METADATA")
	fmt.Fprintf(w, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n", project, version)
	zw.Close()
	return b.Bytes()
}

// upload posts content as project's wheel at version the way twine does,
// announcing digest as its sha256 (nil: the content's own), and returns
// the status and the message PyPI's error format carries ("" on success).
func (c claimEnv) upload(t *testing.T, token, project, version string, content, digest []byte) (int, string) {
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
	filename := strings.ReplaceAll(project, "-", "_") + "-" + version + "-py3-none-any.whl"
	pw, _ := mw.CreateFormFile("content", filename)
	pw.Write(content)
	mw.Close()
	resp, b := c.e.Do(t, "POST", "/pypi/", body.Bytes(), "Content-Type", mw.FormDataContentType(), "Authorization", "Bearer "+token)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	msg := strings.TrimSpace(string(b))
	if reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode))); msg == "" || !strings.HasPrefix(msg, reason) {
		t.Fatalf("%s without PyPI's error format: %q", resp.Status, b)
	}
	return resp.StatusCode, msg
}

// claimed reports the organization holding project, or "".
func (c claimEnv) claimed(t *testing.T, project string) string {
	t.Helper()
	cl, err := c.e.Registry.Catalog.ClaimOf(context.Background(), pypi.Protocol, project)
	if fault.Is(err, fault.NotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return cl.OrgID
}

// nothingRecorded fails the test when project has a hosted package.
func (c claimEnv) nothingRecorded(t *testing.T, project string) {
	t.Helper()
	if _, err := c.e.Registry.Catalog.Package(context.Background(), pypi.Protocol, project); !fault.Is(err, fault.NotFound) {
		t.Fatalf("%s was recorded: %v", project, err)
	}
}

// serveUpstream has the fake upstream index list file for project.
func serveUpstream(up *testkit.Upstream, project, file string) {
	up.Handle("/simple/"+project+"/", []byte(fmt.Sprintf(`<a href="/files/%s#sha256=%s">%s</a>`, file, strings.Repeat("0", 64), file)),
		func(r *testkit.Route) { r.ContentType = "text/html" })
}

// resolvesUpstream fails the test unless an anonymous GET of project's
// page answers the upstream's file.
func (c claimEnv) resolvesUpstream(t *testing.T, project, file string) {
	t.Helper()
	resp, body := c.e.Do(t, "GET", "/pypi/simple/"+project+"/", nil, "Accept", "application/vnd.pypi.simple.v1+json")
	var page struct{ Files []struct{ Filename string } }
	json.Unmarshal(body, &page)
	if resp.StatusCode != http.StatusOK || len(page.Files) != 1 || page.Files[0].Filename != file {
		t.Fatalf("%s does not resolve upstream: %d %s", project, resp.StatusCode, body)
	}
}

func TestClaimSquattingRefused(t *testing.T) {
	t.Parallel()
	c := newClaimEnv(t)
	serveUpstream(c.up, "requests", "requests-2.0.0.tar.gz")
	c.up.Set("/simple/flaky-name/", testkit.Route{Status: http.StatusInternalServerError})
	tests := []struct {
		project string
		status  int
		says    []string
	}{
		{"requests", http.StatusConflict, []string{"requests exists on the upstream registry", "POST /api/v1/organizations/globex/claims"}},
		{"flaky-name", http.StatusServiceUnavailable, []string{"cannot tell whether flaky-name exists on the upstream registry"}},
	}
	for _, tc := range tests {
		t.Run(tc.project, func(t *testing.T) {
			st, msg := c.upload(t, c.bob, tc.project, "99.0.0", claimWheel(tc.project, "99.0.0"), nil)
			if st != tc.status {
				t.Fatalf("upload of a name the upstream has: %d %q, want %d", st, msg, tc.status)
			}
			for _, s := range tc.says {
				if !strings.Contains(msg, s) {
					t.Fatalf("the refusal does not say %q: %q", s, msg)
				}
			}
			if org := c.claimed(t, tc.project); org != "" {
				t.Fatalf("%s was claimed by %s", tc.project, org)
			}
			c.nothingRecorded(t, tc.project)
		})
	}
	c.resolvesUpstream(t, "requests", "requests-2.0.0.tar.gz")

	// A platform admin claims it for globex on purpose, as the refusal
	// says: then bob's upload goes through, and the name is hosted.
	admin, err := c.e.Auth.Login(context.Background(), "admin", testkit.AdminPassword, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if resp, raw := c.e.Do(t, "POST", "/api/v1/organizations/globex/claims", []byte(`{"protocol":"pypi","namespace":"Requests"}`),
		"Authorization", "Bearer "+admin.AccessToken, "Content-Type", "application/json"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin claim: %d %s", resp.StatusCode, raw)
	}
	hits := c.up.Hits("/simple/requests/")
	if st, msg := c.upload(t, c.bob, "requests", "99.0.0", claimWheel("requests", "99.0.0"), nil); st != http.StatusOK {
		t.Fatalf("upload after the admin's claim: %d %s", st, msg)
	}
	resp, body := c.e.Do(t, "GET", "/pypi/simple/requests/", nil, "Accept", "application/vnd.pypi.simple.v1+json", "Authorization", "Bearer "+c.bob)
	var page struct{ Files []struct{ Filename string } }
	json.Unmarshal(body, &page)
	if resp.StatusCode != http.StatusOK || len(page.Files) != 1 || page.Files[0].Filename != "requests-99.0.0-py3-none-any.whl" {
		t.Fatalf("the claimed name: %d %s", resp.StatusCode, body)
	}
	if n := c.up.Hits("/simple/requests/"); n != hits {
		t.Fatalf("the upstream saw %d requests for the claimed name", n-hits)
	}
}

func TestClaimFailedPublishClaimsNothing(t *testing.T) {
	t.Parallel()
	c := newClaimEnv(t)
	tests := []struct {
		project string
		content func(project string) (content, digest []byte)
	}{
		{"bad-digest", func(p string) ([]byte, []byte) { return claimWheel(p, "1.0.0"), []byte("other bytes") }},
		{"bad-archive", func(p string) ([]byte, []byte) { return []byte("this is not a zip archive"), nil }},
		{"other-version", func(p string) ([]byte, []byte) { return claimWheel(p, "2.0.0"), nil }},
	}
	for _, tc := range tests {
		t.Run(tc.project, func(t *testing.T) {
			content, digest := tc.content(tc.project)
			if st, msg := c.upload(t, c.bob, tc.project, "1.0.0", content, digest); st != http.StatusBadRequest {
				t.Fatalf("%d %q, want 400", st, msg)
			}
			if org := c.claimed(t, tc.project); org != "" {
				t.Fatalf("a failed upload claimed %s for %s", tc.project, org)
			}
			c.nothingRecorded(t, tc.project)
			// The upstream gains the name afterwards: it resolves there.
			file := strings.ReplaceAll(tc.project, "-", "_") + "-3.0.0.tar.gz"
			serveUpstream(c.up, tc.project, file)
			c.resolvesUpstream(t, tc.project, file)
		})
	}
}

func TestClaimNonMemberRefused(t *testing.T) {
	t.Parallel()
	c := newClaimEnv(t)
	st, msg := c.upload(t, c.bobInAcme, "acme-intruder", "1.0.0", claimWheel("acme-intruder", "1.0.0"), nil)
	if st != http.StatusForbidden || !strings.Contains(msg, `not a member of the organization "acme"`) {
		t.Fatalf("non-member upload: %d %q", st, msg)
	}
	if org := c.claimed(t, "acme-intruder"); org != "" {
		t.Fatalf("acme-intruder was claimed by %s", org)
	}
	c.nothingRecorded(t, "acme-intruder")
	if _, err := c.e.Auth.RepoByName(context.Background(), c.e.OrgID, pypi.Protocol, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a repository was created in acme: %v", err)
	}
}
