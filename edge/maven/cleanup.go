package maven

import (
	"context"
	"sort"

	"entrepot/hosted"
	"entrepot/hosted/cleanup"
	"entrepot/hosted/fault"
)

// Pruner is Maven's part of the repositories' cleanup policies
// (hosted/cleanup): the disposable versions of an artifact are the
// timestamped builds of its SNAPSHOT versions, each SNAPSHOT version a
// series of its own; the newest keep builds of each stay (a build is
// every file deployed with one timestamp and build number: jar, pom,
// sources, ...). Releases are never touched. A build's files go as the
// API's version deletion does (the catalog marks each file's version
// deleted, so its name is never deployed again), and the generated
// maven-metadata.xml lists the builds left.
type Pruner struct {
	Catalog *hosted.Catalog
}

// Prune implements cleanup.Pruner.
func (p Pruner) Prune(ctx context.Context, pk hosted.Package, keep int, dryRun bool, remove func(cleanup.Removal)) error {
	const op = "maven.Prune"
	vs, err := p.Catalog.Versions(ctx, Protocol, pk.Name, false)
	if err != nil {
		return fault.Op(op, err)
	}
	doomed := OldBuilds(vs, keep)
	for _, v := range doomed {
		if !dryRun {
			if _, err := p.Catalog.DeleteVersion(ctx, Protocol, pk.Name, v.Version); err != nil {
				return fault.Op(op, err)
			}
		}
		remove(cleanup.Removal{Protocol: Protocol, Package: pk.Name, Version: v.Version, Bytes: v.Files[0].Size})
	}
	if len(doomed) > 0 && !dryRun {
		if _, err := p.Catalog.Touch(ctx, Protocol, pk.Name); err != nil && !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
	}
	return nil
}

// OldBuilds returns the catalog versions (one file each) of the SNAPSHOT
// builds of vs past the keep newest of their SNAPSHOT version.
func OldBuilds(vs []hosted.Version, keep int) []hosted.Version {
	type build struct {
		ts string
		n  int
	}
	files := map[string]map[build][]hosted.Version{} // SNAPSHOT version → build → its files
	for _, v := range vs {
		if v.Deleted || len(v.Files) != 1 {
			continue
		}
		c, err := Parse(v.Files[0].Name)
		if err != nil || c.Kind != Artifact || !c.Snapshot() || c.Build == 0 {
			continue
		}
		b := build{c.Timestamp, c.Build}
		if files[c.Version] == nil {
			files[c.Version] = map[build][]hosted.Version{}
		}
		files[c.Version][b] = append(files[c.Version][b], v)
	}
	var out []hosted.Version
	for _, builds := range files {
		order := make([]build, 0, len(builds))
		for b := range builds {
			order = append(order, b)
		}
		sort.Slice(order, func(i, j int) bool {
			return newer(StoredFile{Timestamp: order[i].ts, Build: order[i].n}, StoredFile{Timestamp: order[j].ts, Build: order[j].n})
		})
		for _, b := range order[min(keep, len(order)):] {
			out = append(out, builds[b]...)
		}
	}
	return out
}

var _ cleanup.Pruner = Pruner{}
