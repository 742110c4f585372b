package api_test

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"testing"

	"entrepot/auth"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

type claimItem struct {
	Protocol, Namespace, OrgID, RepoID string
}

// hostedNow asks the edge's claim cache, as a protocol handler would,
// whether a namespace is hosted now.
func (e *env) hostedNow(protocol, ns string) bool {
	e.t.Helper()
	_, _, ok, err := e.reg.Hosted(context.Background(), protocol, ns)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func claimBody(protocol, ns string) map[string]string {
	return map[string]string{"protocol": protocol, "namespace": ns}
}

func TestClaims(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	mem, memTok := e.user(admin, "mike")
	_, gTok := e.user(admin, "gina")
	acme := e.org(ownerTok, "acme")
	e.member(ownerTok, "acme", mem.ID, "member")
	e.org(gTok, "globex")
	tok := apiToken(e, ownerTok, nil)

	// The edge caches what it learnt: a name looked up before its claim
	// must be hosted as soon as the claim is made.
	for _, ns := range []string{"acme-tool", "foo-bar"} {
		if e.hostedNow("npm", ns) || e.hostedNow("pypi", ns) {
			t.Fatalf("%s hosted before any claim", ns)
		}
	}

	// Creation, and how each protocol's namespace is normalized.
	created := []struct {
		name         string
		authz        string
		protocol, ns string
		status       int
		want         string // the namespace claimed, for 200 and 201
		org          string
	}{
		{"npm: unscoped name", admin, "npm", "acme-tool", 201, "acme-tool", "acme"},
		{"npm: again, held already", admin, "npm", "acme-tool", 200, "acme-tool", "acme"},
		{"npm: own scope", admin, "npm", "@acme", 201, "@acme", "acme"},
		{"npm: capitals", ownerTok, "npm", "Foo", 422, "", "acme"},
		{"npm: another organization's scope", ownerTok, "npm", "@globex", 422, "", "acme"},
		{"npm: scoped name", ownerTok, "npm", "@acme/pkg", 422, "", "acme"},
		{"npm: traversal", ownerTok, "npm", "..", 422, "", "acme"},
		{"pypi: PEP 503", admin, "pypi", "Foo.Bar", 201, "foo-bar", "acme"},
		{"pypi: invalid", ownerTok, "pypi", "-foo", 422, "", "acme"},
		{"cargo: lowercase, - as _", admin, "cargo", "Foo_bar", 201, "foo_bar", "acme"},
		{"cargo: invalid", ownerTok, "cargo", "1crate", 422, "", "acme"},
		{"rubygems: exact name", admin, "rubygems", "Acme_Gem", 201, "Acme_Gem", "acme"},
		{"maven: groupId", admin, "maven", "com.acme", 201, "com.acme", "acme"},
		{"maven: too broad", ownerTok, "maven", "com", 422, "", "acme"},
		{"maven: empty segment", ownerTok, "maven", "com..acme", 422, "", "acme"},
		{"composer: own vendor", admin, "composer", "Acme", 201, "acme", "acme"},
		{"composer: another vendor", ownerTok, "composer", "globex", 422, "", "acme"},
		{"oci: own namespace", admin, "oci", "acme", 201, "acme", "acme"},
		{"oci: another namespace", ownerTok, "oci", "initech", 422, "", "acme"},
		{"unknown protocol", ownerTok, "go", "example.com/acme", 422, "", "acme"},
		{"empty namespace", ownerTok, "npm", "", 422, "", "acme"},
		{"platform admin for the organization", admin, "rubygems", "acme-admin", 201, "acme-admin", "acme"},
		{"another organization: same name", admin, "npm", "acme-tool", 409, "", "globex"},
		{"another organization: same normal form", admin, "pypi", "FOO__bar", 409, "", "globex"},
		{"another organization: same crate", admin, "cargo", "foo-bar", 409, "", "globex"},
		{"organization owner: only platform admins claim explicitly", ownerTok, "npm", "owner-tool", 403, "", "acme"},
		{"member", memTok, "npm", "mike-tool", 403, "", "acme"},
		{"API token", tok, "npm", "token-tool", 403, "", "acme"},
		{"anonymous", "", "npm", "anon-tool", 401, "", "acme"},
	}
	for _, tc := range created {
		t.Run("create/"+tc.name, func(t *testing.T) {
			r := e.call("POST", "/organizations/"+tc.org+"/claims", tc.authz, claimBody(tc.protocol, tc.ns))
			if r.status != tc.status {
				t.Fatalf("%d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.want == "" {
				return
			}
			var cl claimItem
			r.json(t, &cl)
			if cl.Protocol != tc.protocol || cl.Namespace != tc.want || cl.OrgID != acme.ID || cl.RepoID == "" {
				t.Fatalf("claim %+v, want %s:%s of %s", cl, tc.protocol, tc.want, acme.ID)
			}
		})
	}
	if !e.hostedNow("npm", "acme-tool") || !e.hostedNow("pypi", "foo-bar") {
		t.Fatal("a new claim is not hosted at once")
	}

	// The claim names the organization's default repository of the
	// protocol, created on first use.
	var cl claimItem
	e.must(200, "POST", "/organizations/acme/claims", ownerTok, claimBody("npm", "acme-tool"), &cl)
	var repo struct{ OrgID, Name, Protocol, Visibility string }
	e.must(200, "GET", "/repositories/"+cl.RepoID, ownerTok, nil, &repo)
	if repo.OrgID != acme.ID || repo.Name != "default" || repo.Protocol != "npm" || repo.Visibility != "private" {
		t.Fatalf("claim's repository %+v", repo)
	}

	// Listing, for members, and by pages.
	want := []string{"cargo:foo_bar", "composer:acme", "maven:com.acme", "npm:@acme", "npm:acme-tool", "oci:acme", "pypi:foo-bar", "rubygems:Acme_Gem", "rubygems:acme-admin"}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		var pg page[claimItem]
		e.must(200, "GET", "/organizations/acme/claims?limit=2&cursor="+url.QueryEscape(cursor), memTok, nil, &pg)
		for _, c := range pg.Items {
			got = append(got, c.Protocol+":"+c.Namespace)
		}
		if pg.NextCursor == "" {
			break
		}
		if pages > len(want) {
			t.Fatal("paging does not end")
		}
		cursor = pg.NextCursor
	}
	if !sort.StringsAreSorted(got) || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("claims %v, want %v", got, want)
	}

	// Release.
	npmRepo := cl.RepoID
	e.publish(repoOf(npmRepo, acme.ID, "npm"), "acme-tool", "1.0.0")
	e.publish(repoOf(npmRepo, acme.ID, "npm"), "@acme/widget", "1.0.0")
	e.publish(repoOf(npmRepo, acme.ID, "npm"), "acme-tool-extra", "1.0.0") // not under acme-tool
	run(t, e, []step{
		{"list: anonymous", "GET", "/organizations/acme/claims", "", nil, 401},
		{"list: outsider", "GET", "/organizations/acme/claims", gTok, nil, 404},
		{"list: API token", "GET", "/organizations/acme/claims", tok, nil, 200},
		{"release: anonymous", "DELETE", "/organizations/acme/claims/pypi/foo-bar", "", nil, 401},
		{"release: member", "DELETE", "/organizations/acme/claims/pypi/foo-bar", memTok, nil, 403},
		{"release: outsider", "DELETE", "/organizations/acme/claims/pypi/foo-bar", gTok, nil, 404},
		{"release: through another organization", "DELETE", "/organizations/globex/claims/pypi/foo-bar", gTok, nil, 404},
		{"release: by the name as written", "DELETE", "/organizations/acme/claims/pypi/" + url.PathEscape("Foo.Bar"), ownerTok, nil, 204},
		{"release: gone", "DELETE", "/organizations/acme/claims/pypi/foo-bar", ownerTok, nil, 404},
		{"claim released is free for others", "POST", "/organizations/globex/claims", admin, claimBody("pypi", "foo_bar"), 201},
		{"release: packages under it", "DELETE", "/organizations/acme/claims/npm/acme-tool", ownerTok, nil, 409},
		{"release: packages under the scope", "DELETE", "/organizations/acme/claims/npm/" + url.PathEscape("@acme"), ownerTok, nil, 409},
		{"release: force, not platform admin", "DELETE", "/organizations/acme/claims/npm/acme-tool?force=true", ownerTok, nil, 403},
		{"release: force", "DELETE", "/organizations/acme/claims/npm/acme-tool?force=true", admin, nil, 204},
		{"release: escaped scope", "DELETE", "/organizations/acme/claims/npm/%40acme?force=true", admin, nil, 204},
		{"release: crate by another spelling", "DELETE", "/organizations/acme/claims/cargo/FOO-BAR", ownerTok, nil, 204},
	})
	if !e.hostedNow("pypi", "foo-bar") || e.hostedNow("npm", "acme-tool") || e.hostedNow("npm", "@acme") || e.hostedNow("cargo", "foo_bar") {
		t.Fatal("a release is not seen at once")
	}
	ctx := context.Background()
	for _, name := range []string{"acme-tool", "@acme/widget"} {
		if _, err := e.reg.Catalog.Package(ctx, "npm", name); !fault.Is(err, fault.NotFound) {
			t.Errorf("forced release left %s: %v", name, err)
		}
	}
	if _, err := e.reg.Catalog.Package(ctx, "npm", "acme-tool-extra"); err != nil {
		t.Errorf("a package outside the claim went with it: %v", err)
	}

	e.flush()
	for action, wantN := range map[string]int{"claim.create": 12, "claim.release": 4} {
		var log page[entry]
		e.must(200, "GET", "/audit?limit=1000&action="+action, admin, nil, &log)
		n := 0
		for _, en := range log.Items {
			if en.Outcome == "success" {
				n++
			}
		}
		if n != wantN {
			t.Errorf("%d successful %s entries, want %d", n, action, wantN)
		}
	}
}

