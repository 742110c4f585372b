package oci_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"entrepot/auth"
	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/edge/oci"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// claimEdge is an in-process edge with the OCI handler, a mirror under
// the prefix "hub" (a fake upstream registry), and three users besides the
// bootstrap admin (who owns "acme"): owen owns "acme" too, bob owns
// "bobco" and "hub" (an organization named like the mirror prefix), and
// mia is a plain member of "acme".
type claimEdge struct {
	*testkit.Edge
	up *testkit.Upstream
}

const claimPassword = "claim-password-0123"

func newClaimEdge(t *testing.T) *claimEdge {
	t.Helper()
	up := testkit.NewUpstream(t)
	c, err := upstream.New("oci/hub", up.URL+"/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	e := testkit.StartEdge(t, testkit.EdgeOptions{}, func(r *edge.Registry, m *edge.Mux) {
		h := oci.New(r, map[string]*upstream.Client{"hub": c}, oci.Options{})
		h.Mount(m.Group(""))
		t.Cleanup(h.Close)
	})
	ctx := context.Background()
	user := func(name string) auth.User {
		u, err := e.Auth.CreateUser(ctx, auth.NewUser{Email: name + "@example.test", Username: name, Password: claimPassword})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	owen, bob, mia := user("owen"), user("bob"), user("mia")
	for _, org := range []string{"bobco", "hub"} {
		if _, err := e.Auth.CreateOrg(ctx, auth.Org{Name: org}, bob.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Auth.SetOrgMember(ctx, e.OrgID, owen.ID, auth.OrgOwner); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.SetOrgMember(ctx, e.OrgID, mia.ID, auth.OrgMember); err != nil {
		t.Fatal(err)
	}
	return &claimEdge{Edge: e, up: up}
}

// as sends a request with user's Basic credentials.
func (e *claimEdge) as(t *testing.T, user, method, path string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, claimPassword)
	return e.Do(t, method, path, body, append([]string{"Authorization", req.Header.Get("Authorization")}, header...)...)
}

// claimed reports whether anything claims the OCI namespace ns, and
// whether its organization has an OCI repository.
func (e *claimEdge) claimed(t *testing.T, org, ns string) (claim, repo bool) {
	t.Helper()
	ctx := context.Background()
	_, err := e.Registry.Catalog.ClaimOf(ctx, "oci", ns)
	if err != nil && !fault.Is(err, fault.NotFound) {
		t.Fatal(err)
	}
	o, gerr := e.Auth.GetOrg(ctx, org)
	if gerr != nil {
		t.Fatal(gerr)
	}
	_, rerr := e.Auth.RepoByName(ctx, o.ID, "oci", edge.DefaultRepo)
	if rerr != nil && !fault.Is(rerr, fault.NotFound) {
		t.Fatal(rerr)
	}
	return err == nil, rerr == nil
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func errCode(b []byte) string {
	var doc struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.Unmarshal(b, &doc)
	if len(doc.Errors) == 0 {
		return ""
	}
	return doc.Errors[0].Code
}

// grants asks /v2/token for scope as user and returns the actions granted.
func (e *claimEdge) grants(t *testing.T, user, scope string) string {
	t.Helper()
	resp, body := e.as(t, user, "GET", "/v2/token?service=x&scope="+scope, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("token: %d %s", resp.StatusCode, body)
	}
	var out struct{ Token string }
	json.Unmarshal(body, &out)
	_, access, err := e.Auth.VerifyRegistryToken(context.Background(), out.Token, e.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range access {
		got = append(got, a.Actions...)
	}
	return strings.Join(got, ",")
}

// TestPushToMirrorPrefixClaimsNothing: an organization named like a
// mirror prefix cannot take the mirror's names by pushing: the push is
// refused, nothing is claimed, and the name still resolves upstream.
func TestPushToMirrorPrefixClaimsNothing(t *testing.T) {
	e := newClaimEdge(t)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digestOf([]byte("{}")) + `","size":2},"layers":[]}`)
	e.up.Handle("/v2/team/app/manifests/1.0", manifest, func(r *testkit.Route) { r.ContentType = "application/vnd.oci.image.manifest.v1+json" })

	layer := []byte("squatted layer")
	for _, c := range []struct{ name, method, path string }{
		{"monolithic blob", "POST", "/v2/hub/team/app/blobs/uploads/?digest=" + digestOf(layer)},
		{"upload session", "POST", "/v2/hub/team/app/blobs/uploads/"},
		{"manifest", "PUT", "/v2/hub/team/app/manifests/1.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := layer
			if c.method == "PUT" {
				body = manifest
			}
			resp, b := e.as(t, "bob", c.method, c.path, body, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
			if resp.StatusCode != 403 || errCode(b) != "DENIED" || !strings.Contains(string(b), "read-only mirror") {
				t.Fatalf("%d %s, want 403 DENIED", resp.StatusCode, b)
			}
		})
	}
	if g := e.grants(t, "bob", "repository:hub/team/app:pull,push"); g != "pull" {
		t.Fatalf("token grants %q on a mirrored name, want pull", g)
	}
	if claim, repo := e.claimed(t, "hub", "hub"); claim || repo {
		t.Fatalf("refused pushes left claim %v, repository %v", claim, repo)
	}
	resp, b := e.as(t, "bob", "GET", "/v2/hub/team/app/manifests/1.0", nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if resp.StatusCode != 200 || string(b) != string(manifest) || e.up.Hits("/v2/team/app/manifests/1.0") == 0 {
		t.Fatalf("the mirrored name no longer resolves upstream: %d %s", resp.StatusCode, b)
	}
}

// TestFailedPushClaimsNothing: a first push that fails (a digest that
// does not match, a manifest that does not hold) leaves no claim and no
// repository; the next good push claims.
func TestFailedPushClaimsNothing(t *testing.T) {
	e := newClaimEdge(t)
	layer := []byte("layer bytes")
	wrong := digestOf([]byte("other bytes"))
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code                      string
	}{
		{"monolithic blob, bad digest", "POST", "/v2/acme/app/blobs/uploads/?digest=" + wrong, "", layer, 400, "DIGEST_INVALID"},
		{"manifest naming an absent blob", "PUT", "/v2/acme/app/manifests/1.0", "application/vnd.oci.image.manifest.v1+json",
			[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digestOf(layer) + `","size":11},"layers":[]}`), 400, "MANIFEST_BLOB_UNKNOWN"},
		{"malformed manifest", "PUT", "/v2/acme/app/manifests/1.0", "application/vnd.oci.image.manifest.v1+json", []byte(`{"schemaVersion":`), 400, "MANIFEST_INVALID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.as(t, "owen", c.method, c.path, c.body, "Content-Type", c.ctype)
			if resp.StatusCode != c.status || errCode(b) != c.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, b, c.status, c.code)
			}
			if claim, repo := e.claimed(t, "acme", "acme"); claim || repo {
				t.Fatalf("a failed push left claim %v, repository %v", claim, repo)
			}
		})
	}
	t.Run("chunked upload, bad digest", func(t *testing.T) {
		resp, b := e.as(t, "owen", "POST", "/v2/acme/app/blobs/uploads/", nil)
		if resp.StatusCode != 202 {
			t.Fatalf("start: %d %s", resp.StatusCode, b)
		}
		loc := resp.Header.Get("Location")
		resp, b = e.as(t, "owen", "PUT", loc+"?digest="+wrong, layer)
		if resp.StatusCode != 400 || errCode(b) != "DIGEST_INVALID" {
			t.Fatalf("finish: %d %s", resp.StatusCode, b)
		}
		if claim, repo := e.claimed(t, "acme", "acme"); claim || repo {
			t.Fatalf("a failed push left claim %v, repository %v", claim, repo)
		}
	})
	t.Run("the first good push claims", func(t *testing.T) {
		resp, b := e.as(t, "owen", "POST", "/v2/acme/app/blobs/uploads/?digest="+digestOf(layer), layer)
		if resp.StatusCode != 201 {
			t.Fatalf("push: %d %s", resp.StatusCode, b)
		}
		if claim, repo := e.claimed(t, "acme", "acme"); !claim || !repo {
			t.Fatalf("after a push: claim %v, repository %v", claim, repo)
		}
		if resp, _ := e.as(t, "owen", "HEAD", "/v2/acme/app/blobs/"+digestOf(layer), nil); resp.StatusCode != 200 {
			t.Fatalf("pushed blob: %d", resp.StatusCode)
		}
	})
}

