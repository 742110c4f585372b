// Package gc reclaims the blobs nothing references any more (Collector)
// and checks that everything referenced is there, whole (Check: fsck).
//
// A collection is mark and sweep over the blob store:
//
//  1. list the blobs older than the grace period (the candidates);
//  2. mark: every hosted.BlobMarker reports the blobs its records name
//     (the catalog's versions, the cache records, OCI's manifests, links
//     and upload sessions, prepared documents held in memory);
//  3. sweep: each candidate nobody marked is looked at again and deleted
//     if it is still older than the grace period; uploads a crashed writer
//     left in the backend (S3 multipart uploads) older than that period
//     are aborted (blob.UploadSweeper).
//
// The grace period is what makes this safe while serving, with no lock
// between writers and the collector: every writer commits its blob before
// it writes the record that names it, and a Commit that finds its blob
// there already refreshes the blob's time (blob.Lister's promise), so a
// blob some writer is about to reference is always young. The period must
// outlast the longest gap between a blob's commit and its record (a fill,
// a publish, a prepared document's life in memory: an hour), and, on S3,
// the longest multipart upload, whose object is dated from its start. The
// second look of step 3 narrows the race with a Commit that refreshes a
// candidate to the time between one Stat and one Delete.
//
// One collector runs at a time across every edge sharing the store: a
// run holds the lease "gc" (hosted/lease) and renews it while it works.
// The report of the last run is kept in the store, for the dashboard.
package gc

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
	"entrepot/hosted/lease"
)

// DefaultGrace is the grace period when Options.Grace is 0.
const DefaultGrace = 24 * time.Hour

// Collections of the store the package writes.
var (
	runsC = hosted.Collection{Name: "gc_runs"}
	// leaseKey in the leases collection is held by the running collector.
	leasesName = "gc_leases"
	leaseKey   = "gc"
	lastID     = "last"
)

