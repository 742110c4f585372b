package npm

import (
	"context"
	"sort"

	"github.com/Masterminds/semver/v3"

	"entrepot/hosted"
	"entrepot/hosted/cleanup"
	"entrepot/hosted/fault"
)

// Pruner is npm's part of the repositories' cleanup policies
// (hosted/cleanup): a package's disposable versions are its pre-releases
// (1.0.0-beta.1) that no dist-tag names, newest published first; the
// newest keep stay. A version goes as an unpublish of it does: the
// catalog marks it deleted (it can never be published again) and bumps
// the package, and the change feed makes every edge drop its packument
// and tarball file.
type Pruner struct {
	Catalog *hosted.Catalog
}

// Prune implements cleanup.Pruner.
func (p Pruner) Prune(ctx context.Context, pk hosted.Package, keep int, dryRun bool, remove func(cleanup.Removal)) error {
	const op = "npm.Prune"
	vs, err := p.Catalog.Versions(ctx, Protocol, pk.Name, false)
	if err != nil {
		return fault.Op(op, err)
	}
	doomed := Disposable(vs, decodeMeta(pk.Meta).DistTags, keep)
	for _, v := range doomed {
		if !dryRun {
			if _, err := p.Catalog.DeleteVersion(ctx, Protocol, pk.Name, v.Version); err != nil {
				return fault.Op(op, err)
			}
		}
		var size int64
		for _, f := range v.Files {
			size += f.Size
		}
		remove(cleanup.Removal{Protocol: Protocol, Package: pk.Name, Version: v.Version, Bytes: size})
	}
	if len(doomed) > 0 && !dryRun {
		// A new serial makes the edges rebuild what they prepared.
		if _, err := p.Catalog.Touch(ctx, Protocol, pk.Name); err != nil && !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
	}
	return nil
}

// Disposable returns the versions of vs a policy keeping keep deletes:
// the pre-releases no dist-tag points at, past the keep newest published
// (semver precedence breaks ties).
func Disposable(vs []hosted.Version, distTags map[string]string, keep int) []hosted.Version {
	tagged := map[string]bool{}
	for _, v := range distTags {
		tagged[v] = true
	}
	var pre []hosted.Version
	for _, v := range vs {
		sv, err := semver.NewVersion(v.Version)
		if err != nil || sv.Prerelease() == "" || tagged[v.Version] || v.Deleted {
			continue
		}
		pre = append(pre, v)
	}
	sort.SliceStable(pre, func(i, j int) bool {
		if !pre[i].PublishedAt.Equal(pre[j].PublishedAt) {
			return pre[i].PublishedAt.After(pre[j].PublishedAt)
		}
		return versionLess(pre[j].Version, pre[i].Version)
	})
	if len(pre) <= keep {
		return nil
	}
	return pre[keep:]
}

var _ cleanup.Pruner = Pruner{}