// repoOf is enough of a repository for env.publish.
func repoOf(id, orgID, protocol string) auth.Repository {
	return auth.Repository{ID: id, OrgID: orgID, Protocol: protocol}
}

func TestDeleteOrgReleasesClaims(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	e.org(ownerTok, "acme")
	e.org(ownerTok, "empty")
	var cl claimItem
	e.must(201, "POST", "/organizations/acme/claims", admin, claimBody("npm", "acme-tool"), &cl)
	e.must(201, "POST", "/organizations/acme/claims", admin, claimBody("pypi", "acme-tools"), nil)
	e.must(201, "POST", "/organizations/empty/claims", admin, claimBody("cargo", "empty-crate"), nil)
	e.publish(repoOf(cl.RepoID, cl.OrgID, "npm"), "acme-tool", "1.0.0")

	run(t, e, []step{
		{"holding packages", "DELETE", "/organizations/acme", ownerTok, nil, 409},
		{"forced", "DELETE", "/organizations/acme?force=true", admin, nil, 204},
		{"without packages", "DELETE", "/organizations/empty", ownerTok, nil, 204},
	})
	ctx := context.Background()
	for _, c := range []hosted.Claim{{Protocol: "npm", Namespace: "acme-tool"}, {Protocol: "pypi", Namespace: "acme-tools"}, {Protocol: "cargo", Namespace: "empty_crate"}} {
		if _, err := e.reg.Catalog.ClaimOf(ctx, c.Protocol, c.Namespace); !fault.Is(err, fault.NotFound) {
			t.Errorf("%s:%s still claimed: %v", c.Protocol, c.Namespace, err)
		}
		if e.hostedNow(c.Protocol, c.Namespace) {
			t.Errorf("%s:%s still hosted", c.Protocol, c.Namespace)
		}
	}
	// The names are anyone's again.
	e.org(admin, "globex")
	e.must(201, "POST", "/organizations/globex/claims", admin, claimBody("npm", "acme-tool"), nil)
}

func TestDeleteRepoReleasesClaims(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	e.org(ownerTok, "acme")
	var npmClaim, pypiClaim claimItem
	e.must(201, "POST", "/organizations/acme/claims", admin, claimBody("npm", "acme-tool"), &npmClaim)
	e.must(201, "POST", "/organizations/acme/claims", admin, claimBody("pypi", "acme-tools"), &pypiClaim)
	run(t, e, []step{
		{"delete the npm repository", "DELETE", "/repositories/" + npmClaim.RepoID, ownerTok, nil, 204},
	})
	ctx := context.Background()
	if _, err := e.reg.Catalog.ClaimOf(ctx, "npm", "acme-tool"); !fault.Is(err, fault.NotFound) || e.hostedNow("npm", "acme-tool") {
		t.Errorf("npm:acme-tool still claimed: %v", err)
	}
	if _, err := e.reg.Catalog.ClaimOf(ctx, "pypi", "acme-tools"); err != nil || !e.hostedNow("pypi", "acme-tools") {
		t.Errorf("another repository's claim was released: %v", err)
	}
	// The name is anyone's again.
	e.org(admin, "globex")
	e.must(201, "POST", "/organizations/globex/claims", admin, claimBody("npm", "acme-tool"), nil)
}
