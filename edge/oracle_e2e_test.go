package edge_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// The existence-oracle class: for every read route of every protocol, and
// the management API's lookups of organizations, repositories, packages
// and claims, a caller who may not see a private name gets the answer of
// a name that does not exist: the same status, the same headers that
// matter, the same body but for the name itself and the request id. The
// table drives the running binary, as an anonymous caller, as a member of
// another organization, and with a token of a member whose scope leaves
// the name out.
//
// One answer differs by design, for anonymous callers while anonymous
// mirror reads are on: a claimed name asks for credentials (401 and the
// protocol's challenge, which Maven, OCI and cargo clients need before
// they send any), and an unclaimed one answers as the upstream does. So
// anonymous callers compare a private name with a missing one under the
// same claimed namespace (an npm scope, a groupId, a vendor, an OCI
// namespace), and for single names only check the challenge.

// oracleName is a private name (held by acme, which claims it) and a
// missing one of the same protocol, as their paths spell them.
type oracleName struct{ private, missing string }

// oracleRoute is one read route: its path with NAME where the name goes;
// anon, when set, are the names anonymous callers compare.
type oracleRoute struct {
	protocol string
	method   string
	path     string
	names    oracleName
	anon     *oracleName
}

// oracleClaims are the names acme claims before the test: they resolve
// hosted and private from then on.
var oracleClaims = []struct{ protocol, namespace string }{
	{"npm", "acme-secret"},
	{"pypi", "acme-secret"},
	{"cargo", "acme_secret"},
	{"rubygems", "acme-secret"},
	{"maven", "com.acme"},
	{"composer", "acme"},
	{"oci", "acme"},
}

func oracleRoutes() []oracleRoute {
	npmU := oracleName{"acme-secret", "acme-absent"}
	npmS := oracleName{"@acme/secret", "@zzzz/secret"}
	py := oracleName{"acme-secret", "acme-absent"}
	crate := oracleName{"acme_secret", "acme_absent"}
	gem := oracleName{"acme-secret", "acme-absent"}
	// Under claimed namespaces: the route's last name segment varies.
	scoped := &oracleName{"@acme/secret", "@acme/absent"}
	mvnA := &oracleName{"com/acme/secret", "com/acme/absent"}
	vendorA := &oracleName{"acme/secret", "acme/absent"}
	vendorS := oracleName{"acme/secret", "zzzz/secret"}
	mvnS := oracleName{"com/acme/secret", "com/zzzz/secret"}
	zero := "sha256:" + strings.Repeat("0", 64)
	return []oracleRoute{
		{"npm", "GET", "/npm/NAME", npmU, nil},
		{"npm", "HEAD", "/npm/NAME", npmU, nil},
		{"npm", "GET", "/npm/NAME/1.0.0", npmU, nil},
		{"npm", "GET", "/npm/NAME", npmS, scoped},
		{"npm", "GET", "/npm/NAME/1.0.0", npmS, scoped},
		{"npm", "GET", "/npm/-/package/NAME/dist-tags", npmU, nil},
		{"npm", "GET", "/npm/NAME/-/acme-x-1.0.0.tgz", npmU, nil},
		{"oci", "GET", "/v2/NAME/manifests/latest", vendorS, vendorA},
		{"oci", "HEAD", "/v2/NAME/manifests/latest", vendorS, vendorA},
		{"oci", "GET", "/v2/NAME/tags/list", vendorS, vendorA},
		{"oci", "GET", "/v2/NAME/blobs/" + zero, vendorS, vendorA},
		{"oci", "GET", "/v2/NAME/referrers/" + zero, vendorS, vendorA},
		{"pypi", "GET", "/pypi/simple/NAME/", py, nil},
		{"pypi", "GET", "/pypi/pypi/NAME/json", py, nil},
		{"pypi", "GET", "/pypi/pypi/NAME/1.0/json", py, nil},
		{"pypi", "GET", "/pypi/files/NAME/x-1.0.tar.gz", py, nil},
		{"cargo", "GET", "/cargo/index/ac/me/NAME", crate, nil},
		{"cargo", "GET", "/cargo/api/v1/crates/NAME/1.0.0/download", crate, nil},
		{"cargo", "GET", "/cargo/api/v1/crates/NAME/owners", crate, nil},
		{"maven", "GET", "/maven2/NAME/lib/maven-metadata.xml", mvnS, mvnA},
		{"maven", "GET", "/maven2/NAME/lib/maven-metadata.xml.sha1", mvnS, mvnA},
		{"maven", "GET", "/maven2/NAME/lib/1.0/lib-1.0.jar", mvnS, mvnA},
		{"maven", "HEAD", "/maven2/NAME/lib/1.0/lib-1.0.pom", mvnS, mvnA},
		{"composer", "GET", "/composer/p2/NAME.json", vendorS, vendorA},
		{"composer", "GET", "/composer/p2/NAME~dev.json", vendorS, vendorA},
		{"composer", "GET", "/composer/dist/NAME/0123456789abcdef/1.0.zip", vendorS, vendorA},
		{"rubygems", "GET", "/rubygems/api/v1/gems/NAME.json", gem, nil},
		{"rubygems", "GET", "/rubygems/api/v1/gems/NAME/owners.json", gem, nil},
		{"rubygems", "GET", "/rubygems/api/v1/versions/NAME.json", gem, nil},
		{"rubygems", "GET", "/rubygems/info/NAME", gem, nil},
		{"rubygems", "GET", "/rubygems/gems/NAME-1.0.0.gem", gem, nil},
		{"rubygems", "GET", "/rubygems/quick/Marshal.4.8/NAME-1.0.0.gemspec.rz", gem, nil},
	}
}