// Report is what one collection did.
type Report struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Grace    string    `json:"grace"`
	// Blobs and Bytes count the blobs the store held when the run began.
	Blobs int64 `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Referenced counts the distinct blobs the markers named.
	Referenced int64 `json:"referenced"`
	// Young counts unreferenced blobs kept because they are within the
	// grace period.
	Young int64 `json:"young"`
	// Freed and FreedBytes are the blobs deleted (with DryRun, those that
	// would have been).
	Freed      int64 `json:"freed"`
	FreedBytes int64 `json:"freedBytes"`
	// Failed counts deletions that failed; the blobs stay for the next run.
	Failed int64 `json:"failed,omitempty"`
	// AbortedUploads counts the uploads crashed writers left in the
	// backend (S3 multipart uploads) older than the grace period, which
	// the run aborted.
	AbortedUploads int64 `json:"abortedUploads,omitempty"`
}

// Options configure a Collector. The zero value is usable.
type Options struct {
	// Grace is how old an unreferenced blob must be to be swept
	// (DefaultGrace when 0).
	Grace time.Duration
	// LeaseTTL is the lifetime of the collector's lease between renewals
	// (lease.Table's default when 0).
	LeaseTTL time.Duration
	// Local says that this process is the store's only one (the embedded
	// store, whose file it locks): runs need no lease then, and a run
	// killed midway does not make the next one wait for its lease to
	// lapse.
	Local  bool
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Collector collects the garbage of one blob store. It is safe for
// concurrent use; runs are one at a time across every process sharing the
// metadata store.
type Collector struct {
	meta    hosted.Store
	blobs   blob.Store
	list    blob.Lister
	markers []hosted.BlobMarker
	leases  *lease.Table
	opts    Options
}

// New returns a Collector of blobs, keeping every blob markers name; meta
// holds its lease and reports. A blob store that cannot list its blobs
// (not a blob.Lister) gets a Collector whose runs fail with Invalid.
func New(meta hosted.Store, blobs blob.Store, markers []hosted.BlobMarker, opts Options) *Collector {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	list, _ := blobs.(blob.Lister)
	return &Collector{
		meta: meta, blobs: blobs, list: list, markers: markers, opts: opts,
		leases: lease.New(meta, leasesName, lease.Options{TTL: opts.LeaseTTL, Now: opts.Now, Logger: opts.Logger}),
	}
}

// Run collects once: it deletes the blobs nobody references that are
// older than the grace period, or with dryRun only counts them, and
// returns what it did. A real run's report is stored for LastRun. When
// another collector holds the lease, Run returns a Conflict wrapping a
// *lease.HeldError (lease.Held) and does nothing. Errors of the stores
// stop the run before its sweep; a failed deletion only counts in Failed.
func (c *Collector) Run(ctx context.Context, dryRun bool) (Report, error) {
	const op = "gc.Run"
	if c.list == nil {
		return Report{}, fault.New(op, fault.Invalid, "the blob store cannot list its blobs")
	}
	if !c.opts.Local {
		l, err := c.leases.Acquire(ctx, leaseKey)
		if err != nil {
			return Report{}, fault.Op(op, err)
		}
		stop := l.Keep(ctx)
		defer func() {
			stop()
			l.Release(context.WithoutCancel(ctx))
		}()
	}

	now := c.opts.Now()
	cutoff := now.Add(-c.opts.Grace)
	rep := Report{Started: now.UTC(), DryRun: dryRun, Grace: c.opts.Grace.String()}
	// Candidates first, marks second: a blob committed after the listing
	// is not a candidate, and one listed old but referenced before the
	// marks end is marked.
	candidates, young := map[string]int64{}, map[string]bool{}
	err := c.list.List(ctx, func(i blob.Info) bool {
		rep.Blobs++
		rep.Bytes += i.Size
		if i.ModTime.Before(cutoff) {
			candidates[string(i.Digest)] = i.Size
		} else {
			young[string(i.Digest)] = true
		}
		return true
	})
	if err != nil {
		return rep, fault.Op(op, err)
	}
	referenced := map[string]bool{}
	for _, m := range c.markers {
		err := m.MarkBlobs(ctx, func(r hosted.BlobRef) {
			referenced[r.Digest] = true
			delete(candidates, r.Digest)
			delete(young, r.Digest)
		})
		if err != nil {
			return rep, fault.Op(op, err)
		}
	}
	rep.Referenced = int64(len(referenced))
	rep.Young = int64(len(young))
	for d, size := range candidates {
		if err := ctx.Err(); err != nil {
			return rep, fault.Wrap(op, fault.Unavailable, err)
		}
		// The second look: a Commit may have refreshed it since.
		info, err := c.blobs.Stat(ctx, blob.Digest(d))
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil || !info.ModTime.Before(cutoff) {
			if err != nil {
				rep.Failed++
			} else {
				rep.Young++
			}
			continue
		}
		if !dryRun {
			if err := c.blobs.Delete(ctx, blob.Digest(d)); err != nil {
				rep.Failed++
				c.opts.Logger.Warn("gc: delete failed", "digest", d, "error", err)
				continue
			}
		}
		rep.Freed++
		rep.FreedBytes += size
	}
	if us, ok := c.blobs.(blob.UploadSweeper); ok && !dryRun {
		n, err := us.SweepUploads(ctx, cutoff)
		rep.AbortedUploads = int64(n)
		if err != nil {
			c.opts.Logger.Warn("gc: stale uploads not all aborted", "error", err)
		}
	}
	rep.Finished = c.opts.Now().UTC()
	if !dryRun {
		if err := c.save(ctx, rep); err != nil {
			return rep, fault.Op(op, err)
		}
	}
	c.opts.Logger.Info("gc: collected", "dryRun", dryRun, "blobs", rep.Blobs, "referenced", rep.Referenced,
		"young", rep.Young, "freed", rep.Freed, "freedBytes", rep.FreedBytes, "failed", rep.Failed)
	return rep, nil
}

// save keeps rep as the last run's report.
func (c *Collector) save(ctx context.Context, rep Report) error {
	data, err := json.Marshal(rep)
	if err != nil {
		return fault.Wrap("gc.save", fault.Internal, err)
	}
	for try := 0; try < 8; try++ {
		old, err := c.meta.Get(ctx, runsC, lastID)
		switch {
		case fault.Is(err, fault.NotFound):
			_, err = c.meta.Create(ctx, runsC, hosted.Record{ID: lastID, Data: data})
		case err == nil:
			_, err = c.meta.Replace(ctx, runsC, hosted.Record{ID: lastID, Data: data}, old.Rev)
		}
		if !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
			return err
		}
	}
	return fault.New("gc.save", fault.Conflict, "report too busy")
}

// LastRun returns the report of the last run that was not a dry run, by
// any collector sharing the store: NotFound when there was none.
func (c *Collector) LastRun(ctx context.Context) (Report, error) {
	var rep Report
	_, err := hosted.GetJSON(ctx, c.meta, runsC, lastID, &rep)
	return rep, fault.Op("gc.LastRun", err)
}

// RunEvery runs a collection every interval until ctx ends; a run that
// finds another collector at work is skipped quietly, since every edge
// runs this loop and one collection per interval is the point.
func (c *Collector) RunEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Another edge may have run within this interval already.
		if last, err := c.LastRun(ctx); err == nil && c.opts.Now().Sub(last.Finished) < interval/2 {
			continue
		}
		if _, err := c.Run(ctx, false); err != nil && !lease.Held(err) && !errors.Is(err, context.Canceled) {
			c.opts.Logger.Warn("gc: run failed", "error", err)
		}
	}
}
