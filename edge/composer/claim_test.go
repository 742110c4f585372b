package composer_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// claimServer runs the binary with a fake Packagist-style upstream that
// has acme/lib (and, through its packages.json, announces acme/announced).
// The organizations acme (alice is its owner) and bobco (bob is its owner)
// exist; bob is not a member of acme.
type claimServer struct {
	*testkit.Server
	up                *testkit.Upstream
	admin, alice, bob string // bearer tokens
	aliceKey, bobKey  string // srg_ tokens for uploads
}

const claimPassword = "claim-password-0123"

func newClaimServer(t *testing.T) *claimServer {
	t.Helper()
	up := testkit.NewUpstream(t)
	asJSON := func(r *testkit.Route) { r.ContentType = "application/json" }
	up.Handle("/packages.json", []byte(`{"packages":[],"metadata-url":"/p2/%package%.json","available-package-patterns":["acme/announced*"]}`), asJSON)
	lib := []byte(`{"packages":{"acme/lib":[{"name":"acme/lib","version":"9.9.9","version_normalized":"9.9.9.0","dist":{"type":"zip","url":"` + up.URL + `/lib.zip"}}]},"minified":"composer/2.0"}`)
	up.Handle("/p2/acme/lib.json", lib, asJSON)

	s := testkit.Start(t, "UPSTREAM_COMPOSER="+up.URL+"/")
	c := &claimServer{Server: s, up: up, admin: s.AdminToken(t)}
	s.CreateOrg(t, c.admin, "acme")
	s.CreateOrg(t, c.admin, "bobco")
	aliceID := s.CreateUser(t, c.admin, "alice", claimPassword)
	bobID := s.CreateUser(t, c.admin, "bob", claimPassword)
	s.AddMember(t, c.admin, "acme", aliceID, "owner")
	s.AddMember(t, c.admin, "bobco", bobID, "owner")
	c.alice, c.bob = s.Login(t, "alice", claimPassword), s.Login(t, "bob", claimPassword)
	c.aliceKey = s.Token(t, c.alice, []string{"composer"}, nil, nil)
	c.bobKey = s.Token(t, c.bob, []string{"composer"}, nil, nil)
	return c
}

