package cargo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/upstream"
)

func TestMirror(t *testing.T) {
	u := testkit.NewUpstream(t)
	crate := bytes.Repeat([]byte("crate "), 3000)
	s := sha256.Sum256(crate)
	sum := hex.EncodeToString(s[:])
	line := `{"name":"Serde","vers":"1.0.0+b","deps":[{"name":"core-x","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal"}],"cksum":"` + sum + `","features":{},"yanked":false}` + "\n"
	u.Handle("/index/config.json", []byte(`{"dl":"`+u.URL+`/files/{lowerprefix}/{crate}/{version}/{sha256-checksum}"}`))
	u.Handle("/index/se/rd/serde", []byte(line), func(r *testkit.Route) { r.ETag = `"v1"` })
	u.Handle("/files/se/rd/Serde/1.0.0+b/"+sum, crate)
	u.Handle("/index/de/mo/demo", []byte(`{"name":"demo","vers":"5.0.0","deps":[],"cksum":"`+sum+`","features":{},"yanked":false}`+"\n"))
	up, err := upstream.New("cargo", u.URL+"/index/", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := newHarness(t, up, 1) // 1ns: every request revalidates

	resp, body := x.do("GET", "/cargo/index/se/rd/serde", "", nil)
	if resp.StatusCode != 200 || string(body) != line {
		t.Fatalf("index: %d %s", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	if r, _ := x.do("GET", "/cargo/index/se/rd/serde", "", nil, "If-None-Match", etag); r.StatusCode != 304 {
		t.Fatalf("revalidation: %d", r.StatusCode)
	}
	if r, b := x.do("GET", "/cargo/api/v1/crates/Serde/1.0.0+b/download", "", nil); r.StatusCode != 200 || !bytes.Equal(b, crate) {
		t.Fatalf("download: %d %d bytes", r.StatusCode, len(b))
	}
	if r, _ := x.do("GET", "/cargo/api/v1/crates/serde/2.0.0/download", "", nil); r.StatusCode != 404 {
		t.Fatalf("download of a version the index lacks: %d", r.StatusCode)
	}
	if r, b := x.do("GET", "/cargo/index/no/ne/none", "", nil); r.StatusCode != 404 || !strings.Contains(string(b), "not found") {
		t.Fatalf("unknown crate: %d %s", r.StatusCode, b)
	}

	// The upstream goes down: index files are served stale, crates from
	// the cache.
	u.Down()
	if r, b := x.do("GET", "/cargo/index/se/rd/serde", "", nil); r.StatusCode != 200 || string(b) != line {
		t.Fatalf("stale index: %d %s", r.StatusCode, b)
	}
	if r, b := x.do("GET", "/cargo/api/v1/crates/Serde/1.0.0+b/download", "", nil); r.StatusCode != 200 || !bytes.Equal(b, crate) {
		t.Fatalf("cached download: %d %d bytes", r.StatusCode, len(b))
	}
	u.Up()

	// Claiming a name cuts the upstream off for it. The upstream has demo:
	// acme claims it on purpose, as a first publish may not.
	x.claim("demo")
	if code, body := x.publish("demo", "1.0.0"); code != 200 {
		t.Fatalf("publish: %d %s", code, body)
	}
	before := u.Hits("/index/de/mo/demo")
	_, b := x.do("GET", "/cargo/index/de/mo/demo", x.token, nil)
	if !strings.Contains(string(b), `"vers":"1.0.0"`) || strings.Contains(string(b), "5.0.0") {
		t.Fatalf("claimed crate's index:\n%s", b)
	}
	if r, _ := x.do("GET", "/cargo/api/v1/crates/demo/5.0.0/download", x.token, nil); r.StatusCode != 404 {
		t.Fatalf("upstream version of a claimed crate: %d", r.StatusCode)
	}
	if h := u.Hits("/index/de/mo/demo"); h != before {
		t.Fatalf("%d upstream requests for a claimed crate", h-before)
	}
}
