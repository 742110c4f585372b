package hosted

import (
	"context"
	"encoding/json"
	"regexp"

	"entrepot/hosted/fault"
)

// BlobRef is one record's reference to a blob of the blob store, as the
// garbage collector (which keeps every referenced blob) and fsck (which
// checks that each is there, whole) see it.
type BlobRef struct {
	Digest string // "sha256:<hex>", the blob store's key
	Size   int64  // the size the record promises; -1 when it says none
	// Collection and ID name the record that holds the reference.
	Collection Collection
	ID         string
	// Mirrored marks a cache record: a copy of upstream bytes, which
	// fsck --repair may drop so that the next request fetches it again.
	Mirrored bool
	// Pending marks a reference to a blob that may not exist yet (an
	// upload session's chunk, which becomes that blob when it ends): the
	// collector keeps such a blob, fsck does not ask for it.
	Pending bool
}

// Source names the record that holds r, for reports.
func (r BlobRef) Source() string { return r.Collection.Name + "/" + r.ID }

// A BlobMarker reports every blob reference it keeps in the store
// (the catalog's versions, the cache records, OCI's manifests and links).
// MarkBlobs calls mark once per reference it finds, and returns the
// store's errors; a reference written while it runs may be missed, which
// is why a collector keeps young blobs whatever their marks.
type BlobMarker interface {
	MarkBlobs(ctx context.Context, mark func(BlobRef)) error
}

// MarkFunc is a BlobMarker made of its function.
type MarkFunc func(ctx context.Context, mark func(BlobRef)) error

// MarkBlobs calls f.
func (f MarkFunc) MarkBlobs(ctx context.Context, mark func(BlobRef)) error { return f(ctx, mark) }

// Problem is an inconsistency fsck found among records.
type Problem struct {
	Kind     string `json:"kind"`   // "dangling-file-ref", "claim-without-org", "missing-blob", ...
	Source   string `json:"source"` // collection/id of the record at fault
	Detail   string `json:"detail"`
	Repaired bool   `json:"repaired,omitempty"`
}

// A RecordChecker checks that the records it owns agree with each other,
// and with repair removes the dangling ones. It reports each problem once
// and returns the store's errors.
type RecordChecker interface {
	CheckRecords(ctx context.Context, repair bool, report func(Problem)) error
}

// Scan calls fn with every record of c, page by page, until fn returns an
// error, which Scan returns.
func Scan(ctx context.Context, s Store, c Collection, fn func(Record) error) error {
	q := Query{}
	for {
		recs, next, err := s.Query(ctx, c, q)
		if err != nil {
			return fault.Op("hosted.Scan", err)
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		q.After = next
	}
}

var sha256Digest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// Digests returns every sha256 digest written anywhere in data, for
// markers of records whose protocol-specific parts (a PyPI file's
// extracted METADATA) name blobs too: marking more than needed only keeps
// a blob longer.
func Digests(data []byte) []string {
	var out []string
	for _, m := range sha256Digest.FindAll(data, -1) {
		out = append(out, string(m))
	}
	return out
}

// MarkBlobs implements BlobMarker: the files of every version that is not
// deleted, and any other blob its record names (Digests). A deleted
// version's blobs are left to the collector.
func (c *Catalog) MarkBlobs(ctx context.Context, mark func(BlobRef)) error {
	return Scan(ctx, c.s, versionsC, func(r Record) error {
		var v Version
		if err := json.Unmarshal(r.Data, &v); err != nil {
			return fault.Wrap("catalog.MarkBlobs", fault.Internal, err)
		}
		if v.Deleted {
			return nil
		}
		sized := map[string]bool{}
		for _, f := range v.Files {
			mark(BlobRef{Digest: f.Digest, Size: f.Size, Collection: versionsC, ID: r.ID})
			sized[f.Digest] = true
		}
		for _, d := range Digests(r.Data) {
			if !sized[d] {
				sized[d] = true
				mark(BlobRef{Digest: d, Size: -1, Collection: versionsC, ID: r.ID})
			}
		}
		return nil
	})
}

// CheckRecords checks the catalog's indexes against its records: every
// file reference names a version that lists the file (a publish
// interrupted between the two writes leaves one that does not, and it
// would refuse the retried publish), and every claim's organization
// exists (orgExists says; nil skips the check). With repair, the dangling
// references and claims are removed.
func (c *Catalog) CheckRecords(ctx context.Context, repair bool, orgExists func(ctx context.Context, orgID string) (bool, error), report func(Problem)) error {
	const op = "catalog.CheckRecords"
	fix := func(p Problem, coll Collection, id string) error {
		if repair {
			if err := c.s.Delete(ctx, coll, id); err != nil {
				return fault.Op(op, err)
			}
			p.Repaired = true
		}
		report(p)
		return nil
	}
	err := Scan(ctx, c.s, filesC, func(r Record) error {
		var ref FileRef
		if err := json.Unmarshal(r.Data, &ref); err != nil {
			return fault.Wrap(op, fault.Internal, err)
		}
		v, err := c.Version(ctx, ref.Protocol, ref.Package, ref.Version)
		if fault.Is(err, fault.NotFound) {
			return fix(Problem{Kind: "dangling-file-ref", Source: filesC.Name + "/" + r.ID,
				Detail: "version " + ref.Package + "@" + ref.Version + " does not exist"}, filesC, r.ID)
		}
		if err != nil {
			return err
		}
		for _, f := range v.Files {
			if f.Name == ref.Path {
				return nil
			}
		}
		return fix(Problem{Kind: "dangling-file-ref", Source: filesC.Name + "/" + r.ID,
			Detail: "version " + ref.Package + "@" + ref.Version + " does not list the file"}, filesC, r.ID)
	})
	if err != nil || orgExists == nil {
		return err
	}
	known := map[string]bool{}
	return c.eachClaim(ctx, Query{}, func(r Record, cl Claim) error {
		ok, seen := known[cl.OrgID]
		if !seen {
			var err error
			if ok, err = orgExists(ctx, cl.OrgID); err != nil {
				return fault.Op(op, err)
			}
			known[cl.OrgID] = ok
		}
		if ok {
			return nil
		}
		return fix(Problem{Kind: "claim-without-org", Source: claimsC.Name + "/" + r.ID,
			Detail: cl.Protocol + " namespace " + cl.Namespace + " is claimed by missing organization " + cl.OrgID}, claimsC, r.ID)
	})
}
