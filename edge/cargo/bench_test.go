package cargo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"entrepot/deploy/testkit"
	"entrepot/upstream"
)

// mirrorHarness is a harness whose upstream serves crate "serde" 1.0.0.
func mirrorHarness(b testing.TB) (*harness, *testkit.Upstream) {
	u := testkit.NewUpstream(b)
	crate := bytes.Repeat([]byte("crate bytes "), 2000)
	s := sha256.Sum256(crate)
	u.Handle("/index/config.json", []byte(`{"dl":"`+u.URL+`/dl/{crate}/{version}"}`))
	u.Handle("/index/se/rd/serde", []byte(`{"name":"serde","vers":"1.0.0","deps":[],"cksum":"`+hex.EncodeToString(s[:])+`","features":{},"yanked":false}`+"\n"))
	u.Handle("/dl/serde/1.0.0", crate)
	up, err := upstream.New("cargo", u.URL+"/index/", upstream.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return newHarness(b, up), u
}

func benchGet(b *testing.B, x *harness, path, authz string) {
	if resp, body := x.do("GET", path, authz, nil); resp.StatusCode != 200 {
		b.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			x.do("GET", path, authz, nil)
		}
	})
}

func BenchmarkMirroredIndex(b *testing.B) {
	x, _ := mirrorHarness(b)
	benchGet(b, x, "/cargo/index/se/rd/serde", "")
}

func BenchmarkMirroredDownload(b *testing.B) {
	x, _ := mirrorHarness(b)
	benchGet(b, x, "/cargo/api/v1/crates/serde/1.0.0/download", "")
}

func BenchmarkHostedIndex(b *testing.B) {
	x := newHarness(b, nil)
	x.publish("demo", "1.0.0")
	benchGet(b, x, "/cargo/index/de/mo/demo", x.token)
}

func BenchmarkConfig(b *testing.B) {
	x := newHarness(b, nil)
	benchGet(b, x, "/cargo/index/config.json", "")
}
