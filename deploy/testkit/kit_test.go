package testkit_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"entrepot/deploy/testkit"
	"entrepot/edge"
)

// recorder is a testing.TB that notes Errorf instead of failing.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestGolden(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "doc.golden")
	testkit.WriteFile(t, p, "want\n")
	cases := []struct {
		name, path string
		got        string
		fails      bool
	}{
		{"same bytes", p, "want\n", false},
		{"other bytes", p, "want", true},
		{"no golden file", filepath.Join(dir, "none.golden"), "x", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			testkit.Golden(r, tc.path, []byte(tc.got))
			if tc.fails != (len(r.errors) > 0) {
				t.Fatalf("errors %q, want a failure: %v", r.errors, tc.fails)
			}
			if tc.fails && !strings.Contains(r.errors[0], "-update") {
				t.Fatalf("the message does not say how to update: %s", r.errors[0])
			}
		})
	}
}

func TestEnvAndRun(t *testing.T) {
	t.Setenv("TESTKIT_DROPPED", "x")
	env := testkit.Env([]string{"TESTKIT_"}, "TESTKIT_ADDED=y")
	if slices.Contains(env, "TESTKIT_DROPPED=x") || !slices.Contains(env, "TESTKIT_ADDED=y") {
		t.Fatalf("env %v", env)
	}
	sh := testkit.RequireTool(t, "sh")
	dir := t.TempDir()
	out := testkit.MustRun(t, dir, env, sh, "-c", `pwd; echo "$TESTKIT_ADDED$TESTKIT_DROPPED"; echo err >&2`)
	if out != dir+"\ny\nerr\n" {
		t.Fatalf("output %q", out)
	}
	if out, err := testkit.Run(t, "", nil, sh, "-c", "echo no; exit 3"); err == nil || out != "no\n" {
		t.Fatalf("failing program: %q %v", out, err)
	}
}

func TestStaticServer(t *testing.T) {
	dir := t.TempDir()
	s := testkit.StaticServer(t, dir)
	// Files written after the start are served.
	testkit.WriteFile(t, filepath.Join(dir, "index", "a.json"), `{"url":"`+s.URL+`"}`)
	for range 2 {
		resp, b := testkit.Request(t, "GET", s.URL+"/index/a.json", nil)
		if resp.StatusCode != 200 || string(b) != `{"url":"`+s.URL+`"}` {
			t.Fatalf("GET: %d %s", resp.StatusCode, b)
		}
	}
	if resp, _ := testkit.Request(t, "GET", s.URL+"/index/none", nil); resp.StatusCode != 404 {
		t.Fatalf("missing file: %d", resp.StatusCode)
	}
	if n := s.Hits("GET /index/a.json"); n != 2 {
		t.Fatalf("hits %d, want 2; log:\n%s", n, s.Log())
	}
	s.Stop()
	s.Stop() // again: nothing happens
	if _, err := http.Get(s.URL + "/index/a.json"); err == nil {
		t.Fatal("a stopped server answered")
	}
}

func TestRequest(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Handle("/p", []byte("body"))
	cases := []struct {
		name   string
		header []string
		want   http.Header // nil: the header is absent
	}{
		{"none", nil, nil},
		{"empty value left out", []string{"Authorization", ""}, nil},
		{"bearer", []string{"Authorization", "Bearer t"}, http.Header{"Authorization": {"Bearer t"}}},
		{"basic", []string{"Authorization", testkit.Basic("u", "p")}, http.Header{"Authorization": {"Basic dTpw"}}},
		{"anonymous basic", []string{"Authorization", testkit.Basic("", "p")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := testkit.Request(t, "POST", u.URL+"/p", []byte("x"), tc.header...)
			if resp.StatusCode != 200 || string(b) != "body" {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if got, want := u.Header("/p").Get("Authorization"), tc.want.Get("Authorization"); got != want {
				t.Fatalf("Authorization %q, want %q", got, want)
			}
		})
	}
	r := &recorder{TB: t}
	if resp, _ := testkit.Request(r, "GET", "http://127.0.0.1:1/", nil); resp.StatusCode != 0 || len(r.errors) != 1 {
		t.Fatalf("unreachable server: %d, errors %q", resp.StatusCode, r.errors)
	}
}

func TestStampede(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Handle("/good", []byte("bytes"))
	u.Handle("/bad", []byte("bytes"), func(r *testkit.Route) { r.Corrupt = true })
	if bad := testkit.Stampede(20, u.URL+"/good", []byte("bytes")); len(bad) != 0 || u.Hits("/good") != 20 {
		t.Fatalf("good: %q, %d hits", bad, u.Hits("/good"))
	}
	if bad := testkit.Stampede(5, u.URL+"/bad", []byte("bytes")); len(bad) != 5 {
		t.Fatalf("corrupt: %q", bad)
	}
}

func TestFilesAndZip(t *testing.T) {
	dir := t.TempDir()
	if n := testkit.CountFiles(filepath.Join(dir, "none")); n != 0 {
		t.Fatalf("missing folder: %d", n)
	}
	testkit.WriteFile(t, filepath.Join(dir, "a", "b", "c.txt"), "c")
	testkit.WriteFile(t, filepath.Join(dir, "d.txt"), "d")
	if b, err := os.ReadFile(filepath.Join(dir, "a", "b", "c.txt")); err != nil || string(b) != "c" {
		t.Fatalf("%q %v", b, err)
	}
	if n := testkit.CountFiles(dir); n != 2 {
		t.Fatalf("%d files, want 2", n)
	}
	files := map[string]string{"composer.json": "{}", "../evil": "x"}
	b := testkit.Zip(t, files)
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range z.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = string(b)
	}
	if fmt.Sprint(got) != fmt.Sprint(files) {
		t.Fatalf("zip holds %v, want %v", got, files)
	}
}

func TestStartEdge(t *testing.T) {
	e := testkit.StartEdge(t, testkit.EdgeOptions{}, func(r *edge.Registry, m *edge.Mux) {
		m.Group("/t").Handle("GET", "/who", edge.Route{Protocol: "test", Name: "who"}, func(ctx *fasthttp.RequestCtx) error {
			p, err := r.Who(ctx)
			if err != nil {
				return err
			}
			ctx.WriteString(p.UserID)
			return nil
		})
	})
	if e.OrgID == "" || e.AdminID == "" || !strings.HasPrefix(e.Token, "srg_") || e.URL != "http://"+e.Addr {
		t.Fatalf("edge %+v", e)
	}
	cases := []struct {
		name, authz, want string
	}{
		{"token", "Bearer " + e.Token, e.AdminID},
		{"password", testkit.Basic("admin", testkit.AdminPassword), e.AdminID},
		{"anonymous", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := e.Do(t, "GET", "/t/who", nil, "Authorization", tc.authz)
			if resp.StatusCode != 200 || string(b) != tc.want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, b, tc.want)
			}
		})
	}
}
