package hosted_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
)

func newCatalog(t *testing.T) *hosted.Catalog {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return hosted.NewCatalog(s)
}

func TestClaims(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	if _, err := c.ClaimOf(ctx, "npm", "@acme"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("free namespace: %v", err)
	}
	if _, err := c.Claim(ctx, hosted.Claim{Protocol: "npm", Namespace: "@acme", OrgID: "o1", RepoID: "r1"}); err != nil {
		t.Fatal(err)
	}
	// same org again: idempotent, the first claim stays in force
	got, err := c.Claim(ctx, hosted.Claim{Protocol: "npm", Namespace: "@acme", OrgID: "o1", RepoID: "r2"})
	if err != nil || got.RepoID != "r1" {
		t.Fatalf("re-claim: %+v %v", got, err)
	}
	if _, err := c.Claim(ctx, hosted.Claim{Protocol: "npm", Namespace: "@acme", OrgID: "o2"}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("other org: %v", err)
	}
	// the same namespace of another protocol is another claim
	if _, err := c.Claim(ctx, hosted.Claim{Protocol: "pypi", Namespace: "@acme", OrgID: "o2"}); err != nil {
		t.Fatal(err)
	}
}

// smallPages answers queries two records at a time, so that a listing
// has to follow cursors.
type smallPages struct{ hosted.Store }

func (s smallPages) Query(ctx context.Context, c hosted.Collection, q hosted.Query) ([]hosted.Record, string, error) {
	q.Limit = 2
	return s.Store.Query(ctx, c, q)
}

