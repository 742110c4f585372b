package maven_test

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestCleanupSnapshots deploys three builds of a SNAPSHOT and a release
// with the real mvn, sets a repository cleanup policy keeping one build,
// runs it through the API, and checks that the generated metadata lists
// the newest build only, the older builds' files are gone, the release
// stays, and mvn still resolves the SNAPSHOT to the newest build.
func TestCleanupSnapshots(t *testing.T) {
	testkit.RequireTool(t, "mvn")
	s := testkit.Start(t, "CLEANUP_INTERVAL=0")
	bearer := s.OrgMember(t, "acme", "alice", alicePassword, "admin")
	token := s.Token(t, bearer, []string{"maven"}, nil, nil)
	repo := s.URL + "/maven2"

	work := t.TempDir()
	debian := `<mirror><id>debian</id><mirrorOf>*,!entrepot</mirrorOf><url>file://` + debianRepo + `</url></mirror>`
	deploySettings := settings(t, filepath.Join(work, "deployer"), debian, alicePassword)
	deployTo := "-DaltDeploymentRepository=entrepot::" + repo

	lib := filepath.Join(work, "lib")
	project(t, lib, "lib", "1.0.0", "release", "")
	mustMvn(t, lib, deploySettings, "deploy", deployTo)
	snap := filepath.Join(work, "snap")
	project(t, snap, "snap", "2.0-SNAPSHOT", "build 1", "")
	for i := 1; i <= 3; i++ {
		testkit.WriteFile(t, filepath.Join(snap, "src/main/resources/marker.txt"), "build "+string(rune('0'+i)))
		mustMvn(t, snap, deploySettings, "deploy", deployTo)
	}
	newest, err := os.ReadFile(filepath.Join(snap, "target/snap-2.0-SNAPSHOT.jar"))
	if err != nil {
		t.Fatal(err)
	}
	metaURL := repo + "/com/acme/snap/2.0-SNAPSHOT/maven-metadata.xml"
	st, _, meta := call(t, "GET", metaURL, "alice", token, nil)
	if st != 200 || !bytes.Contains(meta, []byte("<buildNumber>3</buildNumber>")) {
		t.Fatalf("snapshot metadata: %d\n%s", st, meta)
	}
	// The files of builds 1 and 2, from the API's list of versions.
	var vs struct {
		Items []struct {
			Version string
			Files   []struct{ Name string }
		}
	}
	if st, raw := s.API("GET", "/packages/"+url.PathEscape("maven:com.acme:snap")+"/versions", bearer, nil, &vs); st != http.StatusOK {
		t.Fatalf("versions: %d %s", st, raw)
	}
	var oldJars []string
	old := regexp.MustCompile(`-[0-9]{8}\.[0-9]{6}-[12]\.jar$`)
	for _, v := range vs.Items {
		if len(v.Files) == 1 && old.MatchString(v.Files[0].Name) {
			oldJars = append(oldJars, "/"+strings.TrimPrefix(v.Files[0].Name, "/"))
		}
	}
	if len(oldJars) != 2 {
		t.Fatalf("jars of builds 1 and 2: %v in %+v", oldJars, vs)
	}

	var repos struct {
		Items []struct{ ID, Protocol string }
	}
	s.API("GET", "/organizations/acme/repositories", bearer, nil, &repos)
	id := ""
	for _, r := range repos.Items {
		if r.Protocol == "maven" {
			id = r.ID
		}
	}
	base := "/repositories/" + id + "/cleanup"
	if st, raw := s.API("PUT", base, bearer, map[string]any{"keep": 1}, nil); st != http.StatusOK {
		t.Fatalf("set policy: %d %s", st, raw)
	}
	var rep struct {
		Count   int
		Deleted []struct{ Version string }
	}
	if st, raw := s.API("POST", base+"/run", token, nil, &rep); st != http.StatusOK {
		t.Fatalf("run: %d %s", st, raw)
	}
	for _, d := range rep.Deleted {
		if !strings.HasPrefix(d.Version, "2.0-SNAPSHOT/") || strings.Contains(d.Version, "-3.") || strings.Contains(d.Version, "-3-") {
			t.Fatalf("deleted %s, not an old build of 2.0-SNAPSHOT: %+v", d.Version, rep)
		}
	}
	if rep.Count < 4 { // at least the jar and the pom of two builds
		t.Fatalf("report %+v, want builds 1 and 2's files", rep)
	}

	st, _, meta = call(t, "GET", metaURL, "alice", token, nil)
	if st != 200 || !bytes.Contains(meta, []byte("<buildNumber>3</buildNumber>")) || regexp.MustCompile(`<value>2\.0-[0-9.]+-[12]</value>`).Match(meta) {
		t.Fatalf("snapshot metadata after cleanup: %d\n%s", st, meta)
	}
	for _, p := range oldJars {
		if st, _, _ := call(t, "GET", repo+p, "alice", token, nil); st != http.StatusNotFound {
			t.Fatalf("GET %s after cleanup: %d", p, st)
		}
	}
	if st, _, _ := call(t, "GET", repo+"/com/acme/lib/1.0.0/lib-1.0.0.jar", "alice", token, nil); st != http.StatusOK {
		t.Fatalf("the release went: %d", st)
	}

	consumer := filepath.Join(work, "app")
	project(t, consumer, "app", "1.0.0", "app", `<repositories><repository><id>entrepot</id><url>`+repo+`</url></repository></repositories>
  <dependencies>
    <dependency><groupId>com.acme</groupId><artifactId>snap</artifactId><version>2.0-SNAPSHOT</version></dependency>
  </dependencies>`)
	mustMvn(t, consumer, settings(t, filepath.Join(work, "consumer"), debian, token), "dependency:copy-dependencies")
	got, err := os.ReadFile(filepath.Join(consumer, "target/dependency/snap-2.0-SNAPSHOT.jar"))
	if err != nil || !bytes.Equal(got, newest) {
		t.Fatalf("mvn did not resolve the newest build after cleanup: %v", err)
	}
}
