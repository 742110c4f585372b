package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/edge/oci"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/gc"
	"entrepot/hosted/lease"
)

// blobMarkers are the holders of blob references in the metadata store:
// what the collector keeps and fsck checks. A server adds the references
// its protocols hold in memory (edge.Registry.MarkBlobs).
func blobMarkers(meta hosted.Store) []hosted.BlobMarker {
	return []hosted.BlobMarker{
		hosted.NewCatalog(meta),
		hosted.MarkFunc(func(ctx context.Context, mark func(hosted.BlobRef)) error { return cache.MarkBlobs(ctx, meta, mark) }),
		hosted.MarkFunc(func(ctx context.Context, mark func(hosted.BlobRef)) error { return oci.MarkBlobs(ctx, meta, mark) }),
	}
}

// recordChecker is a hosted.RecordChecker made of its function.
type recordChecker func(ctx context.Context, repair bool, report func(hosted.Problem)) error

func (f recordChecker) CheckRecords(ctx context.Context, repair bool, report func(hosted.Problem)) error {
	return f(ctx, repair, report)
}

// recordCheckers are fsck's checks of the records among themselves.
func recordCheckers(meta hosted.Store) []hosted.RecordChecker {
	catalog := hosted.NewCatalog(meta)
	return []hosted.RecordChecker{
		recordChecker(func(ctx context.Context, repair bool, report func(hosted.Problem)) error {
			return catalog.CheckRecords(ctx, repair, func(ctx context.Context, id string) (bool, error) { return auth.OrgExists(ctx, meta, id) }, report)
		}),
		recordChecker(func(ctx context.Context, repair bool, report func(hosted.Problem)) error {
			return oci.CheckRecords(ctx, meta, repair, report)
		}),
	}
}

// newCollector returns the garbage collector of cfg's stores, keeping
// also what extra marks.
func newCollector(cfg *Config, meta hosted.Store, blobs blob.Store, log *slog.Logger, extra ...hosted.BlobMarker) *gc.Collector {
	return gc.New(meta, blobs, append(blobMarkers(meta), extra...), gc.Options{Grace: cfg.GCGrace, Local: cfg.MongoURL == "", Logger: log})
}

// gcCmd is `entrepot gc [--dry-run] [--json]`: one garbage collection of
// the configured blob store (see hosted/gc). It takes the same settings as
// serve; on the embedded store it takes its lock, so it runs with the
// server stopped (a running server collects every GC_INTERVAL itself); on
// MongoDB it runs beside the edges, one collector at a time.
func gcCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	dry, asJSON, rest := false, false, args
	for len(rest) > 0 && (rest[0] == "--dry-run" || rest[0] == "--json") {
		dry = dry || rest[0] == "--dry-run"
		asJSON = asJSON || rest[0] == "--json"
		rest = rest[1:]
	}
	ctx := context.Background()
	cfg, meta, err := adminMeta(ctx, rest, getenv, stdout)
	if err != nil {
		return err
	}
	defer meta.Close(ctx)
	blobs, _, err := openBlobs(ctx, cfg)
	if err != nil {
		return err
	}
	rep, err := newCollector(cfg, meta, blobs, nil).Run(ctx, dry)
	if lease.Held(err) {
		return errors.New("gc: another collector is running; try again when it is done")
	}
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	verb := "freed"
	if dry {
		verb = "would free"
	}
	fmt.Fprintf(stdout, "gc: %d blobs (%d bytes), %d referenced, %d unreferenced within the grace period of %s; %s %d blobs (%d bytes)",
		rep.Blobs, rep.Bytes, rep.Referenced, rep.Young, rep.Grace, verb, rep.Freed, rep.FreedBytes)
	if rep.Failed > 0 {
		fmt.Fprintf(stdout, "; %d deletions failed", rep.Failed)
	}
	fmt.Fprintln(stdout)
	return nil
}

// fsckCmd is `entrepot fsck [--repair] [--quick] [--json]`: it checks that
// every referenced blob is there with its size and digest and that the
// records agree (hosted/gc.Check), and exits non-zero when a problem is
// left unrepaired. It takes the same settings as serve, and the embedded
// store's lock; with --repair on MongoDB, stop the edges first (a publish
// in flight looks dangling for an instant) and restart them afterwards.
func fsckCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	var opts gc.CheckOptions
	asJSON, rest := false, args
	for len(rest) > 0 && (rest[0] == "--repair" || rest[0] == "--quick" || rest[0] == "--json") {
		switch rest[0] {
		case "--repair":
			opts.Repair = true
		case "--quick":
			opts.Quick = true
		case "--json":
			asJSON = true
		}
		rest = rest[1:]
	}
	ctx := context.Background()
	cfg, meta, err := adminMeta(ctx, rest, getenv, stdout)
	if err != nil {
		return err
	}
	defer meta.Close(ctx)
	blobs, _, err := openBlobs(ctx, cfg)
	if err != nil {
		return err
	}
	opts.Markers, opts.Checkers = blobMarkers(meta), recordCheckers(meta)
	rep, err := gc.Check(ctx, meta, blobs, opts)
	if err != nil {
		return fmt.Errorf("fsck: %w", err)
	}
	if asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			state := ""
			if p.Repaired {
				state = " (repaired)"
			}
			fmt.Fprintf(stdout, "%s %s: %s%s\n", p.Kind, p.Source, p.Detail, state)
		}
		fmt.Fprintf(stdout, "fsck: %d references to %d blobs checked; %d problems, %d left\n",
			rep.References, rep.Blobs, len(rep.Problems), rep.Unrepaired())
	}
	if n := rep.Unrepaired(); n > 0 {
		return fmt.Errorf("fsck: %d problems left (--repair fixes dangling records and mirrored copies)", n)
	}
	return nil
}
