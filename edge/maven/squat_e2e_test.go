package maven_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestSquatAboveAnotherClaim drives real mvn: a first deploy never claims
// a groupId above or below another organization's claim, a two-segment
// groupId is the organization's own or a platform admin's decision, and
// groupIds that differ in case are one claim.
func TestSquatAboveAnotherClaim(t *testing.T) {
	testkit.RequireTool(t, "mvn")
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	for _, m := range []struct{ org, user string }{{"acme", "alice"}, {"rival", "bob"}} {
		s.CreateOrg(t, admin, m.org)
		s.AddMember(t, admin, m.org, s.CreateUser(t, admin, m.user, alicePassword), "owner")
	}
	repo := s.URL + "/maven2"
	work := t.TempDir()
	debian := `<mirror><id>debian</id><mirrorOf>*,!entrepot</mirrorOf><url>file://` + debianRepo + `</url></mirror>`
	as := map[string]string{"alice": settings(t, filepath.Join(work, "alice"), debian, alicePassword)}
	// settings names alice; bob deploys as bob.
	b, err := os.ReadFile(as["alice"])
	if err != nil {
		t.Fatal(err)
	}
	as["bob"] = filepath.Join(work, "bob-settings.xml")
	testkit.WriteFile(t, as["bob"], strings.NewReplacer("<username>alice</username>", "<username>bob</username>",
		filepath.Join(work, "alice", "repo"), filepath.Join(work, "bob", "repo")).Replace(string(b)))
	deploy := func(user, group, artifact string) (string, error) {
		t.Helper()
		dir := filepath.Join(work, user+"-"+group+"-"+artifact)
		testkit.WriteFile(t, filepath.Join(dir, "pom.xml"), `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>`+group+`</groupId><artifactId>`+artifact+`</artifactId><version>1.0.0</version>
  `+plugins+`
</project>`)
		testkit.WriteFile(t, filepath.Join(dir, "src/main/resources/marker.txt"), group)
		return mvn(t, dir, as[user], "deploy", "-DaltDeploymentRepository=entrepot::"+repo)
	}
	mustDeploy := func(user, group, artifact string) {
		t.Helper()
		if out, err := deploy(user, group, artifact); err != nil {
			t.Fatalf("%s deploys %s:%s: %v\n%s", user, group, artifact, err, out)
		}
	}
	refused := func(user, group, artifact, status, says string) {
		t.Helper()
		out, err := deploy(user, group, artifact)
		if err == nil || !strings.Contains(out, status) || !strings.Contains(out, says) {
			t.Fatalf("%s deploys %s:%s: err %v, want %s saying %q\n%s", user, group, artifact, err, status, says, out)
		}
	}
	claims := func(org string) string {
		t.Helper()
		var cl struct{ Items []struct{ Namespace string } }
		if st, raw := s.API("GET", "/organizations/"+org+"/claims", admin, nil, &cl); st != 200 {
			t.Fatalf("claims: %d %s", st, raw)
		}
		var ns []string
		for _, it := range cl.Items {
			ns = append(ns, it.Namespace)
		}
		return strings.Join(ns, ",")
	}

	mustDeploy("alice", "com.acme.tools", "lib")
	// The probe's case: rival deploys com.acme:x, which would claim
	// com.acme above acme's com.acme.tools.
	refused("bob", "com.acme", "x", "403", "too broad")
	// Below acme's claim, in any case: that is acme's groupId.
	refused("bob", "com.acme.tools.x", "x", "403", "not permitted")
	refused("bob", "com.Acme.Tools", "x", "403", "not permitted")
	// And the reverse: rival holds a deep groupId first, acme cannot take
	// the one above it by deploying.
	mustDeploy("bob", "org.shared.tools.core", "lib")
	refused("alice", "org.shared.tools", "lib", "409", "overlaps")
	// Its own two-segment groupId, an organization takes.
	mustDeploy("alice", "com.acme", "base")
	if got, want := claims("acme"), "com.acme,com.acme.tools"; got != want {
		t.Fatalf("acme claims %s, want %s", got, want)
	}
	if got, want := claims("rival"), "org.shared.tools.core"; got != want {
		t.Fatalf("rival claims %s, want %s", got, want)
	}
}