// varying is what may differ between two answers: request ids and
// dates.
var varying = regexp.MustCompile(`(?i)"?request[ _-]?id"?\s*[:=]?\s*"?[0-9a-z-]{6,}"?|\(request id [^)]*\)`)

// answer is what a caller can compare: the status, the headers a client
// acts on, and the body with the name written as NAME.
type answer struct {
	status  int
	headers string
	body    string
}

func ask(t *testing.T, method, url, name string, header ...string) answer {
	t.Helper()
	return askWith(t, method, url, name, nil, header...)
}

// askWith is ask with a request body.
func askWith(t *testing.T, method, url, name string, body []byte, header ...string) answer {
	t.Helper()
	resp, b := testkit.Request(t, method, url, body, header...)
	var h []string
	for _, k := range []string{"Content-Type", "WWW-Authenticate", "Docker-Distribution-Api-Version", "Cache-Control"} {
		h = append(h, k+": "+resp.Header.Get(k))
	}
	return answer{status: resp.StatusCode, headers: scrub(strings.Join(h, "\n"), name), body: scrub(string(b), name) + "\nreason: " + scrub(resp.Status, name)}
}

// scrub writes every spelling of name in s as NAME (a path's
// com/acme is the groupId com.acme) and blanks request ids.
func scrub(s, name string) string {
	for _, n := range []string{name, strings.ReplaceAll(name, "/", "."), strings.ReplaceAll(name, "/", "%2f"), strings.ReplaceAll(name, "/", "%2F")} {
		s = strings.ReplaceAll(s, n, "NAME")
	}
	return varying.ReplaceAllString(s, "REQUEST-ID")
}

