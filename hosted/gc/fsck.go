package gc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// CheckOptions configure Check.
type CheckOptions struct {
	// Markers report the references whose blobs are checked.
	Markers []hosted.BlobMarker
	// Checkers check the records' agreement among themselves.
	Checkers []hosted.RecordChecker
	// Repair removes dangling records, and the cache records (mirrored
	// copies) whose blob is missing or damaged, so that the next request
	// fetches them again; a damaged blob only mirrors reference is
	// deleted too. Hosted content whose blob is lost cannot be repaired:
	// it is reported, for a restore from backup.
	Repair bool
	// Quick checks sizes only, without reading every blob to hash it.
	Quick bool
}

// CheckReport is what Check found.
type CheckReport struct {
	References int64            `json:"references"` // references checked
	Blobs      int64            `json:"blobs"`      // distinct blobs they name
	Problems   []hosted.Problem `json:"problems"`
}

// Unrepaired counts the problems left as they were.
func (r CheckReport) Unrepaired() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Repaired {
			n++
		}
	}
	return n
}

// Check verifies that every blob the markers reference exists, with the
// size its records promise and the bytes its digest names, and runs the
// record checkers. With Repair it fixes what CheckOptions.Repair says.
// Repair must run with the servers stopped (as `entrepot fsck --repair`
// says): a publish in flight has, for an instant, records that look
// dangling. Errors are the stores'; the problems found are the report's.
func Check(ctx context.Context, meta hosted.Store, blobs blob.Store, opts CheckOptions) (CheckReport, error) {
	const op = "gc.Check"
	var rep CheckReport
	refs := map[string][]hosted.BlobRef{}
	for _, m := range opts.Markers {
		err := m.MarkBlobs(ctx, func(r hosted.BlobRef) {
			if r.Pending {
				return
			}
			rep.References++
			refs[r.Digest] = append(refs[r.Digest], r)
		})
		if err != nil {
			return rep, fault.Op(op, err)
		}
	}
	rep.Blobs = int64(len(refs))
	for d, rs := range refs {
		kind, detail, err := checkBlob(ctx, blobs, blob.Digest(d), rs, opts.Quick)
		if err != nil {
			return rep, fault.Op(op, err)
		}
		if kind == "" {
			continue
		}
		allMirrored := true
		for _, r := range rs {
			allMirrored = allMirrored && r.Mirrored
		}
		if opts.Repair && allMirrored && kind != "missing-blob" {
			if err := blobs.Delete(ctx, blob.Digest(d)); err != nil {
				return rep, fault.Op(op, err)
			}
		}
		for _, r := range rs {
			p := hosted.Problem{Kind: kind, Source: r.Source(), Detail: d + ": " + detail}
			if opts.Repair && r.Mirrored && (allMirrored || kind == "missing-blob") {
				if err := meta.Delete(ctx, r.Collection, r.ID); err != nil {
					return rep, fault.Op(op, err)
				}
				p.Repaired = true
			}
			rep.Problems = append(rep.Problems, p)
		}
	}
	for _, c := range opts.Checkers {
		err := c.CheckRecords(ctx, opts.Repair, func(p hosted.Problem) { rep.Problems = append(rep.Problems, p) })
		if err != nil {
			return rep, fault.Op(op, err)
		}
	}
	return rep, nil
}

// checkBlob returns the kind of d's problem and a detail ("" when it is
// sound) or the store's error.
func checkBlob(ctx context.Context, blobs blob.Store, d blob.Digest, rs []hosted.BlobRef, quick bool) (kind, detail string, err error) {
	if _, err := blob.ParseDigest(string(d)); err != nil || d.Algorithm() != blob.SHA256 {
		return "invalid-digest", "not a sha256 digest", nil
	}
	info, err := blobs.Stat(ctx, d)
	if fault.Is(err, fault.NotFound) {
		return "missing-blob", "the blob is missing", nil
	}
	if err != nil {
		return "", "", err
	}
	for _, r := range rs {
		if r.Size >= 0 && r.Size != info.Size {
			return "size-mismatch", fmt.Sprintf("the record says %d bytes, the blob has %d", r.Size, info.Size), nil
		}
	}
	if quick {
		return "", "", nil
	}
	rc, err := blobs.Open(ctx, d, 0, -1)
	if fault.Is(err, fault.NotFound) {
		return "missing-blob", "the blob is missing", nil
	}
	if err != nil {
		return "", "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", "", fault.Wrap("gc.checkBlob", fault.Unavailable, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Hex() {
		return "digest-mismatch", "the bytes hash to sha256:" + got, nil
	}
	return "", "", nil
}
