package maven_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// claimServer runs the binary with a fake upstream Maven repository. The
// organizations acme (alice owns it) and bobco (bob owns it) exist; bob is
// not a member of acme.
type claimServer struct {
	*testkit.Server
	up    *testkit.Upstream
	admin string // a bearer token of the bootstrap admin
	repo  string // the Maven repository's URL
}

const claimPassword = "claim-password-0123"

func newClaimServer(t *testing.T) *claimServer {
	t.Helper()
	up := testkit.NewUpstream(t)
	s := testkit.Start(t, "UPSTREAM_MAVEN="+up.URL+"/", "ENABLE_UPSTREAM_CACHE=false")
	c := &claimServer{Server: s, up: up, admin: s.AdminToken(t), repo: s.URL + "/maven2"}
	for _, m := range []struct{ org, user string }{{"acme", "alice"}, {"bobco", "bob"}} {
		s.CreateOrg(t, c.admin, m.org)
		s.AddMember(t, c.admin, m.org, s.CreateUser(t, c.admin, m.user, claimPassword), "owner")
	}
	return c
}

// deploy PUTs a file as user (with password or token secret); it returns
// the status, the reason phrase and the body, where Maven repositories
// put their errors.
func (c *claimServer) deploy(t *testing.T, user, secret, path string, body []byte) (int, string, string) {
	t.Helper()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret))
	resp, b := testkit.Request(t, "PUT", c.repo+path, body, "Authorization", basic)
	return resp.StatusCode, resp.Status, string(b)
}

// state is what an organization holds: the groupIds it claims and how
// many repositories it has, as the management API lists them.
func (c *claimServer) state(t *testing.T, org string) (claims []string, repos int) {
	t.Helper()
	var cl struct{ Items []struct{ Namespace string } }
	var rp struct{ Items []json.RawMessage }
	if st, raw := c.API("GET", "/organizations/"+org+"/claims", c.admin, nil, &cl); st != 200 {
		t.Fatalf("claims: %d %s", st, raw)
	}
	if st, raw := c.API("GET", "/organizations/"+org+"/repositories", c.admin, nil, &rp); st != 200 {
		t.Fatalf("repositories: %d %s", st, raw)
	}
	for _, it := range cl.Items {
		claims = append(claims, it.Namespace)
	}
	return claims, len(rp.Items)
}

func claimPOM(group, artifact, version string) []byte {
	return []byte(`<project><modelVersion>4.0.0</modelVersion><groupId>` + group + `</groupId><artifactId>` + artifact + `</artifactId><version>` + version + `</version></project>`)
}