// oracleServer starts the binary with env and prepares acme (alice owns
// it, with the claims above), rival (bob), and the callers.
func oracleServer(t *testing.T, env ...string) (s *testkit.Server, callers map[string]func(protocol string) []string) {
	s = testkit.Start(t, env...)
	admin := s.AdminToken(t)
	const pw = "oracle-password-0123"
	s.CreateOrg(t, admin, "acme")
	s.CreateOrg(t, admin, "rival")
	s.CreateOrg(t, admin, "other")
	alice := s.CreateUser(t, admin, "alice", pw)
	s.AddMember(t, admin, "acme", alice, "owner")
	s.AddMember(t, admin, "other", alice, "member")
	s.AddMember(t, admin, "rival", s.CreateUser(t, admin, "bob", pw), "owner")
	for _, c := range oracleClaims {
		if st, raw := s.API("POST", "/organizations/acme/claims", admin, map[string]string{"protocol": c.protocol, "namespace": c.namespace}, nil); st != 201 && st != 200 {
			t.Fatalf("claim %s %s: %d %s", c.protocol, c.namespace, st, raw)
		}
	}
	// Packages that exist: a jar under a claimed groupId, a Composer
	// package of acme's vendor.
	for _, pub := range []struct {
		path string
		body []byte
	}{
		{"/maven2/com/acme/secret/lib/1.0/lib-1.0.jar", []byte("private jar")},
		{"/composer/packages/acme/secret?version=1.0.0", testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/secret","type":"library"}`})},
	} {
		if resp, b := testkit.Request(t, "PUT", s.URL+pub.path, pub.body, "Authorization", testkit.Basic("alice", pw)); resp.StatusCode/100 != 2 {
			t.Fatalf("publish %s: %d %s", pub.path, resp.StatusCode, b)
		}
	}
	bobToken := s.Token(t, s.Login(t, "bob", pw), nil, nil, nil)
	aliceJWT := s.Login(t, "alice", pw)
	// alice's tokens that leave acme out: one per protocol scoped to
	// another protocol, one scoped to the organization other.
	otherProtocol := map[string]string{}
	for _, p := range []string{"npm", "oci", "pypi", "cargo", "maven", "composer", "rubygems"} {
		q := "npm"
		if p == "npm" {
			q = "pypi"
		}
		otherProtocol[p] = s.Token(t, aliceJWT, []string{q}, nil, nil)
	}
	otherOrg := s.Token(t, aliceJWT, nil, nil, []string{"other"})
	callers = map[string]func(string) []string{
		"anonymous":             func(string) []string { return nil },
		"member of another org": func(string) []string { return []string{"Authorization", testkit.Basic("bob", bobToken)} },
		"token of another protocol": func(p string) []string {
			return []string{"Authorization", testkit.Basic("alice", otherProtocol[p])}
		},
		"token of another org": func(string) []string { return []string{"Authorization", testkit.Basic("alice", otherOrg)} },
	}
	return s, callers
}

// TestExistenceOracle runs the class with and without upstream mirrors:
// without, a missing name is answered by the edge itself; with, by the
// (empty) upstream.
func TestExistenceOracle(t *testing.T) {
	up := testkit.NewUpstream(t)
	up.Handle("/packages.json", []byte(`{"packages":[],"metadata-url":"/p2/%package%.json"}`))
	mirrors := []string{"UPSTREAM_NPM=" + up.URL, "UPSTREAM_PYPI=" + up.URL, "UPSTREAM_CARGO=" + up.URL,
		"UPSTREAM_MAVEN=" + up.URL, "UPSTREAM_COMPOSER=" + up.URL, "UPSTREAM_RUBYGEMS=" + up.URL, "ENABLE_UPSTREAM_CACHE=false"}
	for _, cfg := range []struct {
		name string
		env  []string
		// closed: anonymous mirror reads are off, so that every name asks
		// anonymous callers for credentials, claimed or not.
		closed bool
	}{
		{"no upstream", nil, false},
		{"empty upstreams", mirrors, false},
		{"empty upstreams, no anonymous mirror reads", mirrors, true},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			s, callers := oracleServer(t, cfg.env...)
			if cfg.closed {
				if st, raw := s.API("PUT", "/admin/auth/settings", s.AdminToken(t), map[string]bool{"anonymousMirrorReads": false}, nil); st != 200 {
					t.Fatalf("settings: %d %s", st, raw)
				}
			}
			for _, r := range oracleRoutes() {
				for who, hdr := range callers {
					t.Run(who+" "+r.method+" "+r.path+" "+r.names.private, func(t *testing.T) {
						names := r.names
						if who == "anonymous" && !cfg.closed {
							if r.anon == nil {
								priv := ask(t, r.method, s.URL+strings.Replace(r.path, "NAME", names.private, 1), names.private)
								miss := ask(t, r.method, s.URL+strings.Replace(r.path, "NAME", names.missing, 1), names.missing)
								if priv.status != 401 && priv != miss {
									t.Fatalf("a private name answers anonymous callers neither with the challenge nor as a missing one:\nprivate %d\n%s\n%s\nmissing %d\n%s\n%s",
										priv.status, priv.headers, priv.body, miss.status, miss.headers, miss.body)
								}
								return
							}
							names = *r.anon
						}
						priv := ask(t, r.method, s.URL+strings.Replace(r.path, "NAME", names.private, 1), names.private, hdr(r.protocol)...)
						miss := ask(t, r.method, s.URL+strings.Replace(r.path, "NAME", names.missing, 1), names.missing, hdr(r.protocol)...)
						if priv.status < 400 {
							t.Fatalf("the private name is served: %d", priv.status)
						}
						if priv != miss {
							t.Errorf("private and missing differ:\nprivate %d\n%s\n%s\nmissing %d\n%s\n%s", priv.status, priv.headers, priv.body, miss.status, miss.headers, miss.body)
						}
					})
				}
			}
			writeOracle(t, s, callers)
			apiOracle(t, s, callers)
		})
	}
}

