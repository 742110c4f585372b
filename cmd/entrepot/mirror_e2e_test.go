package main

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// mirrorFixture is one protocol's upstream content on the shared fake
// upstream, and the edge reads a client would make of it.
type mirrorFixture struct {
	protocol string
	env      string // the UPSTREAM_ variable, with its value's prefix ("dist=" for OCI)
	path     string // the upstream base URL's path
	// reads are the edge paths read in order, each with its Accept; a
	// read may name a path found in an earlier answer (next).
	reads []mirrorRead
}

type mirrorRead struct {
	path, accept string
	// next, when set, derives the following read's path from this body.
	next func(t *testing.T, body []byte) string
}

func hexSum(b []byte, h func([]byte) []byte) string { return hex.EncodeToString(h(b)) }
func sum256(b []byte) []byte                        { s := sha256.Sum256(b); return s[:] }
func sum1(b []byte) []byte                          { s := sha1.Sum(b); return s[:] }
func sumMD5(b []byte) []byte                        { s := md5.Sum(b); return s[:] }

// mirrorFixtures programs up with a small package per protocol.
func mirrorFixtures(t *testing.T, up *testkit.Upstream) []mirrorFixture {
	u := up.URL
	jsonType := func(r *testkit.Route) { r.ContentType = "application/json" }

	// npm: a packument and its tarball.
	tgz := []byte("npm tarball bytes of left-pad 1.0.0")
	s512 := sha512.Sum512(tgz)
	packument, _ := json.Marshal(map[string]any{
		"name": "left-pad", "dist-tags": map[string]string{"latest": "1.0.0"},
		"versions": map[string]any{"1.0.0": map[string]any{"name": "left-pad", "version": "1.0.0",
			"dist": map[string]string{"tarball": u + "/npm-files/left-pad-1.0.0.tgz", "integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:])}}},
	})
	up.Handle("/npm/left-pad", packument, jsonType, func(r *testkit.Route) { r.ETag = `"p1"` })
	up.Handle("/npm-files/left-pad-1.0.0.tgz", tgz)

	// PyPI: a simple page and the wheel it links.
	whl := []byte("wheel bytes of demo 1.0")
	page := fmt.Sprintf(`<!DOCTYPE html><html><body><a href="../../files/demo-1.0-py3-none-any.whl#sha256=%s">demo-1.0-py3-none-any.whl</a></body></html>`, hexSum(whl, sum256))
	up.Handle("/pypi/simple/demo/", []byte(page), func(r *testkit.Route) { r.ContentType = "text/html" })
	up.Handle("/pypi/files/demo-1.0-py3-none-any.whl", whl)

	// Cargo: config.json, an index file and the crate.
	crate := []byte("crate bytes of demo 0.1.0")
	up.Handle("/cargo/index/config.json", []byte(`{"dl":"`+u+`/cargo/dl/{crate}/{version}.crate"}`), jsonType)
	up.Handle("/cargo/index/de/mo/demo", []byte(`{"name":"demo","vers":"0.1.0","deps":[],"cksum":"`+hexSum(crate, sum256)+`","features":{},"yanked":false}`+"\n"))
	up.Handle("/cargo/dl/demo/0.1.0.crate", crate)

	// Maven: maven-metadata.xml, a jar and its .sha1.
	jar := []byte("jar bytes of org.acme:demo:1.0")
	up.Handle("/maven/org/acme/demo/maven-metadata.xml", []byte(`<metadata><groupId>org.acme</groupId><artifactId>demo</artifactId><versioning><latest>1.0</latest><versions><version>1.0</version></versions></versioning></metadata>`),
		func(r *testkit.Route) { r.ContentType = "text/xml"; r.LastModified = "Mon, 02 Jan 2023 15:04:05 GMT" })
	up.Handle("/maven/org/acme/demo/1.0/demo-1.0.jar", jar)
	up.Handle("/maven/org/acme/demo/1.0/demo-1.0.jar.sha1", []byte(hexSum(jar, sum1)))

	// Composer: packages.json, a p2 document and its dist.
	zip := testkit.Zip(t, map[string]string{"composer.json": `{"name":"acme/demo"}`})
	up.Handle("/composer/packages.json", []byte(`{"packages":[],"metadata-url":"/composer/p2/%package%.json"}`), jsonType)
	p2, _ := json.Marshal(map[string]any{"packages": map[string]any{"acme/demo": []any{map[string]any{
		"name": "acme/demo", "version": "1.0.0", "version_normalized": "1.0.0.0",
		"dist": map[string]string{"type": "zip", "url": u + "/composer-dl/demo.zip", "reference": "0123456789abcdef", "shasum": hexSum(zip, sum1)},
	}}}})
	up.Handle("/composer/p2/acme/demo.json", p2, jsonType)
	up.Handle("/composer-dl/demo.zip", zip)

	// RubyGems: the compact index and a gem.
	gem := []byte("gem bytes of demo 1.0.0")
	info := "---\n1.0.0 |checksum:" + hexSum(gem, sum256) + "\n"
	up.Handle("/rubygems/info/demo", []byte(info))
	up.Handle("/rubygems/versions", []byte("created_at: 2024-01-01T00:00:00Z\n---\ndemo 1.0.0 "+hexSum([]byte(info), sumMD5)+"\n"))
	up.Handle("/rubygems/gems/demo-1.0.0.gem", gem)

	// OCI: a manifest by tag, its config and layer.
	layer, config := []byte("layer bytes"), []byte(`{"architecture":"amd64","os":"linux"}`)
	ld, cd := "sha256:"+hexSum(layer, sum256), "sha256:"+hexSum(config, sum256)
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cd + `","size":` + fmt.Sprint(len(config)) + `},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + ld + `","size":` + fmt.Sprint(len(layer)) + `}]}`)
	md := "sha256:" + hexSum(manifest, sum256)
	const mt = "application/vnd.oci.image.manifest.v1+json"
	for _, ref := range []string{"1.0", md} {
		up.Handle("/v2/acme/demo/manifests/"+ref, manifest, func(r *testkit.Route) {
			r.ContentType = mt
			r.Header = map[string]string{"Docker-Content-Digest": md}
		})
	}
	up.Handle("/v2/acme/demo/blobs/"+ld, layer)
	up.Handle("/v2/acme/demo/blobs/"+cd, config)

	href := regexp.MustCompile(`href="([^"#]+)`)
	return []mirrorFixture{
		{protocol: "npm", env: "UPSTREAM_NPM=", path: "/npm/", reads: []mirrorRead{
			{path: "/npm/left-pad"},
			{path: "/npm/left-pad", accept: "application/vnd.npm.install-v1+json"},
			{path: "/npm/left-pad/-/left-pad-1.0.0.tgz"},
		}},
		{protocol: "pypi", env: "UPSTREAM_PYPI=", path: "/pypi/simple/", reads: []mirrorRead{
			{path: "/pypi/simple/demo/", accept: "text/html", next: func(t *testing.T, b []byte) string {
				m := href.FindSubmatch(b)
				if m == nil {
					t.Fatalf("no link in the simple page:\n%s", b)
				}
				ref, _ := url.Parse(string(m[1]))
				return (&url.URL{Path: "/pypi/simple/demo/"}).ResolveReference(ref).Path
			}},
			{},
		}},
		{protocol: "cargo", env: "UPSTREAM_CARGO=", path: "/cargo/index/", reads: []mirrorRead{
			{path: "/cargo/index/de/mo/demo"},
			{path: "/cargo/api/v1/crates/demo/0.1.0/download"},
		}},
		{protocol: "maven", env: "UPSTREAM_MAVEN=", path: "/maven/", reads: []mirrorRead{
			{path: "/maven2/org/acme/demo/maven-metadata.xml"},
			{path: "/maven2/org/acme/demo/1.0/demo-1.0.jar"},
			{path: "/maven2/org/acme/demo/1.0/demo-1.0.jar.sha1"},
		}},
		{protocol: "composer", env: "UPSTREAM_COMPOSER=", path: "/composer/", reads: []mirrorRead{
			{path: "/composer/p2/acme/demo.json", next: func(t *testing.T, b []byte) string {
				var doc struct {
					Packages map[string][]struct{ Dist struct{ URL string } }
				}
				if err := json.Unmarshal(b, &doc); err != nil || len(doc.Packages["acme/demo"]) == 0 {
					t.Fatalf("p2 document: %v\n%s", err, b)
				}
				u, err := url.Parse(doc.Packages["acme/demo"][0].Dist.URL)
				if err != nil {
					t.Fatal(err)
				}
				return u.Path
			}},
			{},
		}},
		{protocol: "rubygems", env: "UPSTREAM_RUBYGEMS=", path: "/rubygems/", reads: []mirrorRead{
			{path: "/rubygems/info/demo"},
			{path: "/rubygems/versions"},
			{path: "/rubygems/gems/demo-1.0.0.gem"},
		}},
		{protocol: "oci", env: "UPSTREAM_OCI=dist=", path: "/", reads: []mirrorRead{
			{path: "/v2/dist/acme/demo/manifests/1.0", accept: mt},
			{path: "/v2/dist/acme/demo/manifests/" + md, accept: mt},
			{path: "/v2/dist/acme/demo/blobs/" + cd},
			{path: "/v2/dist/acme/demo/blobs/" + ld},
		}},
	}
}

// mirrorGet reads path from the edge, answering an OCI token challenge
// anonymously as a client would.
func mirrorGet(t *testing.T, s *testkit.Server, path, accept string) (int, []byte) {
	t.Helper()
	resp, body := testkit.Request(t, "GET", s.URL+path, nil, "Accept", accept)
	if resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(path, "/v2/") {
		ch := resp.Header.Get("WWW-Authenticate")
		realm := regexp.MustCompile(`realm="([^"]+)"`).FindStringSubmatch(ch)
		service := regexp.MustCompile(`service="([^"]+)"`).FindStringSubmatch(ch)
		if realm == nil || service == nil {
			t.Fatalf("GET %s: 401 with challenge %q", path, ch)
		}
		name := strings.TrimPrefix(path, "/v2/")
		name = name[:strings.LastIndex(name[:strings.LastIndexByte(name, '/')], "/")]
		q := url.Values{"service": {service[1]}, "scope": {"repository:" + name + ":pull"}}
		tr, tb := testkit.Request(t, "GET", realm[1]+"?"+q.Encode(), nil)
		var tok struct{ Token string }
		if tr.StatusCode != 200 || json.Unmarshal(tb, &tok) != nil || tok.Token == "" {
			t.Fatalf("anonymous token for %s: %d %s", name, tr.StatusCode, tb)
		}
		resp, body = testkit.Request(t, "GET", s.URL+path, nil, "Accept", accept, "Authorization", "Bearer "+tok.Token)
	}
	return resp.StatusCode, body
}

// downURL returns a loopback URL nothing listens on.
func downURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// mirrorAnswer is what the edge answered to one read.
type mirrorAnswer struct {
	path string
	body []byte
}

// startMirror starts a server mirroring every fixture from up and reads
// each of them through it once, filling its cache.
func startMirror(t *testing.T, up *testkit.Upstream, fixtures []mirrorFixture) (*testkit.Server, map[string][]mirrorAnswer) {
	env := []string{}
	for _, f := range fixtures {
		env = append(env, f.env+up.URL+f.path)
	}
	s := testkit.Start(t, env...)
	answers := map[string][]mirrorAnswer{}
	for _, f := range fixtures {
		path := ""
		for _, r := range f.reads {
			if r.path != "" {
				path = r.path
			}
			st, body := mirrorGet(t, s, path, r.accept)
			if st != 200 {
				t.Fatalf("%s: GET %s from a live upstream: %d %s", f.protocol, path, st, body)
			}
			answers[f.protocol] = append(answers[f.protocol], mirrorAnswer{path, body})
			if r.next != nil {
				path = r.next(t, body)
			}
		}
	}
	return s, answers
}

// moveUpstreams takes up down and points every protocol of the stopped
// or running s at another URL that is down too, with every document due
// for revalidation, for its next start.
func moveUpstreams(t *testing.T, s *testkit.Server, up *testkit.Upstream, fixtures []mirrorFixture) {
	up.Down()
	for _, f := range fixtures {
		s.Env = append(s.Env, f.env+downURL(t)+f.path)
	}
	s.Env = append(s.Env, "ENABLE_UPSTREAM_CACHE=false")
}

// TestMirrorKeepsCacheAcrossUpstreamURL fills a mirror of every protocol
// from one upstream URL, then restarts it with each protocol's upstream
// at a different URL that is down (the old one, which cached documents
// still name, is down too), every document due for revalidation:
// everything it held must still be served, byte for byte (documents only
// rewritten for the edge's new address).
func TestMirrorKeepsCacheAcrossUpstreamURL(t *testing.T) {
	up := testkit.NewUpstream(t)
	fixtures := mirrorFixtures(t, up)
	s, first := startMirror(t, up, fixtures)
	oldURL := s.URL
	moveUpstreams(t, s, up, fixtures)
	s.Restart()
	for _, f := range fixtures {
		t.Run(f.protocol, func(t *testing.T) {
			for i, r := range f.reads {
				a := first[f.protocol][i]
				st, body := mirrorGet(t, s, a.path, r.accept)
				want := strings.ReplaceAll(string(a.body), oldURL, s.URL)
				if st != 200 || string(body) != want {
					t.Errorf("GET %s with the upstream moved and down: %d\n%.600s\nwant\n%.600s", a.path, st, body, want)
				}
			}
		})
	}
}

// TestCachePurge: `entrepot cache purge --protocol P` forgets P's cached
// content and nothing else; without --protocol it forgets everything.
// With the upstream gone, what was purged is a failure to fetch, what
// was not is still served.
func TestCachePurge(t *testing.T) {
	up := testkit.NewUpstream(t)
	fixtures := mirrorFixtures(t, up)
	s, first := startMirror(t, up, fixtures)
	s.Stop()
	moveUpstreams(t, s, up, fixtures)

	purge := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(testkit.Binary(t), append([]string{"cache", "purge"}, args...)...)
		cmd.Env = append(os.Environ(), s.Env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("entrepot cache purge %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	served := func(protocol string) bool {
		t.Helper()
		for _, a := range first[protocol] {
			if st, _ := mirrorGet(t, s, a.path, ""); st == 200 {
				return true
			}
		}
		return false
	}

	if out := purge("--protocol", "npm"); !strings.Contains(out, "npm: ") || strings.Contains(out, "pypi") {
		t.Fatalf("purge of npm said:\n%s", out)
	}
	s.Restart()
	if served("npm") {
		t.Error("npm content is served after its purge")
	}
	for _, f := range fixtures[1:] {
		if !served(f.protocol) {
			t.Errorf("%s content is not served after npm's purge", f.protocol)
		}
	}

	s.Stop()
	out := purge()
	for _, f := range fixtures {
		if !strings.Contains(out, f.protocol+": ") {
			t.Errorf("purge of everything does not report %s:\n%s", f.protocol, out)
		}
	}
	s.Restart()
	for _, f := range fixtures {
		if served(f.protocol) {
			t.Errorf("%s content is served after a purge of everything", f.protocol)
		}
	}

	cmd := exec.Command(testkit.Binary(t), "cache", "purge", "--protocol", "gopher")
	cmd.Env = append(os.Environ(), s.Env...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `unknown protocol "gopher"`) {
		t.Errorf("purge of an unknown protocol: %v\n%s", err, out)
	}
}