// publish uploads an archive; it returns the status and the error
// message, if any.
func (c *claimServer) publish(t *testing.T, token, path string, archive []byte) (int, string) {
	t.Helper()
	resp, body := testkit.Request(t, "PUT", c.URL+"/composer/packages/"+path, archive, "Authorization", "Bearer "+token)
	var e struct{ Status, Message string }
	json.Unmarshal(body, &e)
	if resp.StatusCode >= 400 && e.Status != "error" {
		t.Fatalf("%d answered outside Composer's error format: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, e.Message
}

// state is what an organization holds: its claims and repositories, as
// the management API lists them.
func (c *claimServer) state(t *testing.T, org string) (claims, repos int) {
	t.Helper()
	var cl, rp struct{ Items []json.RawMessage }
	if st, raw := c.API("GET", "/organizations/"+org+"/claims", c.admin, nil, &cl); st != 200 {
		t.Fatalf("claims: %d %s", st, raw)
	}
	if st, raw := c.API("GET", "/organizations/"+org+"/repositories", c.admin, nil, &rp); st != 200 {
		t.Fatalf("repositories: %d %s", st, raw)
	}
	return len(cl.Items), len(rp.Items)
}

// claimArchive is a package archive with a composer.json naming name.
func claimArchive(t *testing.T, name string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for path, content := range map[string]string{
		"composer.json": `{"name":"` + name + `","type":"library","license":"MIT"}`,
		"src/A.php":     "<?php\n",
	} {
		w, err := zw.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, content)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestSquattingRefused: a first publish under a vendor whose packages the
// upstream has is refused (409, saying how an administrator claims it),
// and claims and records nothing; once an administrator has claimed the
// vendor on purpose, the publish goes through.
func TestSquattingRefused(t *testing.T) {
	c := newClaimServer(t)
	for _, tc := range []struct{ name, path string }{
		{"package on the upstream", "acme/lib?version=1.0.0"},
		{"name the upstream announces", "acme/announced-tool?version=1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, _, _ := strings.Cut(tc.path, "?")
			st, msg := c.publish(t, c.aliceKey, tc.path, claimArchive(t, name))
			if st != 409 || !strings.Contains(msg, "exists on the upstream registry") || !strings.Contains(msg, "POST /api/v1/organizations/acme/claims") {
				t.Fatalf("%d %q, want 409 telling how to claim acme", st, msg)
			}
			if claims, _ := c.state(t, "acme"); claims != 0 {
				t.Fatalf("a refused publish left %d claim(s)", claims)
			}
			if resp, b := testkit.Request(t, "GET", c.URL+"/composer/p2/"+name+".json", nil, "Authorization", "Bearer "+c.aliceKey); resp.StatusCode != 404 {
				t.Fatalf("a refused publish was recorded: %d %s", resp.StatusCode, b)
			}
		})
	}
	// Another organization's vendor the upstream lacks is free.
	if st, msg := c.publish(t, c.bobKey, "bobco/tool?version=1.0.0", claimArchive(t, "bobco/tool")); st != 201 {
		t.Fatalf("publish of a vendor the upstream lacks: %d %s", st, msg)
	}
	if claims, _ := c.state(t, "bobco"); claims != 1 {
		t.Fatalf("the first publish left %d claims, want 1", claims)
	}
	// The way out the refusal names.
	if st, raw := c.API("POST", "/organizations/acme/claims", c.admin, map[string]string{"protocol": "composer", "namespace": "acme"}, nil); st != 201 {
		t.Fatalf("claim: %d %s", st, raw)
	}
	if st, msg := c.publish(t, c.aliceKey, "acme/lib?version=1.0.0", claimArchive(t, "acme/lib")); st != 201 {
		t.Fatalf("publish after an explicit claim: %d %s", st, msg)
	}
	resp, b := testkit.Request(t, "GET", c.URL+"/composer/p2/acme/lib.json", nil, "Authorization", "Bearer "+c.aliceKey)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"1.0.0"`) || strings.Contains(string(b), "9.9.9") {
		t.Fatalf("acme/lib after the claim: %d %s", resp.StatusCode, b)
	}
}

// TestFailedPublishClaimsNothing: an upload that fails its checks claims
// nothing, even under a vendor the upstream lacks; the next good upload
// claims the vendor.
func TestFailedPublishClaimsNothing(t *testing.T) {
	c := newClaimServer(t)
	good := claimArchive(t, "bobco/tool")
	for _, tc := range []struct {
		name, token, path string
		body              []byte
		says              string
	}{
		{"not a zip", c.bobKey, "bobco/tool?version=1.0.0", []byte("not a zip at all"), "not a zip"},
		{"truncated archive", c.bobKey, "bobco/tool?version=1.0.0", good[:len(good)-30], ""},
		{"name mismatch", c.bobKey, "bobco/tool?version=1.0.0", claimArchive(t, "bobco/other"), "names the package"},
		{"invalid version", c.bobKey, "bobco/tool?version=1.0.0-1", good, "invalid version"},
		{"bad archive under a vendor the upstream has", c.aliceKey, "acme/lib?version=1.0.0", []byte("not a zip at all"), "not a zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := c.publish(t, tc.token, tc.path, tc.body)
			if st != 400 || !strings.Contains(msg, tc.says) {
				t.Fatalf("%d %q, want 400 saying %q", st, msg, tc.says)
			}
			for _, org := range []string{"bobco", "acme"} {
				if claims, repos := c.state(t, org); claims != 0 || repos != 0 {
					t.Fatalf("a failed publish left %s %d claim(s), %d repositories", org, claims, repos)
				}
			}
		})
	}
	if st, msg := c.publish(t, c.bobKey, "bobco/tool?version=1.0.0", good); st != 201 {
		t.Fatalf("good publish: %d %s", st, msg)
	}
	if claims, repos := c.state(t, "bobco"); claims != 1 || repos != 1 {
		t.Fatalf("after a good publish: %d claim(s), %d repositories", claims, repos)
	}
}

// TestNonMemberPublishRefused: someone outside an organization cannot
// publish under its vendor (403), and creates no repository or claim
// there, whether the archive is good or not.
func TestNonMemberPublishRefused(t *testing.T) {
	c := newClaimServer(t)
	for _, tc := range []struct {
		name, path string
		body       []byte
	}{
		{"vendor the upstream lacks", "acme/new?version=1.0.0", claimArchive(t, "acme/new")},
		{"vendor the upstream has", "acme/lib?version=1.0.0", claimArchive(t, "acme/lib")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := c.publish(t, c.bobKey, tc.path, tc.body)
			if st != 403 || !strings.Contains(msg, `not a member of the organization "acme"`) {
				t.Fatalf("%d %q, want 403", st, msg)
			}
			if claims, repos := c.state(t, "acme"); claims != 0 || repos != 0 {
				t.Fatalf("a non-member's publish left %d claim(s), %d repositories", claims, repos)
			}
		})
	}
	// The multipart form takes the same path.
	var form bytes.Buffer
	form.WriteString("--b\r\nContent-Disposition: form-data; name=\"package\"; filename=\"p.zip\"\r\nContent-Type: application/zip\r\n\r\n")
	form.Write(claimArchive(t, "acme/form"))
	form.WriteString("\r\n--b--\r\n")
	req, _ := http.NewRequest("POST", c.URL+"/composer/packages/acme/form?version=1.0.0", &form)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.Header.Set("Authorization", "Bearer "+c.bobKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("multipart publish by a non-member: %d", resp.StatusCode)
	}
	if claims, repos := c.state(t, "acme"); claims != 0 || repos != 0 {
		t.Fatalf("a non-member's publish left %d claim(s), %d repositories", claims, repos)
	}
	// The upstream's acme/lib is untouched by all this.
	if n := c.up.Hits("/p2/acme/lib.json"); n != 0 {
		t.Fatalf("a non-member's publish asked the upstream about acme/lib %d times", n)
	}
}