// TestSquattingRefused: a first deploy under a groupId the upstream has
// (its directory lists, or the artifact's maven-metadata.xml exists) is
// refused with 409 and a message telling how an administrator claims it;
// nothing is claimed or recorded, and the artifacts still resolve
// upstream. A groupId of one segment is never claimed; a first deploy
// claims the exact groupId, never a prefix.
func TestSquattingRefused(t *testing.T) {
	c := newClaimServer(t)
	c.up.Handle("/org/public/", []byte("<html>listing of org/public</html>"))
	c.up.Handle("/org/public/lib/1.0/lib-1.0.jar", []byte("the public jar"))
	c.up.Handle("/org/public/other/0.9/other-0.9.jar", []byte("the public other jar"))
	c.up.Handle("/org/meta/lib/maven-metadata.xml", []byte("<metadata><groupId>org.meta</groupId><artifactId>lib</artifactId></metadata>"))
	c.up.Handle("/org/meta/lib/1.0/lib-1.0.jar", []byte("the public meta jar"))

	for _, tc := range []struct{ name, path, public string }{
		{"groupId directory on the upstream", "/org/public/lib/2.0/lib-2.0.jar", "/org/public/lib/1.0/lib-1.0.jar"},
		{"groupId directory on the upstream, another artifact", "/org/public/other/1.0/other-1.0.pom", "/org/public/other/0.9/other-0.9.jar"},
		{"artifact metadata on the upstream", "/org/meta/lib/2.0/lib-2.0.jar", "/org/meta/lib/1.0/lib-1.0.jar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte("squatter's jar")
			if strings.HasSuffix(tc.path, ".pom") {
				body = claimPOM("org.public", "other", "1.0")
			}
			st, reason, msg := c.deploy(t, "bob", claimPassword, tc.path, body)
			for _, s := range []string{msg, reason} {
				if st != 409 || !strings.Contains(s, "exists on the upstream registry") || !strings.Contains(s, "POST /api/v1/organizations/bobco/claims") {
					t.Fatalf("%d %q %q, want 409 telling how to claim it", st, reason, msg)
				}
			}
			if claims, _ := c.state(t, "bobco"); len(claims) != 0 {
				t.Fatalf("a refused deploy claimed %v", claims)
			}
			if resp, _ := testkit.Request(t, "GET", c.repo+tc.path, nil); resp.StatusCode != 404 {
				t.Fatalf("the refused file was recorded: %d", resp.StatusCode)
			}
			hits := c.up.Hits(tc.public)
			if resp, b := testkit.Request(t, "GET", c.repo+tc.public, nil); resp.StatusCode != 200 || !strings.HasPrefix(string(b), "the public") || c.up.Hits(tc.public) == hits {
				t.Fatalf("the public artifact no longer resolves upstream: %d %s", resp.StatusCode, b)
			}
		})
	}

	t.Run("upstream down", func(t *testing.T) {
		c.up.Down()
		defer c.up.Up()
		st, _, msg := c.deploy(t, "bob", claimPassword, "/com/bobco/lib/1.0/lib-1.0.jar", []byte("jar"))
		if st != 503 || !strings.Contains(msg, "cannot tell") {
			t.Fatalf("%d %q, want 503", st, msg)
		}
		if claims, _ := c.state(t, "bobco"); len(claims) != 0 {
			t.Fatalf("a deploy the upstream could not vet claimed %v", claims)
		}
	})

	t.Run("one-segment groupId", func(t *testing.T) {
		st, _, msg := c.deploy(t, "bob", claimPassword, "/bobco/lib/1.0/lib-1.0.jar", []byte("jar"))
		if st != 400 || !strings.Contains(msg, "too broad") {
			t.Fatalf("%d %q, want 400", st, msg)
		}
		if claims, _ := c.state(t, "bobco"); len(claims) != 0 {
			t.Fatalf("claimed %v", claims)
		}
	})

	t.Run("exact groupId", func(t *testing.T) {
		if st, _, msg := c.deploy(t, "bob", claimPassword, "/com/bobco/tools/lib/1.0/lib-1.0.jar", []byte("jar")); st != 201 {
			t.Fatalf("deploy: %d %s", st, msg)
		}
		if claims, _ := c.state(t, "bobco"); strings.Join(claims, ",") != "com.bobco.tools" {
			t.Fatalf("claims %v, want exactly com.bobco.tools", claims)
		}
		// com.bobco itself still resolves upstream.
		c.up.Handle("/com/bobco/x/1.0/x-1.0.jar", []byte("upstream x"))
		if resp, b := testkit.Request(t, "GET", c.repo+"/com/bobco/x/1.0/x-1.0.jar", nil); resp.StatusCode != 200 || string(b) != "upstream x" {
			t.Fatalf("com.bobco went hosted: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("claimed on purpose", func(t *testing.T) {
		if st, raw := c.API("POST", "/organizations/bobco/claims", c.admin, map[string]string{"protocol": "maven", "namespace": "org.public"}, nil); st != 201 {
			t.Fatalf("claim: %d %s", st, raw)
		}
		if st, _, msg := c.deploy(t, "bob", claimPassword, "/org/public/lib/2.0/lib-2.0.jar", []byte("bob's jar")); st != 201 {
			t.Fatalf("deploy after an explicit claim: %d %s", st, msg)
		}
	})
}

// TestFailedDeployClaimsNothing: a first deploy that fails its checks
// claims nothing, and the groupId still resolves upstream afterwards.
func TestFailedDeployClaimsNothing(t *testing.T) {
	c := newClaimServer(t)
	c.up.Handle("/com/bobco/lib/0.9/lib-0.9.jar", []byte("upstream 0.9"))
	for _, tc := range []struct {
		name, path string
		body       []byte
		says       string
	}{
		{"malformed POM", "/com/bobco/lib/1.0/lib-1.0.pom", []byte("<project><groupId>com.bobco"), "not well-formed"},
		{"POM of other coordinates", "/com/bobco/lib/1.0/lib-1.0.pom", claimPOM("com.other", "lib", "1.0"), "do not match"},
		{"plain SNAPSHOT name", "/com/bobco/lib/1.0-SNAPSHOT/lib-1.0-SNAPSHOT.jar", []byte("jar"), "timestamped"},
		{"file name of another version", "/com/bobco/lib/1.0/lib-2.0.jar", []byte("jar"), "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, msg := c.deploy(t, "bob", claimPassword, tc.path, tc.body)
			if st != 400 || !strings.Contains(msg, tc.says) {
				t.Fatalf("%d %q, want 400 saying %q", st, msg, tc.says)
			}
			if claims, repos := c.state(t, "bobco"); len(claims) != 0 || repos != 0 {
				t.Fatalf("a failed deploy left claims %v, %d repositories", claims, repos)
			}
			if resp, b := testkit.Request(t, "GET", c.repo+"/com/bobco/lib/0.9/lib-0.9.jar", nil); resp.StatusCode != 200 || string(b) != "upstream 0.9" {
				t.Fatalf("com.bobco no longer resolves upstream: %d %s", resp.StatusCode, b)
			}
		})
	}
}

