package warm

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"io"
	"sort"
	"strings"
	"testing"
	"time"
)

func sri(b string) string {
	s := sha512.Sum512([]byte(b))
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}

func TestParseNpm(t *testing.T) {
	cases := []struct {
		name, file, body string
		want             []string // paths
	}{
		{"v3", "package-lock.json", `{"lockfileVersion":3,"packages":{"":{"name":"app"},
			"node_modules/left-pad":{"version":"1.0.0","dependencies":{"x":"^1"},"resolved":"https://r.example/left-pad/-/left-pad-1.0.0.tgz","integrity":"sha1-AAAA"},
			"node_modules/@acme/x":{"version":"2.0.0","resolved":"https://r.example/@acme/x/-/x-2.0.0.tgz"},
			"node_modules/a/node_modules/left-pad":{"version":"1.0.0","resolved":"https://r.example/left-pad/-/left-pad-1.0.0.tgz"},
			"node_modules/linked":{"resolved":"../linked","link":true},
			"node_modules/gitdep":{"version":"1.0.0","resolved":"git+ssh://git@h/x.git#abc"},
			"packages/ws":{"version":"0.0.1"}}}`,
			[]string{"/@acme/x/-/x-2.0.0.tgz", "/left-pad/-/left-pad-1.0.0.tgz"}},
		{"v1 nested", "npm-shrinkwrap.json", `{"lockfileVersion":1,"dependencies":{
			"a":{"version":"1.0.0","resolved":"https://r.example/a/-/a-1.0.0.tgz","requires":{"b":"^2"},"dependencies":{"b":{"version":"2.0.0"}}},
			"c":{"version":"file:../c"}}}`,
			[]string{"/a/-/a-1.0.0.tgz", "/b/-/b-2.0.0.tgz"}},
		{"cargo", "Cargo.lock", `version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["itoa"]

[[package]]
name = "itoa"
version = "1.0.11"
source = "registry+https://r.example/index"
checksum = "49f1f14873335454500d59611f1cf4a4b0f786f9ac11f4312a78e4cf2566695b"

[[package]]
name = "gitdep"
version = "0.1.0"
source = "git+https://h/x.git#abc"
`, []string{"/api/v1/crates/itoa/1.0.11/download"}},
		{"requirements", "requirements.txt", "# via pip-compile\n--index-url https://r.example/simple\nDemo_Pkg[x]==1.0 ; python_version>'3' \\\n    --hash=sha256:" + hex256("a") + " \\\n    --hash=sha256:" + hex256("b") + "\n",
			[]string{"", ""}},
		{"sniffed", "", `{"lockfileVersion":2,"packages":{"node_modules/a":{"version":"1.0.0"}}}`,
			[]string{"/a/-/a-1.0.0.tgz"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			items, err := Parse(c.file, []byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range items {
				got = append(got, it.Path)
			}
			sort.Strings(got)
			if strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Fatalf("paths %v, want %v", got, c.want)
			}
		})
	}
	for _, bad := range []struct{ file, body string }{{"package-lock.json", "{"}, {"Gemfile.lock", "GEM"}, {"", "not json"}, {"requirements.txt", "a>=1 --hash=sha256:00"}, {"requirements.txt", "a==1"}, {"Cargo.lock", "[[package]]\nname = \"a\"\nversion = \"1\"\nsource = \"registry+x\"\nchecksum = \"zz\"\n"}} {
		if _, err := Parse(bad.file, []byte(bad.body)); err == nil {
			t.Errorf("Parse(%q, %q) took it", bad.file, bad.body)
		}
	}
}

func hex256(b string) string { s := sha256.Sum256([]byte(b)); return hex.EncodeToString(s[:]) }
func sri256(b string) string {
	s := sha256.Sum256([]byte(b))
	return "sha256-" + base64.StdEncoding.EncodeToString(s[:])
}

type fakeFetcher map[string]struct {
	status int
	body   string
}

func (f fakeFetcher) Prefix(string) string { return "/pypi" }

func (f fakeFetcher) Fetch(_ context.Context, _, path, _ string) (int, io.ReadCloser, error) {
	a := f[path]
	return a.status, io.NopCloser(strings.NewReader(a.body)), nil
}

func TestRunner(t *testing.T) {
	f := fakeFetcher{
		"/simple/demo/":       {200, `{"files":[{"filename":"demo-1.0.whl","url":"../../files/demo-1.0.whl","hashes":{"sha256":"` + hex256("wheel") + `"}}]}`},
		"/files/demo-1.0.whl": {200, "wheel"},
		"/ok":                 {200, "good bytes"}, "/bad": {200, "tampered"}, "/gone": {404, `{"error":"not found"}`}, "/down": {502, "upstream 503"},
	}
	items := []Item{
		{Name: "ok", Path: "/ok", Integrity: sri("good bytes")},
		{Name: "bad", Path: "/bad", Integrity: sri("good bytes")},
		{Name: "gone", Path: "/gone"},
		{Name: "down", Path: "/down"},
		{Name: "weird", Path: "/ok", Integrity: "md5-AAAA"},
		{Name: "demo", Protocol: "pypi", Index: "/simple/demo/", Integrity: sri256("wheel")},
		{Name: "nofile", Protocol: "pypi", Index: "/simple/demo/", Integrity: sri256("other")},
	}
	want := map[string]string{"ok": Fetched, "bad": Refused, "gone": Refused, "down": Failed, "weird": Refused, "demo": Fetched, "nofile": Refused}
	r := &Runner{Concurrency: 2}
	id := r.Start(items, f)
	var j Job
	for deadline := time.Now().Add(5 * time.Second); ; {
		j, _ = r.Get(id)
		if j.State == "done" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if j.State != "done" || j.Done != 7 || j.Failed != 5 {
		t.Fatalf("job %+v", j)
	}
	for _, res := range j.Items {
		if res.Status != want[res.Name] {
			t.Errorf("%s: %s (%s), want %s", res.Name, res.Status, res.Message, want[res.Name])
		}
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("an unknown job was found")
	}
}
