package hosted_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"entrepot/hosted"
)

// notes records the changes a Catalog reports.
type notes struct {
	mu  sync.Mutex
	got []hosted.Change
}

func (n *notes) Notify(_ context.Context, c hosted.Change) {
	n.mu.Lock()
	n.got = append(n.got, c)
	n.mu.Unlock()
}

func (n *notes) take() []hosted.Change {
	n.mu.Lock()
	defer n.mu.Unlock()
	got := n.got
	n.got = nil
	return got
}

// Every catalog write a cache may hold reports its change once it is
// made, and a failed write reports nothing.
func TestCatalogReportsChanges(t *testing.T) {
	ctx := context.Background()
	n := &notes{}
	c := newCatalog(t).WithChanges(n)
	pkg := func(v string) hosted.Change {
		return hosted.Change{Kind: hosted.ChangePackage, Protocol: "npm", Name: "lib", Version: v}
	}
	claim := hosted.Change{Kind: hosted.ChangeClaim, Protocol: "npm", Name: "lib"}
	file := hosted.File{Name: "lib/-/lib-1.0.0.tgz", Digest: "sha256:00"}
	steps := []struct {
		name string
		do   func() error
		want []hosted.Change
	}{
		{"claim", func() error {
			_, err := c.Claim(ctx, hosted.Claim{Protocol: "npm", Namespace: "lib", OrgID: "o1"})
			return err
		}, []hosted.Change{claim}},
		{"claim held already", func() error {
			_, err := c.Claim(ctx, hosted.Claim{Protocol: "npm", Namespace: "lib", OrgID: "o1"})
			return err
		}, nil},
		{"create package", func() error {
			_, err := c.CreatePackage(ctx, hosted.Package{Protocol: "npm", Name: "lib", OrgID: "o1"})
			return err
		}, []hosted.Change{pkg("")}},
		{"add version", func() error {
			_, err := c.AddVersion(ctx, hosted.Version{Protocol: "npm", Package: "lib", Version: "1.0.0", Files: []hosted.File{file}})
			return err
		}, []hosted.Change{pkg("1.0.0")}},
		{"add file", func() error {
			_, err := c.AddFile(ctx, "npm", "lib", "1.0.0", hosted.File{Name: "lib/-/extra", Digest: "sha256:01"})
			return err
		}, []hosted.Change{pkg("1.0.0")}},
		{"update package (dist-tags)", func() error {
			_, err := c.UpdatePackage(ctx, "npm", "lib", func(*hosted.Package) error { return nil })
			return err
		}, []hosted.Change{pkg("")}},
		{"yank", func() error {
			_, err := c.UpdateVersion(ctx, "npm", "lib", "1.0.0", func(v *hosted.Version) error { v.Yanked = true; return nil })
			return err
		}, []hosted.Change{pkg("1.0.0")}},
		{"delete package", func() error { return c.DeletePackage(ctx, "npm", "lib") }, []hosted.Change{pkg("1.0.0"), pkg("")}},
		{"failed update", func() error {
			_, err := c.UpdatePackage(ctx, "npm", "lib", func(*hosted.Package) error { return nil })
			if err == nil {
				t.Error("updating a deleted package succeeded")
			}
			return nil
		}, nil},
		{"release", func() error { return c.Release(ctx, "npm", "lib") }, []hosted.Change{claim}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := n.take(); !slices.Equal(got, s.want) {
			t.Errorf("%s reported %+v, want %+v", s.name, got, s.want)
		}
	}
	if ref, err := c.File(ctx, "npm", file.Name); err != nil || !ref.Deleted {
		t.Fatalf("file of the deleted version: %+v %v", ref, err)
	}
}

// A package deleted and created again never has a stamp of its first
// life, though its serial starts over.
func TestStampOfRecreatedPackage(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	first, err := c.CreatePackage(ctx, hosted.Package{Protocol: "npm", Name: "again", OrgID: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePackage(ctx, "npm", "again"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // creation times differ, whatever the clock's resolution
	second, err := c.CreatePackage(ctx, hosted.Package{Protocol: "npm", Name: "again", OrgID: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := c.Package(ctx, "npm", "again")
	if err != nil {
		t.Fatal(err)
	}
	if first.Serial != second.Serial || first.Stamp() == second.Stamp() || stored.Stamp() != second.Stamp() {
		t.Fatalf("stamps %v, %v (stored %v): want equal serials, different stamps, the stored one the second", first.Stamp(), second.Stamp(), stored.Stamp())
	}
}