// TestNonMemberDeployRefused: a deploy into an organization the caller
// does not belong to is refused with 403 and creates nothing there: under
// a groupId it claims, and as a first deploy with a token scoped to it.
func TestNonMemberDeployRefused(t *testing.T) {
	c := newClaimServer(t)
	if st, _, msg := c.deploy(t, "alice", claimPassword, "/com/acme/lib/1.0/lib-1.0.jar", []byte("alice's jar")); st != 201 {
		t.Fatalf("alice's deploy: %d %s", st, msg)
	}
	st, _, msg := c.deploy(t, "bob", claimPassword, "/com/acme/lib/2.0/lib-2.0.jar", []byte("bob's jar"))
	if st != 403 {
		t.Fatalf("deploy into another organization's groupId: %d %q", st, msg)
	}
	if resp, _ := testkit.Request(t, "GET", c.repo+"/com/acme/lib/2.0/lib-2.0.jar", nil, "Authorization", "Bearer "+c.admin); resp.StatusCode != 404 {
		t.Fatalf("the refused file was recorded: %d", resp.StatusCode)
	}
	// An existing file is not revealed to a non-writer.
	if st, _, msg := c.deploy(t, "bob", claimPassword, "/com/acme/lib/1.0/lib-1.0.jar", []byte("bob's jar")); st != 403 {
		t.Fatalf("redeploy by a non-writer: %d %q, want 403", st, msg)
	}

	// A token scoped to an organization its owner does not belong to
	// picks that organization for a first deploy, which is refused before
	// anything exists there.
	c.CreateOrg(t, c.admin, "newco")
	scoped := c.Token(t, c.Login(t, "bob", claimPassword), []string{"maven"}, nil, []string{"newco"})
	st, _, msg = c.deploy(t, "bob", scoped, "/com/newco/lib/1.0/lib-1.0.jar", []byte("bob's jar"))
	if st != 403 || !strings.Contains(msg, `not a member of the organization "newco"`) {
		t.Fatalf("first deploy into another organization: %d %q, want 403", st, msg)
	}
	if claims, repos := c.state(t, "newco"); len(claims) != 0 || repos != 0 {
		t.Fatalf("a non-member's deploy left claims %v, %d repositories", claims, repos)
	}
	if resp, _ := testkit.Request(t, "GET", c.repo+"/com/newco/lib/1.0/lib-1.0.jar", nil); resp.StatusCode != 404 {
		t.Fatalf("the refused file is served: %d", resp.StatusCode)
	}
}