// TestNonMemberPushCreatesNothing: someone outside an organization gets
// no push grant for its namespace and no upload there (403); neither the
// token request nor the refused pushes create a repository or a claim. A
// plain member without the write permission is refused when the push
// lands, and claims nothing either.
func TestNonMemberPushCreatesNothing(t *testing.T) {
	e := newClaimEdge(t)
	if g := e.grants(t, "bob", "repository:acme/app:pull,push,delete"); g != "" {
		t.Fatalf("a non-member's token grants %q", g)
	}
	if claim, repo := e.claimed(t, "acme", "acme"); claim || repo {
		t.Fatalf("a token request left claim %v, repository %v", claim, repo)
	}
	layer := []byte("intruder layer")
	for _, c := range []struct{ name, method, path string }{
		{"monolithic blob", "POST", "/v2/acme/app/blobs/uploads/?digest=" + digestOf(layer)},
		{"upload session", "POST", "/v2/acme/app/blobs/uploads/"},
		{"mount", "POST", "/v2/acme/app/blobs/uploads/?mount=" + digestOf(layer) + "&from=bobco/src"},
		{"manifest", "PUT", "/v2/acme/app/manifests/1.0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.as(t, "bob", c.method, c.path, layer)
			if resp.StatusCode != 403 || errCode(b) != "DENIED" || !strings.Contains(string(b), "not a member") {
				t.Fatalf("%d %s, want 403 DENIED", resp.StatusCode, b)
			}
			if claim, repo := e.claimed(t, "acme", "acme"); claim || repo {
				t.Fatalf("a non-member's push left claim %v, repository %v", claim, repo)
			}
		})
	}
	t.Run("plain member", func(t *testing.T) {
		if g := e.grants(t, "mia", "repository:acme/app:pull,push,delete"); g != "pull,push" {
			t.Fatalf("a member's token grants %q, want pull,push", g)
		}
		resp, b := e.as(t, "mia", "POST", "/v2/acme/app/blobs/uploads/?digest="+digestOf(layer), layer)
		if resp.StatusCode != 403 || errCode(b) != "DENIED" {
			t.Fatalf("%d %s, want 403 DENIED", resp.StatusCode, b)
		}
		if claim, _ := e.claimed(t, "acme", "acme"); claim {
			t.Fatal("a refused member's push claimed the namespace")
		}
	})
	t.Run("owner", func(t *testing.T) {
		if g := e.grants(t, "bob", "repository:bobco/app:pull,push,delete"); g != "pull,push,delete" {
			t.Fatalf("an owner's token grants %q", g)
		}
		if claim, repo := e.claimed(t, "bobco", "bobco"); claim || repo {
			t.Fatalf("a token request left claim %v, repository %v", claim, repo)
		}
		resp, b := e.as(t, "bob", "POST", "/v2/bobco/app/blobs/uploads/?digest="+digestOf(layer), layer)
		if resp.StatusCode != 201 {
			t.Fatalf("owner's push: %d %s", resp.StatusCode, b)
		}
		if claim, repo := e.claimed(t, "bobco", "bobco"); !claim || !repo {
			t.Fatalf("after the owner's push: claim %v, repository %v", claim, repo)
		}
	})
}

