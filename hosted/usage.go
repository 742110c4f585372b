package hosted

import (
	"context"

	"entrepot/hosted/fault"
)

// OrgUsage is what an organization's hosted packages hold in the blob
// store: each distinct blob of its live versions counted once (the store
// is content-addressed, so a file published twice costs once), and by
// repository (a blob two repositories share counts in each of them).
type OrgUsage struct {
	Bytes  int64            `json:"bytes"`
	Blobs  int64            `json:"blobs"`
	ByRepo map[string]int64 `json:"byRepo"`
}

// OrgUsage adds up the files of the live versions of orgID's packages.
// It reads every version of the organization's packages: a publish over a
// quota pays it, a hot read never does.
func (c *Catalog) OrgUsage(ctx context.Context, orgID string) (OrgUsage, error) {
	const op = "catalog.OrgUsage"
	u := OrgUsage{ByRepo: map[string]int64{}}
	seen, seenRepo := map[string]bool{}, map[string]bool{}
	after := ""
	for {
		pkgs, next, err := c.ListPackages(ctx, PackageFilter{OrgID: orgID}, after, 200)
		if err != nil {
			return u, fault.Op(op, err)
		}
		for _, p := range pkgs {
			vs, err := c.Versions(ctx, p.Protocol, p.Name, false)
			if err != nil {
				return u, fault.Op(op, err)
			}
			if _, ok := u.ByRepo[p.RepoID]; !ok {
				u.ByRepo[p.RepoID] = 0
			}
			for _, v := range vs {
				for _, f := range v.Files {
					if !seen[f.Digest] {
						seen[f.Digest] = true
						u.Bytes += f.Size
						u.Blobs++
					}
					if k := p.RepoID + "\x00" + f.Digest; !seenRepo[k] {
						seenRepo[k] = true
						u.ByRepo[p.RepoID] += f.Size
					}
				}
			}
		}
		if next == "" {
			return u, nil
		}
		after = next
	}
}