// writeRoute is one state-changing route: path as oracleRoute's, and the
// body it is sent with.
type writeRoute struct {
	protocol, method, path string
	names                  oracleName
	body                   string
}

// writeRoutes are the protocols' yank, delete, owners and tag routes,
// which change what a name exists under. A publish is not among them: a
// name nobody holds is one the caller may take. npm, Maven, Composer and
// OCI writes compare names under acme's claimed namespaces.
func writeRoutes() []writeRoute {
	py := oracleName{"acme-secret", "acme-absent"}
	crate := oracleName{"acme_secret", "acme_absent"}
	gem := oracleName{"acme-secret", "acme-absent"}
	npmU := oracleName{"acme-secret", "acme-absent"}
	scoped := oracleName{"@acme/secret", "@acme/absent"}
	vendorA := oracleName{"acme/secret", "acme/absent"}
	mvnA := oracleName{"com/acme/secret", "com/acme/absent"}
	zero := "sha256:" + strings.Repeat("0", 64)
	return []writeRoute{
		{"pypi", "POST", "/pypi/manage/NAME/1.0/yank", py, ""},
		{"pypi", "POST", "/pypi/manage/NAME/1.0/unyank", py, ""},
		{"pypi", "DELETE", "/pypi/manage/NAME/1.0", py, ""},
		{"pypi", "DELETE", "/pypi/manage/NAME", py, ""},
		{"cargo", "DELETE", "/cargo/api/v1/crates/NAME/1.0.0/yank", crate, ""},
		{"cargo", "PUT", "/cargo/api/v1/crates/NAME/1.0.0/unyank", crate, ""},
		{"cargo", "PUT", "/cargo/api/v1/crates/NAME/owners", crate, `{"users":["bob"]}`},
		{"cargo", "DELETE", "/cargo/api/v1/crates/NAME/owners", crate, `{"users":["bob"]}`},
		{"rubygems", "DELETE", "/rubygems/api/v1/gems/yank?gem_name=NAME&version=1.0.0", gem, ""},
		{"rubygems", "PUT", "/rubygems/api/v1/gems/unyank?gem_name=NAME&version=1.0.0", gem, ""},
		{"rubygems", "POST", "/rubygems/api/v1/gems/NAME/owners", gem, "email=bob%40example.com"},
		{"rubygems", "DELETE", "/rubygems/api/v1/gems/NAME/owners", gem, "email=bob%40example.com"},
		{"npm", "PUT", "/npm/-/package/NAME/dist-tags/beta", npmU, `"1.0.0"`},
		{"npm", "DELETE", "/npm/-/package/NAME/dist-tags/beta", npmU, ""},
		{"npm", "PUT", "/npm/-/package/NAME/dist-tags/beta", scoped, `"1.0.0"`},
		{"maven", "PUT", "/maven2/NAME/lib/1.0/lib-1.0.jar", mvnA, "jar"},
		{"composer", "PUT", "/composer/packages/NAME?version=1.0.0", vendorA, "zip"},
		{"oci", "DELETE", "/v2/NAME/manifests/latest", vendorA, ""},
		{"oci", "PUT", "/v2/NAME/manifests/latest", vendorA, `{"schemaVersion":2}`},
		{"oci", "POST", "/v2/NAME/blobs/uploads/", vendorA, ""},
		{"oci", "DELETE", "/v2/NAME/blobs/" + zero, vendorA, ""},
	}
}