// claims is OCI's adapter to the shared claim suite (edge/claimtest). A
// repository's first segment is its organization, which a first push
// claims; no hosted name resolves upstream (mirrors sit under prefixes of
// their own, tested above), so the suite's upstream cases do not apply.
var claims = claimtest.Protocol{
	Name: "oci",
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, _ *testkit.Upstream) {
		h := oci.New(r, nil, oci.Options{})
		h.Mount(m.Group(""))
		t.Cleanup(h.Close)
	},
	Claim: oci.NormalizeClaim,
	Publish: func(t *testing.T, e *claimtest.Env, token, name, version string) (int, string) {
		return pushImage(t, e, token, name, version, true)
	},
	Published: http.StatusCreated,
	Bad: []claimtest.Bad{
		{Case: "blob digest mismatch", Says: "do not match", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return ociAnswer(t, e, token, "POST", "/v2/"+name+"/blobs/uploads/?digest="+digestOf([]byte("other")), []byte("layer"))
		}},
		{Case: "manifest naming an absent blob", Says: "push it first", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return pushImage(t, e, token, name, "1.0.0", false)
		}},
		{Case: "malformed manifest", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			return ociAnswer(t, e, token, "PUT", "/v2/"+name+"/manifests/1.0.0", []byte(`{"schemaVersion":`), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		}},
	},
	Serve:  func(*testkit.Upstream, string, string) {},
	Lookup: func(name string) string { return "/v2/" + name + "/tags/list" },
	Versions: func(t *testing.T, e *claimtest.Env, token, name string) (int, []string) {
		resp, body := e.Do(t, "GET", "/v2/"+name+"/tags/list", nil, "Authorization", "Bearer "+token)
		var list struct{ Tags []string }
		json.Unmarshal(body, &list)
		return resp.StatusCode, list.Tags
	},
	AuthenticatedReads: true,
	Unmirrored:         true,
	Spell:              func(org, base string) string { return org + "/" + base },
	Namespace:          func(name string) string { org, _, _ := strings.Cut(name, "/"); return org },
	Free:               "tool",
	Taken:              "lib",
}

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

// ociAnswer sends a request as token and returns the status and the
// message of OCI's error list ("" on success); an error outside that
// format fails the test.
func ociAnswer(t *testing.T, e *claimtest.Env, token, method, path string, body []byte, header ...string) (int, string) {
	t.Helper()
	resp, b := e.Do(t, method, path, body, append([]string{"Authorization", "Bearer " + token}, header...)...)
	if resp.StatusCode < 400 {
		return resp.StatusCode, ""
	}
	var doc struct {
		Errors []struct{ Code, Message string }
	}
	if json.Unmarshal(b, &doc) != nil || len(doc.Errors) == 0 || doc.Errors[0].Code == "" {
		t.Fatalf("%d answered outside OCI's error format: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, doc.Errors[0].Message
}

// pushImage pushes name:tag, a config and one layer (withBlobs false: the
// manifest alone), as a client does, and returns the first refusal or the
// manifest's answer.
func pushImage(t *testing.T, e *claimtest.Env, token, name, tag string, withBlobs bool) (int, string) {
	t.Helper()
	config, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer of "+name)
	if withBlobs {
		for _, b := range [][]byte{config, layer} {
			if st, msg := ociAnswer(t, e, token, "POST", "/v2/"+name+"/blobs/uploads/?digest="+digestOf(b), b); st != http.StatusCreated {
				return st, msg
			}
		}
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`, digestOf(config), len(config), digestOf(layer), len(layer))
	return ociAnswer(t, e, token, "PUT", "/v2/"+name+"/manifests/"+tag, []byte(m), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
}
