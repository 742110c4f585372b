package maven_test

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/claimtest"
	"entrepot/edge/maven"
	"entrepot/upstream"
)

// Maven's adapter to the claim suite (edge/claimtest). A name is
// "groupId:artifactId" and a first deploy claims the exact groupId; the
// suite's names are spelled com.<org>.<base>:lib, a groupId a first
// deploy may take. The groupId hierarchy (one segment, above and below
// another claim, directory listings) is Maven's own: claim_test.go and
// squat_e2e_test.go.
var claims = claimtest.Protocol{
	Name: maven.Protocol,
	Mount: func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream) {
		client, err := upstream.New("maven", up.URL+"/", upstream.Options{Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		maven.New(r, client, maven.Options{}).Mount(m.Group("/maven2"))
	},
	Claim:       maven.NormalizeClaim,
	MetadataTTL: time.Nanosecond,
	Publish: func(t *testing.T, e *claimtest.Env, token, name, version string) (int, string) {
		g, a := coords(name)
		return deploy(t, e, token, artifactPath(name)+"/"+version+"/"+a+"-"+version+".pom", claimPOM(g, a, version))
	},
	Published: http.StatusCreated,
	Bad: []claimtest.Bad{
		{Case: "malformed POM", Says: "not well-formed", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			g, a := coords(name)
			return deploy(t, e, token, artifactPath(name)+"/1.0/"+a+"-1.0.pom", []byte("<project><groupId>"+g))
		}},
		{Case: "POM of other coordinates", Says: "do not match", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			_, a := coords(name)
			return deploy(t, e, token, artifactPath(name)+"/1.0/"+a+"-1.0.pom", claimPOM("com.other", a, "1.0"))
		}},
		{Case: "plain SNAPSHOT name", Says: "timestamped", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			_, a := coords(name)
			return deploy(t, e, token, artifactPath(name)+"/1.0-SNAPSHOT/"+a+"-1.0-SNAPSHOT.jar", []byte("jar"))
		}},
		{Case: "file name of another version", Says: "does not match", Publish: func(t *testing.T, e *claimtest.Env, token, name string) (int, string) {
			_, a := coords(name)
			return deploy(t, e, token, artifactPath(name)+"/1.0/"+a+"-2.0.jar", []byte("jar"))
		}},
	},
	Serve: func(up *testkit.Upstream, name, version string) {
		g, a := coords(name)
		up.Handle(metadataPath(name), []byte("<metadata><groupId>"+g+"</groupId><artifactId>"+a+"</artifactId><versioning><versions><version>"+version+"</version></versions></versioning></metadata>"))
	},
	Lookup:    metadataPath,
	Versions:  metadataVersions,
	Spell:     func(org, base string) string { return "com." + org + "." + base + ":lib" },
	Namespace: func(name string) string { g, _ := coords(name); return g },
	Free:      "tool",
	Taken:     "public",
	// A groupId is one claim in every case: the upstream's lowercase
	// groupId refuses a deploy under its capitalised spelling.
	Spellings: [][2]string{{"com.Rival.Mixed:lib", "com.rival.mixed:lib"}},
}

func TestClaims(t *testing.T) { claimtest.Run(t, claims) }

// coords splits groupId:artifactId.
func coords(name string) (group, artifact string) {
	group, artifact, _ = strings.Cut(name, ":")
	return group, artifact
}

// artifactPath is the repository path of an artifact: com/acme/tool/lib.
func artifactPath(name string) string {
	g, a := coords(name)
	return "/" + strings.ReplaceAll(g, ".", "/") + "/" + a
}

func metadataPath(name string) string { return artifactPath(name) + "/maven-metadata.xml" }

// deploy PUTs a file as token; it returns the status and the body, where
// Maven repositories put their errors.
func deploy(t *testing.T, e *claimtest.Env, token, path string, body []byte) (int, string) {
	t.Helper()
	resp, b := e.Do(t, "PUT", "/maven2"+path, body, "Authorization", "Bearer "+token)
	return resp.StatusCode, string(b)
}

// metadataVersions reads an artifact's maven-metadata.xml as token ("":
// anonymously) and lists its versions.
func metadataVersions(t *testing.T, e *claimtest.Env, token, name string) (int, []string) {
	t.Helper()
	var header []string
	if token != "" {
		header = []string{"Authorization", "Bearer " + token}
	}
	resp, body := e.Do(t, "GET", "/maven2"+metadataPath(name), nil, header...)
	var doc struct {
		Versions []string `xml:"versioning>versions>version"`
	}
	xml.Unmarshal(body, &doc)
	return resp.StatusCode, doc.Versions
}

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

	for _, tc := range []struct{ name, path, public string }{
		{"groupId directory on the upstream", "/org/public/lib/2.0/lib-2.0.jar", "/org/public/lib/1.0/lib-1.0.jar"},
		{"groupId directory on the upstream, another artifact", "/org/public/other/1.0/other-1.0.pom", "/org/public/other/0.9/other-0.9.jar"},
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

// TestNonMemberDeployRefused: a deploy under a groupId another
// organization claims is refused with 403 and records nothing, and an
// existing file there is not revealed to a non-writer. (A first deploy
// with a token scoped to an organization its user does not belong to is
// the suite's NonMemberRefused.)
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
}