// writeOracle: every caller who may not read a private name gets, on a
// write route, the answer of a missing name: anonymous callers are asked
// to authenticate (401 and the challenge) whatever the name, others get
// the same 404.
func writeOracle(t *testing.T, s *testkit.Server, callers map[string]func(string) []string) {
	for _, r := range writeRoutes() {
		for who, hdr := range callers {
			t.Run("write "+who+" "+r.method+" "+r.path+" "+r.names.private, func(t *testing.T) {
				var body []byte
				if r.body != "" {
					body = []byte(r.body)
				}
				h := hdr(r.protocol)
				if strings.HasPrefix(r.body, "email=") {
					h = append(h, "Content-Type", "application/x-www-form-urlencoded")
				}
				priv := askWith(t, r.method, s.URL+strings.Replace(r.path, "NAME", r.names.private, 1), r.names.private, body, h...)
				miss := askWith(t, r.method, s.URL+strings.Replace(r.path, "NAME", r.names.missing, 1), r.names.missing, body, h...)
				if priv.status < 400 {
					t.Fatalf("the private name is changed: %d %s", priv.status, priv.body)
				}
				if who == "anonymous" && priv.status != 401 {
					t.Errorf("an anonymous write is not asked to authenticate: %d\n%s\n%s", priv.status, priv.headers, priv.body)
				}
				if priv != miss {
					t.Errorf("private and missing differ:\nprivate %d\n%s\n%s\nmissing %d\n%s\n%s", priv.status, priv.headers, priv.body, miss.status, miss.headers, miss.body)
				}
			})
		}
	}
}

// apiOracle: the management API's lookups answer a private organization,
// repository, package or claim as they answer a missing one.
func apiOracle(t *testing.T, s *testkit.Server, callers map[string]func(string) []string) {
	admin := s.AdminToken(t)
	var repos struct {
		Items []struct{ ID, Protocol string }
	}
	if st, raw := s.API("GET", "/organizations/acme/repositories", admin, nil, &repos); st != 200 || len(repos.Items) == 0 {
		t.Fatalf("repositories: %d %s", st, raw)
	}
	repo := repos.Items[0].ID
	for _, r := range []struct{ path, private, missing string }{
		{"/api/v1/organizations/NAME", "acme", "zzzz"},
		{"/api/v1/organizations/NAME/members", "acme", "zzzz"},
		{"/api/v1/organizations/NAME/claims", "acme", "zzzz"},
		{"/api/v1/organizations/NAME/repositories", "acme", "zzzz"},
		{"/api/v1/organizations/NAME/teams", "acme", "zzzz"},
		{"/api/v1/repositories/NAME", repo, strings.Repeat("0", len(repo))},
		{"/api/v1/repositories/NAME/permissions", repo, strings.Repeat("0", len(repo))},
		{"/api/v1/packages/NAME", "npm:acme-secret", "npm:acme-absent"},
		{"/api/v1/packages/NAME/versions", "npm:acme-secret", "npm:acme-absent"},
	} {
		for who, hdr := range callers {
			if who == "token of another protocol" {
				continue // organizations and repositories are no protocol's
			}
			t.Run("api "+who+" "+r.path, func(t *testing.T) {
				h := hdr("npm")
				if len(h) == 2 {
					h = []string{"Authorization", "Bearer " + basicSecret(h[1])}
				}
				priv := ask(t, "GET", s.URL+strings.Replace(r.path, "NAME", r.private, 1), r.private, h...)
				miss := ask(t, "GET", s.URL+strings.Replace(r.path, "NAME", r.missing, 1), r.missing, h...)
				if priv != miss {
					t.Errorf("private and missing differ:\nprivate %d\n%s\n%s\nmissing %d\n%s\n%s", priv.status, priv.headers, priv.body, miss.status, miss.headers, miss.body)
				}
			})
		}
	}
}

// basicSecret returns the secret of a Basic header value (the API takes
// tokens as Bearer).
func basicSecret(h string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.Header.Set("Authorization", h)
	_, p, _ := req.BasicAuth()
	return p
}
