package maven_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// debianRepo is the Maven repository tree Debian's Java packages install
// (deploy/testenv/clients/maven.sh): the tests' offline "central".
const debianRepo = "/usr/share/maven-repo"

const alicePassword = "alice-password-0123"

// plugins pins every plugin a build needs to the version Debian ships.
const plugins = `<build><plugins>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-resources-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-compiler-plugin</artifactId><version>3.10.1</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-surefire-plugin</artifactId><version>2.22.3</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-jar-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-install-plugin</artifactId><version>3.1.0</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-deploy-plugin</artifactId><version>3.0.0</version></plugin>
    <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.5.0</version></plugin>
  </plugins></build>`

// project writes a small jar project; extra goes into <project>.
func project(t *testing.T, dir, artifact, version, marker, extra string) {
	t.Helper()
	pom := `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.acme</groupId><artifactId>` + artifact + `</artifactId><version>` + version + `</version>
  <properties><maven.compiler.source>11</maven.compiler.source><maven.compiler.target>11</maven.compiler.target><project.build.sourceEncoding>UTF-8</project.build.sourceEncoding></properties>
  ` + extra + plugins + `
</project>`
	testkit.WriteFile(t, filepath.Join(dir, "pom.xml"), pom)
	testkit.WriteFile(t, filepath.Join(dir, "src/main/resources/marker.txt"), marker)
}

// settings writes a settings.xml: its own local repository, mirrors, and
// the entrepot server's credentials.
func settings(t *testing.T, dir, mirrors, password string) string {
	p := filepath.Join(dir, "settings.xml")
	testkit.WriteFile(t, p, `<settings>
  <localRepository>`+filepath.Join(dir, "repo")+`</localRepository>
  <mirrors>`+mirrors+`</mirrors>
  <servers><server><id>entrepot</id><username>alice</username><password>`+password+`</password></server></servers>
</settings>`)
	return p
}

// mvnEnv is the environment of every mvn run: a JVM that starts fast.
var mvnEnv = testkit.Env(nil, "MAVEN_OPTS=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")

func mvn(t *testing.T, dir, settings string, args ...string) (string, error) {
	t.Helper()
	return testkit.Run(t, dir, mvnEnv, testkit.RequireTool(t, "mvn"), append([]string{"-B", "-q", "-s", settings}, args...)...)
}

func mustMvn(t *testing.T, dir, settings string, args ...string) {
	t.Helper()
	testkit.MustRun(t, dir, mvnEnv, testkit.RequireTool(t, "mvn"), append([]string{"-B", "-q", "-s", settings}, args...)...)
}

// call makes one HTTP request with Basic credentials (user "" for none).
func call(t *testing.T, method, url, user, pass string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	resp, b := testkit.Request(t, method, url, body, "Authorization", testkit.Basic(user, pass))
	return resp.StatusCode, resp.Header, b
}

func sha1Hex(b []byte) string { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }

// TestDeployAndResolve drives real mvn against the binary: a release and
// two SNAPSHOT builds deployed with credentials in settings.xml, then a
// second project resolving them; then the protocol's guards over HTTP.
func TestDeployAndResolve(t *testing.T) {
	testkit.RequireTool(t, "mvn")
	up := testkit.NewUpstream(t)
	s := testkit.Start(t, "UPSTREAM_MAVEN="+up.URL+"/", "ENABLE_UPSTREAM_CACHE=false")
	token := s.Token(t, s.OrgMember(t, "acme", "alice", alicePassword, "admin"), []string{"maven"}, nil, nil)
	repo := s.URL + "/maven2"

	work := t.TempDir()
	debian := `<mirror><id>debian</id><mirrorOf>*,!entrepot</mirrorOf><url>file://` + debianRepo + `</url></mirror>`
	// The deployer authenticates with the password, the consumer with a token.
	deploySettings := settings(t, filepath.Join(work, "deployer"), debian, alicePassword)
	consumeSettings := settings(t, filepath.Join(work, "consumer"), debian, token)
	deployTo := "-DaltDeploymentRepository=entrepot::" + repo

	t.Run("mvn deploy and resolve", func(t *testing.T) {
		lib := filepath.Join(work, "lib")
		project(t, lib, "lib", "1.0.0", "release", "")
		mustMvn(t, lib, deploySettings, "deploy", deployTo)

		snap := filepath.Join(work, "snap")
		project(t, snap, "snap", "1.1.0-SNAPSHOT", "build one", "")
		mustMvn(t, snap, deploySettings, "deploy", deployTo)
		testkit.WriteFile(t, filepath.Join(snap, "src/main/resources/marker.txt"), "build two")
		mustMvn(t, snap, deploySettings, "deploy", deployTo)
		second, err := os.ReadFile(filepath.Join(snap, "target/snap-1.1.0-SNAPSHOT.jar"))
		if err != nil {
			t.Fatal(err)
		}

		st, _, meta := call(t, "GET", repo+"/com/acme/snap/1.1.0-SNAPSHOT/maven-metadata.xml", "alice", token, nil)
		if st != 200 || !bytes.Contains(meta, []byte("<buildNumber>2</buildNumber>")) {
			t.Fatalf("snapshot metadata: %d\n%s", st, meta)
		}
		st, _, meta = call(t, "GET", repo+"/com/acme/lib/maven-metadata.xml", "alice", token, nil)
		if st != 200 || !bytes.Contains(meta, []byte("<release>1.0.0</release>")) {
			t.Fatalf("artifact metadata: %d\n%s", st, meta)
		}

		// The release is immutable: mvn says why.
		out, err := mvn(t, lib, deploySettings, "deploy", deployTo)
		if err == nil || !strings.Contains(out, "409") || !strings.Contains(out, "immutable") {
			t.Fatalf("redeploy of a release: err %v\n%s", err, out)
		}

		consumer := filepath.Join(work, "app")
		project(t, consumer, "app", "1.0.0", "app", `<repositories><repository><id>entrepot</id><url>`+repo+`</url></repository></repositories>
  <dependencies>
    <dependency><groupId>com.acme</groupId><artifactId>lib</artifactId><version>1.0.0</version></dependency>
    <dependency><groupId>com.acme</groupId><artifactId>snap</artifactId><version>1.1.0-SNAPSHOT</version></dependency>
  </dependencies>`)
		mustMvn(t, consumer, consumeSettings, "dependency:copy-dependencies")
		got, err := os.ReadFile(filepath.Join(consumer, "target/dependency/snap-1.1.0-SNAPSHOT.jar"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, second) {
			t.Fatal("the consumer did not resolve the newest snapshot build")
		}
		if _, err := os.Stat(filepath.Join(consumer, "target/dependency/lib-1.0.0.jar")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("access", func(t *testing.T) {
		st, h, _ := call(t, "GET", repo+"/com/acme/lib/1.0.0/lib-1.0.0.pom", "", "", nil)
		if st != 401 || h.Get("WWW-Authenticate") != `Basic realm="entrepot"` {
			t.Fatalf("anonymous read of private content: %d %q", st, h.Get("WWW-Authenticate"))
		}
		st, h, _ = call(t, "PUT", repo+"/com/acme/lib/9.0/lib-9.0.jar", "", "", []byte("x"))
		if st != 401 || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("anonymous deploy: %d", st)
		}
		st, _, _ = call(t, "GET", repo+"/com/acme/lib/1.0.0/lib-1.0.0.pom", "alice", "wrong", nil)
		if st != 401 {
			t.Fatalf("bad password: %d", st)
		}
		st, _, body := call(t, "GET", repo+"/com/acme/lib/1.0.0/lib-1.0.0.pom.sha1", "alice", token, nil)
		_, _, pom := call(t, "GET", repo+"/com/acme/lib/1.0.0/lib-1.0.0.pom", "alice", alicePassword, nil)
		if st != 200 || string(body) != sha1Hex(pom) {
			t.Fatalf("pom.sha1: %d %s, want %s", st, body, sha1Hex(pom))
		}
	})

	t.Run("concurrent deploys", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := fmt.Sprintf("2.%d", i)
				base := repo + "/com/acme/conc/" + v + "/conc-" + v
				pom := `<project><modelVersion>4.0.0</modelVersion><groupId>com.acme</groupId><artifactId>conc</artifactId><version>` + v + `</version></project>`
				meta := `<metadata><groupId>com.acme</groupId><artifactId>conc</artifactId><versioning><versions><version>` + v + `</version></versions></versioning></metadata>`
				for _, p := range []struct{ url, body string }{
					{base + ".pom", pom}, {base + ".jar", "jar " + v}, {base + ".jar.sha1", sha1Hex([]byte("jar " + v))},
					{repo + "/com/acme/conc/maven-metadata.xml", meta},
				} {
					if st, _, b := call(t, "PUT", p.url, "alice", token, []byte(p.body)); st != 201 {
						errs <- fmt.Sprintf("PUT %s: %d %s", p.url, st, b)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		_, _, meta := call(t, "GET", repo+"/com/acme/conc/maven-metadata.xml", "alice", token, nil)
		for i := range n {
			if !bytes.Contains(meta, fmt.Appendf(nil, "<version>2.%d</version>", i)) {
				t.Errorf("version 2.%d missing:\n%s", i, meta)
			}
		}
	})

	t.Run("bad input", func(t *testing.T) {
		pom := func(g, a, v string) []byte {
			return []byte(`<project><modelVersion>4.0.0</modelVersion><groupId>` + g + `</groupId><artifactId>` + a + `</artifactId><version>` + v + `</version></project>`)
		}
		cases := []struct {
			name, method, path string
			body               []byte
			status             int
			message            string
			absent             string // a path that must still answer 404 afterwards
		}{
			{"POM coordinates disagree with the path", "PUT", "/com/acme/lib/3.0/lib-3.0.pom", pom("com.other", "lib", "3.0"), 400, "do not match", "/com/acme/lib/3.0/lib-3.0.pom"},
			{"malformed POM", "PUT", "/com/acme/lib/3.1/lib-3.1.pom", []byte("<project><groupId>com.acme"), 400, "not well-formed", "/com/acme/lib/3.1/lib-3.1.pom"},
			{"malformed metadata", "PUT", "/com/acme/lib/maven-metadata.xml", []byte("<metadata><groupId>"), 400, "not well-formed", ""},
			{"metadata listing an unknown version", "PUT", "/com/acme/lib/maven-metadata.xml",
				[]byte(`<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><versioning><versions><version>7.7</version></versions></versioning></metadata>`), 400, "never deployed", ""},
			{"redeploy of a release", "PUT", "/com/acme/lib/1.0.0/lib-1.0.0.jar", []byte("other bytes"), 409, "immutable", ""},
			{"plain SNAPSHOT file name", "PUT", "/com/acme/snap/1.2-SNAPSHOT/snap-1.2-SNAPSHOT.jar", []byte("x"), 400, "timestamped", "/com/acme/snap/1.2-SNAPSHOT/snap-1.2-SNAPSHOT.jar"},
			{"hidden segment", "PUT", "/com/acme/lib/1.0.0/.lib-1.0.0.jar", []byte("x"), 400, "not allowed", ""},
			{"file name disagrees with its version", "PUT", "/com/acme/lib/4.0/lib-5.0.jar", []byte("x"), 400, "does not match", ""},
			{"checksum of nothing", "PUT", "/com/acme/lib/4.0/lib-4.0.jar.sha1", []byte(sha1Hex(nil)), 400, "not deployed", ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				st, h, b := call(t, c.method, repo+c.path, "alice", token, c.body)
				if st != c.status || !strings.Contains(string(b), c.message) {
					t.Fatalf("%d %s, want %d with %q", st, b, c.status, c.message)
				}
				if c.absent != "" {
					if st, _, _ := call(t, "GET", repo+c.absent, "alice", token, nil); st != 404 {
						t.Fatalf("%s answers %d after a refused deploy", c.absent, st)
					}
				}
				_ = h
			})
		}

		t.Run("checksum mismatch", func(t *testing.T) {
			jar := repo + "/com/acme/bad/1.0/bad-1.0.jar"
			if st, _, b := call(t, "PUT", jar, "alice", token, []byte("bytes that got corrupted")); st != 201 {
				t.Fatalf("PUT jar: %d %s", st, b)
			}
			st, _, b := call(t, "PUT", jar+".sha1", "alice", token, []byte(sha1Hex([]byte("the bytes the client sent"))))
			if st != 400 || !strings.Contains(string(b), "checksum mismatch") {
				t.Fatalf("PUT bad sha1: %d %s", st, b)
			}
			if st, _, _ := call(t, "GET", jar, "alice", token, nil); st != 404 {
				t.Fatalf("a corrupted upload is still served: %d", st)
			}
		})

		t.Run("path traversal", func(t *testing.T) {
			for _, p := range []string{"/maven2/com/acme/%2e%2e/%2e%2e/secrets.json", "/maven2/com/acme/lib/..%2f..%2f..%2fsecrets.json", "/maven2/..;/secrets.json"} {
				conn, err := net.Dial("tcp", s.Host())
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", p)
				resp, _ := io.ReadAll(conn)
				conn.Close()
				status := string(resp[:min(len(resp), 12)])
				if !strings.HasPrefix(status, "HTTP/1.1 400") && !strings.HasPrefix(status, "HTTP/1.1 404") {
					t.Errorf("GET %s: %s", p, resp)
				}
				if bytes.Contains(resp, []byte("JWT_SECRET")) {
					t.Errorf("GET %s leaked a file", p)
				}
			}
		})
	})

	t.Run("dependency confusion", func(t *testing.T) {
		up.Handle("/com/acme/lib/9.9.9/lib-9.9.9.jar", []byte("evil"))
		up.Handle("/com/acme/lib/9.9.9/lib-9.9.9.jar.sha1", []byte(sha1Hex([]byte("evil"))))
		if st, _, _ := call(t, "GET", repo+"/com/acme/lib/9.9.9/lib-9.9.9.jar", "alice", token, nil); st != 404 {
			t.Fatalf("claimed group resolved: %d", st)
		}
		if st, _, _ := call(t, "GET", repo+"/com/acme/tools/x/1.0/x-1.0.jar", "alice", token, nil); st != 404 {
			t.Fatalf("deeper groupId of a claimed prefix resolved: %d", st)
		}
		if n := up.Hits("/com/acme/lib/9.9.9/lib-9.9.9.jar") + up.Hits("/com/acme/tools/x/1.0/x-1.0.jar"); n != 0 {
			t.Fatalf("claimed groupIds went upstream %d times", n)
		}
		// Claiming a groupId the upstream has would hide it from everyone.
		up.Handle("/org/public/lib/maven-metadata.xml", []byte("<metadata/>"))
		st, _, b := call(t, "PUT", repo+"/org/public/lib/1.0/lib-1.0.jar", "alice", token, []byte("x"))
		if st != 409 || !strings.Contains(string(b), "upstream") {
			t.Fatalf("shadowing deploy: %d %s", st, b)
		}
	})

	t.Run("mirror: stampede, corruption, negative cache, stale metadata", func(t *testing.T) {
		jar := bytes.Repeat([]byte("cold jar "), 20000)
		up.Handle("/org/example/big/1.0/big-1.0.jar", jar, func(r *testkit.Route) { r.Delay = 300 * time.Millisecond })
		up.Handle("/org/example/big/1.0/big-1.0.jar.sha1", []byte(sha1Hex(jar)+"  big-1.0.jar\n"))
		for _, b := range testkit.Stampede(100, repo+"/org/example/big/1.0/big-1.0.jar", jar) {
			t.Error(b)
		}
		if n := up.Hits("/org/example/big/1.0/big-1.0.jar"); n != 1 {
			t.Errorf("100 concurrent misses made %d upstream requests", n)
		}
		if st, _, b := call(t, "GET", repo+"/org/example/big/1.0/big-1.0.jar.sha512", "", "", nil); st != 200 || len(b) != 128 {
			t.Errorf("sha512 of a mirrored file: %d %s", st, b)
		}

		up.Handle("/org/example/bad/1.0/bad-1.0.jar", jar, func(r *testkit.Route) { r.Corrupt = true })
		up.Handle("/org/example/bad/1.0/bad-1.0.jar.sha1", []byte(sha1Hex(jar)))
		if st, _, _ := call(t, "GET", repo+"/org/example/bad/1.0/bad-1.0.jar", "", "", nil); st != 502 {
			t.Errorf("corrupt upstream bytes: %d", st)
		}
		up.Handle("/org/example/bad/1.0/bad-1.0.jar", jar)
		if st, _, b := call(t, "GET", repo+"/org/example/bad/1.0/bad-1.0.jar", "", "", nil); st != 200 || !bytes.Equal(b, jar) {
			t.Errorf("after the upstream recovered: %d", st)
		}

		for range 3 {
			if st, _, _ := call(t, "GET", repo+"/org/example/none/1.0/none-1.0.pom", "", "", nil); st != 404 {
				t.Errorf("missing upstream file: %d", st)
			}
		}
		if n := up.Hits("/org/example/none/1.0/none-1.0.pom"); n != 1 {
			t.Errorf("404 not cached: %d upstream requests", n)
		}

		meta := []byte("<metadata><groupId>org.example</groupId><artifactId>big</artifactId></metadata>")
		up.Handle("/org/example/big/maven-metadata.xml", meta, func(r *testkit.Route) { r.ETag = `"m1"` })
		if st, _, b := call(t, "GET", repo+"/org/example/big/maven-metadata.xml", "", "", nil); st != 200 || !bytes.Equal(b, meta) {
			t.Fatalf("metadata: %d %s", st, b)
		}
		up.Down()
		defer up.Up()
		if st, _, b := call(t, "GET", repo+"/org/example/big/maven-metadata.xml", "", "", nil); st != 200 || !bytes.Equal(b, meta) {
			t.Fatalf("stale metadata with the upstream down: %d %s", st, b)
		}
		if st, _, b := call(t, "GET", repo+"/org/example/big/maven-metadata.xml.sha1", "", "", nil); st != 200 || string(b) != sha1Hex(meta) {
			t.Fatalf("metadata sha1: %d %s", st, b)
		}
	})
}

// TestMirror resolves a real dependency tree (plugins included) through
// Entrepot from a real web server over Debian's Maven repository, then
// builds again with the upstream stopped and an empty local repository.
func TestMirror(t *testing.T) {
	testkit.RequireTool(t, "mvn")
	tree := t.TempDir()
	upstreamTree(t, tree)
	up := testkit.StaticServer(t, tree)

	s := testkit.Start(t, "UPSTREAM_MAVEN="+up.URL+"/")
	work := t.TempDir()
	app := filepath.Join(work, "app")
	project(t, app, "app", "1.0.0", "app", `<dependencies>
    <dependency><groupId>org.apache.commons</groupId><artifactId>commons-text</artifactId><version>1.10.0</version></dependency>
  </dependencies>`)
	testkit.WriteFile(t, filepath.Join(app, "src/main/java/com/acme/App.java"),
		"package com.acme; public class App { public static String hi() { return org.apache.commons.text.WordUtils.capitalize(\"hi there\"); } }")
	mirror := `<mirror><id>entrepot</id><mirrorOf>*</mirrorOf><url>` + s.URL + `/maven2</url></mirror>`

	mustMvn(t, app, settings(t, filepath.Join(work, "first"), mirror, ""), "package")
	up.Stop()
	mustMvn(t, app, settings(t, filepath.Join(work, "second"), mirror, ""), "package")
	if _, err := os.Stat(filepath.Join(work, "second/repo/org/apache/commons/commons-lang3")); err != nil {
		t.Fatal("the transitive dependency was not resolved from the cache:", err)
	}
}

// upstreamTree lays Debian's Maven repository out as a remote repository:
// links to its files, each with the .sha1 a real repository publishes.
func upstreamTree(t *testing.T, dst string) {
	t.Helper()
	err := filepath.WalkDir(debianRepo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(debianRepo, p)
		fi, err := os.Stat(p) // follows Debian's links into /usr/share/java
		if err != nil || fi.IsDir() {
			if d.Type()&fs.ModeSymlink != 0 && err == nil {
				return nil // a linked directory: its real one is walked too
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
		return os.WriteFile(out+".sha1", []byte(sha1Hex(b)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
