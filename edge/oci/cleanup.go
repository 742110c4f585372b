package oci

import (
	"context"
	"io"
	"sort"

	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/cleanup"
	"entrepot/hosted/fault"
)

// Pruner is OCI's part of the repositories' cleanup policies
// (hosted/cleanup): an image repository's disposable versions are its
// untagged manifests, newest pushed first; the newest keep stay. A
// manifest an index lists (a platform's image of a multi-arch tag) and a
// referrer (a signature or SBOM naming a subject) are never disposable
// themselves. A manifest goes as a client's DELETE by digest does
// (removeManifest); its layers stay for the collector, which keeps those
// another manifest or link still names.
type Pruner struct {
	Store hosted.Store
	Blobs blob.Store
}

// maxIndexSize bounds an index read to find its children (the spec's
// figure for a manifest).
const maxIndexSize = 4 << 20

// Prune implements cleanup.Pruner.
func (p Pruner) Prune(ctx context.Context, pk hosted.Package, keep int, dryRun bool, remove func(cleanup.Removal)) error {
	const op = "oci.Prune"
	repo := pk.Name
	tagged := map[blob.Digest]bool{}
	err := eachRecord(ctx, p.Store, tagsC, "repo", repo, "", func(r hosted.Record) bool {
		if t, err := decode[tagRec](r); err == nil {
			tagged[t.Digest] = true
		}
		return true
	})
	if err != nil {
		return fault.Op(op, err)
	}
	var all []manifestRec
	err = eachRecord(ctx, p.Store, manifestsC, "repo", repo, "", func(r hosted.Record) bool {
		if m, err := decode[manifestRec](r); err == nil {
			all = append(all, m)
		}
		return true
	})
	if err != nil {
		return fault.Op(op, err)
	}
	children := map[blob.Digest]bool{}
	for _, m := range all {
		if m.MediaType != mtOCIIndex && m.MediaType != mtDockerList {
			continue
		}
		kids, err := p.children(ctx, m)
		if err != nil {
			// An index that cannot be read keeps nothing safe to delete.
			return fault.Op(op, err)
		}
		for _, d := range kids {
			children[d] = true
		}
	}
	for _, m := range untagged(all, tagged, children, keep) {
		if !dryRun {
			if err := removeManifest(ctx, p.Store, repo, m.Digest); err != nil && !fault.Is(err, fault.NotFound) {
				return fault.Op(op, err)
			}
		}
		remove(cleanup.Removal{Protocol: "oci", Package: repo, Version: string(m.Digest), Bytes: m.Size})
	}
	return nil
}

// children returns the manifests an index lists.
func (p Pruner) children(ctx context.Context, m manifestRec) ([]blob.Digest, error) {
	rc, err := p.Blobs.Open(ctx, m.Blob, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxIndexSize+1))
	if err != nil {
		return nil, fault.Wrap("oci.children", fault.Unavailable, err)
	}
	parsed, _, err := ParseManifest(b, m.MediaType)
	if err != nil {
		return nil, err
	}
	out := make([]blob.Digest, 0, len(parsed.Manifests))
	for _, d := range parsed.Manifests {
		out = append(out, blob.Digest(d.Digest))
	}
	return out, nil
}

// untagged returns the manifests of all a policy keeping keep deletes:
// those no tag names, no index lists and that are no referrer, past the
// keep newest pushed.
func untagged(all []manifestRec, tagged, children map[blob.Digest]bool, keep int) []manifestRec {
	var loose []manifestRec
	for _, m := range all {
		if !tagged[m.Digest] && !children[m.Digest] && m.Subject == "" {
			loose = append(loose, m)
		}
	}
	sort.SliceStable(loose, func(i, j int) bool { return loose[i].PushedAt.After(loose[j].PushedAt) })
	if len(loose) <= keep {
		return nil
	}
	return loose[keep:]
}

var _ cleanup.Pruner = Pruner{}
