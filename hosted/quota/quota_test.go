package quota_test

import (
	"context"
	"fmt"
	"testing"

	"entrepot/deploy/testkit/stores"
	"entrepot/hosted"
	"entrepot/hosted/fault"
	"entrepot/hosted/quota"
)

// TestQuota runs on bbolt and on FerretDB: usage counts each live blob
// once (twice in two repositories), deleted versions free their room, an
// override beats the default and removing it restores the default.
func TestQuota(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		meta := stores.Peers(t, backend, 1)[0]
		cat := hosted.NewCatalog(meta)
		names := 0
		file := func(d string, n int64) hosted.File {
			names++
			return hosted.File{Name: fmt.Sprintf("f%d.tgz", names), Digest: "sha256:" + d, Size: n}
		}
		for _, p := range []hosted.Package{
			{Protocol: "npm", Name: "@acme/a", OrgID: "org1", RepoID: "r-npm"},
			{Protocol: "pypi", Name: "b", OrgID: "org1", RepoID: "r-pypi"},
			{Protocol: "npm", Name: "@other/c", OrgID: "org2", RepoID: "r-other"},
		} {
			if _, err := cat.CreatePackage(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range []hosted.Version{
			{Protocol: "npm", Package: "@acme/a", Version: "1.0.0", OrgID: "org1", Files: []hosted.File{file("aa", 100)}},
			{Protocol: "npm", Package: "@acme/a", Version: "1.0.1", OrgID: "org1", Files: []hosted.File{file("aa", 100)}}, // same bytes
			{Protocol: "npm", Package: "@acme/a", Version: "2.0.0", OrgID: "org1", Files: []hosted.File{file("bb", 1000)}},
			{Protocol: "pypi", Package: "b", Version: "1.0", OrgID: "org1", Files: []hosted.File{file("aa", 100), file("cc", 10)}},
			{Protocol: "npm", Package: "@other/c", Version: "1.0.0", OrgID: "org2", Files: []hosted.File{file("dd", 5)}},
		} {
			if _, err := cat.AddVersion(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		q := quota.New(meta, cat, 1200)
		u, err := q.Usage(ctx, "org1")
		if err != nil {
			t.Fatal(err)
		}
		if u.Bytes != 1110 || u.Blobs != 3 || u.ByRepo["r-npm"] != 1100 || u.ByRepo["r-pypi"] != 110 {
			t.Fatalf("usage %+v", u)
		}
		tests := []struct {
			name  string
			set   *int64
			org   string
			add   int64
			limit int64
			own   bool
			allow bool
		}{
			{name: "default, fits", org: "org1", add: 90, limit: 1200, allow: true},
			{name: "default, over", org: "org1", add: 91, limit: 1200},
			{name: "override raises", set: ptr(5000), org: "org1", add: 3000, limit: 5000, own: true, allow: true},
			{name: "override 0 is unlimited", set: ptr(0), org: "org1", add: 1 << 40, own: true, allow: true},
			{name: "removed, default again", set: ptr(-1), org: "org1", add: 91, limit: 1200},
			{name: "another org", org: "org2", add: 1195, limit: 1200, allow: true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if tc.set != nil {
					if err := q.Set(ctx, tc.org, *tc.set); err != nil {
						t.Fatal(err)
					}
				}
				limit, own, err := q.Limit(ctx, tc.org)
				if err != nil || limit != tc.limit || own != tc.own {
					t.Fatalf("limit %d own %v err %v, want %d %v", limit, own, err, tc.limit, tc.own)
				}
				err = q.Allow(ctx, tc.org, tc.add)
				if tc.allow && err != nil || !tc.allow && !fault.Is(err, fault.TooLarge) {
					t.Fatalf("Allow(%d): %v", tc.add, err)
				}
			})
		}
		if _, err := cat.DeleteVersion(ctx, "npm", "@acme/a", "2.0.0"); err != nil {
			t.Fatal(err)
		}
		if err := q.Allow(ctx, "org1", 1000); err != nil {
			t.Fatalf("after a deletion: %v", err)
		}
	})
}

func ptr(n int64) *int64 { return &n }
