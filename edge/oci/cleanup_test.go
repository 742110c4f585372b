package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"entrepot/deploy/testkit/stores"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/cleanup"
)

// TestPrune runs the cleanup of untagged manifests on the real stores
// (bbolt and FerretDB, blobs on disk): tagged manifests, an index's
// children and referrers stay, and of the loose manifests the newest
// keep stay; the deleted ones' tags and records go as a DELETE's do.
func TestPrune(t *testing.T) {
	stores.Each(t, func(t *testing.T, backend string) {
		ctx := context.Background()
		meta := stores.Peers(t, backend, 1)[0]
		blobs, err := fs.New(filepath.Join(t.TempDir(), "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		s := &Handler{r: &edge.Registry{Catalog: hosted.NewCatalog(meta)}}
		put := func(body string) blob.Info {
			w, err := blobs.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Cancel(ctx)
			w.Write([]byte(body))
			info, err := w.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return info
		}
		digestOf := func(body string) blob.Digest {
			s := sha256.Sum256([]byte(body))
			return blob.Digest("sha256:" + hex.EncodeToString(s[:]))
		}
		t0 := time.Now().Add(-time.Hour)
		add := func(_, body, mt string, at int, subject blob.Digest) blob.Digest {
			info := put(body)
			m := manifestRec{Repo: "acme/app", Digest: digestOf(body), Blob: info.Digest, MediaType: mt, Size: info.Size,
				Subject: subject, PushedAt: t0.Add(time.Duration(at) * time.Minute)}
			if err := s.saveManifest(ctx, m); err != nil {
				t.Fatal(err)
			}
			return m.Digest
		}
		const img = "application/vnd.oci.image.manifest.v1+json"
		cfg := `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + hex.EncodeToString(make([]byte, 32)) + `","size":2},"layers":[]`
		manifest := func(n string) string {
			return `{"schemaVersion":2,"mediaType":"` + img + `",` + cfg + `,"annotations":{"n":"` + n + `"}}`
		}
		loose := []blob.Digest{}
		for i, n := range []string{"a", "b", "c", "d"} {
			loose = append(loose, add(n, manifest(n), img, i, ""))
		}
		tagged := add("t", manifest("t"), img, 10, "")
		child := add("child", manifest("child"), img, 0, "")
		index := `{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[{"mediaType":"` + img + `","digest":"` + string(child) + `","size":1}]}`
		idx := add("index", index, mtOCIIndex, 11, "")
		ref := add("sig", manifest("sig"), img, 0, loose[0])
		for tag, d := range map[string]blob.Digest{"v1": tagged, "multi": idx} {
			if err := s.setTag(ctx, "acme/app", tag, d); err != nil {
				t.Fatal(err)
			}
		}

		p := Pruner{Store: meta, Blobs: blobs}
		pk := hosted.Package{Protocol: "oci", Name: "acme/app"}
		prune := func(keep int, dry bool) []string {
			var got []string
			if err := p.Prune(ctx, pk, keep, dry, func(r cleanup.Removal) { got = append(got, r.Version) }); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			return got
		}
		want := []string{string(loose[0]), string(loose[1])}
		slices.Sort(want)
		if got := prune(2, true); !slices.Equal(got, want) {
			t.Fatalf("dry run deletes %v, want %v (the two oldest loose manifests)", got, want)
		}
		if got := prune(2, false); !slices.Equal(got, want) {
			t.Fatalf("run deleted %v, want %v", got, want)
		}
		for _, d := range loose[:2] {
			if _, err := s.manifest(ctx, "acme/app", d); err == nil {
				t.Fatalf("manifest %s is still recorded", d)
			}
		}
		for _, d := range []blob.Digest{loose[2], loose[3], tagged, child, idx, ref} {
			if _, err := s.manifest(ctx, "acme/app", d); err != nil {
				t.Fatalf("manifest %s went: %v", d, err)
			}
		}
		if got := prune(2, false); len(got) != 0 {
			t.Fatalf("second run deleted %v", got)
		}
	})
}