func TestListClaims(t *testing.T) {
	ctx := context.Background()
	c := hosted.NewCatalog(smallPages{newCatalog(t).Store()})
	for _, cl := range []hosted.Claim{
		{Protocol: "npm", Namespace: "@acme", OrgID: "o1"},
		{Protocol: "npm", Namespace: "acme-tool", OrgID: "o1"},
		{Protocol: "pypi", Namespace: "acme-tools", OrgID: "o1"},
		{Protocol: "cargo", Namespace: "acme_core", OrgID: "o1"},
		{Protocol: "maven", Namespace: "com.acme", OrgID: "o1"},
		{Protocol: "npm", Namespace: "@globex", OrgID: "o2"},
		{Protocol: "npm", Namespace: "@initech", OrgID: "o10"}, // o1 is a prefix of o10
	} {
		if _, err := c.Claim(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Release(ctx, "npm", "acme-tool"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		org  string
		want []string
	}{
		{"o1", []string{"cargo:acme_core", "maven:com.acme", "npm:@acme", "pypi:acme-tools"}},
		{"o2", []string{"npm:@globex"}},
		{"o10", []string{"npm:@initech"}},
		{"o3", nil},
	}
	for _, tc := range cases {
		t.Run(tc.org, func(t *testing.T) {
			cls, err := c.Claims(ctx, tc.org)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, cl := range cls {
				if cl.OrgID != tc.org || cl.CreatedAt.IsZero() {
					t.Errorf("claim %+v", cl)
				}
				got = append(got, cl.Protocol+":"+cl.Namespace)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("claims %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRacingClaims(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := c.Claim(ctx, hosted.Claim{Protocol: "cargo", Namespace: "serde", OrgID: fmt.Sprint("o", i)})
			if err == nil && cl.OrgID == fmt.Sprint("o", i) {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d organizations won one name", wins.Load())
	}
}

func TestVersionsImmutable(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	if _, err := c.CreatePackage(ctx, hosted.Package{Protocol: "npm", Name: "lib", OrgID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePackage(ctx, hosted.Package{Protocol: "npm", Name: "lib", OrgID: "o2"}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("second create: %v", err)
	}
	v1 := hosted.Version{Protocol: "npm", Package: "lib", Version: "1.0.0", Files: []hosted.File{{Name: "lib/-/lib-1.0.0.tgz", Digest: "sha256:aa"}}}
	if _, err := c.AddVersion(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddVersion(ctx, v1); !fault.Is(err, fault.Conflict) {
		t.Fatalf("republish: %v", err)
	}
	// another version may not take a file name that is taken
	clash := hosted.Version{Protocol: "npm", Package: "lib", Version: "1.0.1", Files: []hosted.File{{Name: "lib/-/lib-1.0.0.tgz"}}}
	if _, err := c.AddVersion(ctx, clash); !fault.Is(err, fault.Conflict) {
		t.Fatalf("file clash: %v", err)
	}
	if _, err := c.Version(ctx, "npm", "lib", "1.0.1"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("clashing version recorded: %v", err)
	}
	if _, err := c.DeleteVersion(ctx, "npm", "lib", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if vs, _ := c.Versions(ctx, "npm", "lib", false); len(vs) != 0 {
		t.Fatalf("deleted version listed: %+v", vs)
	}
	if _, err := c.AddVersion(ctx, v1); !fault.Is(err, fault.Conflict) {
		t.Fatalf("reuse after unpublish: %v", err)
	}
	if f, err := c.File(ctx, "npm", "lib/-/lib-1.0.0.tgz"); err != nil || !f.Deleted {
		t.Fatalf("file tombstone: %+v %v", f, err)
	}
	// a whole-package delete frees the name, not the versions
	v2 := hosted.Version{Protocol: "npm", Package: "lib", Version: "2.0.0"}
	c.AddVersion(ctx, v2)
	if err := c.DeletePackage(ctx, "npm", "lib"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePackage(ctx, hosted.Package{Protocol: "npm", Name: "lib", OrgID: "o1"}); err != nil {
		t.Fatalf("name not free after delete: %v", err)
	}
	if _, err := c.AddVersion(ctx, v2); !fault.Is(err, fault.Conflict) {
		t.Fatalf("old version reusable after package delete: %v", err)
	}
}

func TestConcurrentVersionsAndSerial(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	c.CreatePackage(ctx, hosted.Package{Protocol: "maven", Name: "com.acme:lib", OrgID: "o1"})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.AddVersion(ctx, hosted.Version{Protocol: "maven", Package: "com.acme:lib", Version: fmt.Sprintf("1.%d", i)}); err != nil {
				t.Error(err)
			}
			if _, err := c.Touch(ctx, "maven", "com.acme:lib"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	vs, _ := c.Versions(ctx, "maven", "com.acme:lib", false)
	p, _ := c.Package(ctx, "maven", "com.acme:lib")
	if len(vs) != 10 || p.Serial != 11 {
		t.Fatalf("%d versions, serial %d; want 10 and 11", len(vs), p.Serial)
	}
}

func TestListPackages(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	for _, p := range []hosted.Package{
		{Protocol: "npm", Name: "@acme/a", OrgID: "o1"},
		{Protocol: "npm", Name: "@acme/b", OrgID: "o1"},
		{Protocol: "pypi", Name: "acme-tools", OrgID: "o1"},
		{Protocol: "npm", Name: "other", OrgID: "o2"},
	} {
		if _, err := c.CreatePackage(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		f    hosted.PackageFilter
		want int
	}{
		{"all", hosted.PackageFilter{}, 4},
		{"protocol", hosted.PackageFilter{Protocol: "npm"}, 3},
		{"org", hosted.PackageFilter{OrgID: "o1"}, 3},
		{"org and protocol", hosted.PackageFilter{OrgID: "o1", Protocol: "npm"}, 2},
		{"query", hosted.PackageFilter{Query: "@acme/"}, 2},
		{"org, protocol, query", hosted.PackageFilter{OrgID: "o1", Protocol: "npm", Query: "@acme/b"}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := c.ListPackages(ctx, tc.f, "", 0)
			if err != nil || len(got) != tc.want {
				t.Fatalf("got %d (%v), want %d", len(got), err, tc.want)
			}
		})
	}
	// paging by cursor visits everything once
	seen := 0
	after := ""
	for {
		got, next, err := c.ListPackages(ctx, hosted.PackageFilter{}, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(got)
		if next == "" {
			break
		}
		after = next
	}
	if seen != 4 {
		t.Fatalf("paged %d packages", seen)
	}
}

func TestAddFile(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	v := hosted.Version{Protocol: "pypi", Package: "demo", Version: "1.0", Files: []hosted.File{{Name: "demo-1.0.tar.gz", Digest: "sha256:a"}}}
	if _, err := c.AddVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, version, file string
		want                fault.Kind
		ok                  bool
	}{
		{"new file", "1.0", "demo-1.0-py3-none-any.whl", 0, true},
		{"same path again", "1.0", "demo-1.0-py3-none-any.whl", fault.Conflict, false},
		{"path of the first upload", "1.0", "demo-1.0.tar.gz", fault.Conflict, false},
		{"missing version", "2.0", "demo-2.0.tar.gz", fault.NotFound, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.AddFile(ctx, "pypi", "demo", tc.version, hosted.File{Name: tc.file, Digest: "sha256:b"})
			if tc.ok {
				if err != nil || len(got.Files) != 2 {
					t.Fatalf("AddFile: %+v %v", got, err)
				}
				return
			}
			if !fault.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// a failed AddFile leaves its path free
	if _, err := c.File(ctx, "pypi", "demo-2.0.tar.gz"); !fault.Is(err, fault.NotFound) {
		t.Fatalf("path of a failed AddFile: %v", err)
	}
	// a deleted version takes no new file, and its paths stay taken
	if _, err := c.DeleteVersion(ctx, "pypi", "demo", "1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddFile(ctx, "pypi", "demo", "1.0", hosted.File{Name: "demo-1.0-py2-none-any.whl"}); !fault.Is(err, fault.Conflict) {
		t.Fatalf("file for a deleted version: %v", err)
	}
	if r, err := c.File(ctx, "pypi", "demo-1.0-py3-none-any.whl"); err != nil || !r.Deleted {
		t.Fatalf("tombstone: %+v %v", r, err)
	}
}
