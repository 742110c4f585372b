// Package cleanup applies the cleanup policies of hosted repositories: a
// policy keeps the newest Keep disposable versions of each series of a
// package (an npm package's pre-releases, a Maven SNAPSHOT's timestamped
// builds, an OCI repository's untagged manifests) and deletes the rest.
//
// What is disposable, what a series is and how a version is deleted are
// the protocol's (a Pruner each, wired by cmd/entrepot); deletions go
// through the same catalog and record deletions as a client's or the
// API's, so the change feed tells every edge and the garbage collector
// (hosted/gc) reclaims the blobs after its grace period. Every deletion is
// reported to Options.Audit.
//
// One runner works at a time across every edge sharing the store: a run
// holds the lease "cleanup" of the collector's lease table (hosted/lease)
// and renews it while it works.
package cleanup

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
	"entrepot/hosted/lease"
)

// MaxKeep bounds a policy's Keep: a larger number keeps everything anyway
// and is more likely a mistake.
const MaxKeep = 10000

// maxStoredRemovals bounds the removals a policy's LastRun lists, so
// that one big pass does not make a big record (the audit log has all).
const maxStoredRemovals = 100

var (
	policiesC  = hosted.Collection{Name: "cleanup_policies"}
	leasesName = "gc_leases" // the collector's table: one place for the lifecycle jobs' leases
	leaseKey   = "cleanup"
)

// Policy is a repository's cleanup policy.
type Policy struct {
	RepoID   string `json:"repoId"`
	OrgID    string `json:"orgId"`
	Protocol string `json:"protocol"`
	// Keep is how many of each series' newest disposable versions stay
	// (pre-releases of an npm package, builds of one Maven SNAPSHOT,
	// untagged manifests of an OCI repository); 0 keeps none of them.
	// Releases, tagged versions and tagged manifests are never touched.
	Keep      int       `json:"keep"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
	// LastRun is what the last run that was not a dry run did.
	LastRun *Report `json:"lastRun,omitempty"`
}

// Removal is one version a policy deleted (or, in a dry run, would).
type Removal struct {
	Protocol string `json:"protocol"`
	Package  string `json:"package"`
	Version  string `json:"version"` // as the protocol names it: "1.0.0-beta.1", a file of a SNAPSHOT, a manifest digest
	Bytes    int64  `json:"bytes"`   // of its files, before the collector's deduplication
}

// Report is what one run over a repository did.
type Report struct {
	RepoID   string    `json:"repoId"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Keep     int       `json:"keep"`
	Packages int       `json:"packages"` // looked at
	Count    int       `json:"count"`    // versions deleted, or in a dry run that would be
	Bytes    int64     `json:"bytes"`    // their files' bytes
	// Deleted lists them; the stored LastRun keeps the first
	// maxStoredRemovals only.
	Deleted []Removal `json:"deleted"`
	Failed  int       `json:"failed,omitempty"` // packages whose pruning failed; retried next run
}

// A Pruner deletes one protocol's disposable versions. Prune calls
// remove with each version of p beyond the newest keep of its series, in
// no set order, and deletes it first unless dryRun; it returns the first
// error of the store, after which some removals may have been made (and
// were reported).
type Pruner interface {
	Prune(ctx context.Context, p hosted.Package, keep int, dryRun bool, remove func(Removal)) error
}

// Options configure a Runner.
type Options struct {
	// Pruners are the protocols' pruners by protocol name; a repository
	// of another protocol has no cleanup (Invalid when set).
	Pruners map[string]Pruner
	// Audit is told of every deletion a run that is not a dry run made,
	// with the policy that made it.
	Audit func(Policy, Removal)
	// LeaseTTL is the lifetime of the runner's lease between renewals
	// (lease.Table's default when 0).
	LeaseTTL time.Duration
	// Local says that this process is the store's only one (the embedded
	// store): runs need no lease then.
	Local  bool
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Runner keeps the policies and applies them. It is safe for concurrent
// use.
type Runner struct {
	meta    hosted.Store
	catalog *hosted.Catalog
	leases  *lease.Table
	opts    Options
}

// New returns a Runner keeping its policies in catalog's store.
func New(catalog *hosted.Catalog, opts Options) *Runner {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Audit == nil {
		opts.Audit = func(Policy, Removal) {}
	}
	meta := catalog.Store()
	return &Runner{
		meta: meta, catalog: catalog, opts: opts,
		leases: lease.New(meta, leasesName, lease.Options{TTL: opts.LeaseTTL, Now: opts.Now, Logger: opts.Logger}),
	}
}

// Supports reports whether repositories of protocol can have a policy.
func (r *Runner) Supports(protocol string) bool { return r.opts.Pruners[protocol] != nil }

// Policy returns a repository's policy: NotFound when it has none.
func (r *Runner) Policy(ctx context.Context, repoID string) (Policy, error) {
	var p Policy
	_, err := hosted.GetJSON(ctx, r.meta, policiesC, repoID, &p)
	return p, fault.Op("cleanup.Policy", err)
}

// SetPolicy creates or replaces p's repository's policy (its last run's
// report stays) and returns it. Invalid for a protocol without a Pruner
// or a Keep out of [0, MaxKeep].
func (r *Runner) SetPolicy(ctx context.Context, p Policy) (Policy, error) {
	const op = "cleanup.SetPolicy"
	if !r.Supports(p.Protocol) {
		return Policy{}, fault.Newf(op, fault.Invalid, "repositories of %s have no cleanup policies (npm pre-releases, Maven SNAPSHOTs and OCI untagged manifests have)", p.Protocol)
	}
	if p.Keep < 0 || p.Keep > MaxKeep {
		return Policy{}, fault.Newf(op, fault.Invalid, "keep must be between 0 and %d", MaxKeep)
	}
	p.UpdatedAt = r.opts.Now().UTC()
	p.LastRun = nil
	if _, err := hosted.CreateJSON(ctx, r.meta, policiesC, p.RepoID, nil, p); !fault.Is(err, fault.Conflict) {
		return p, fault.Op(op, err)
	}
	return hosted.Update(ctx, r.meta, policiesC, p.RepoID, func(old *Policy, _ map[string]string) error {
		last := old.LastRun
		*old = p
		old.LastRun = last
		return nil
	})
}

// DeletePolicy removes a repository's policy; NotFound when it had none.
func (r *Runner) DeletePolicy(ctx context.Context, repoID string) error {
	// The store's Delete is idempotent; the API tells a missing policy.
	if _, err := r.meta.Get(ctx, policiesC, repoID); err != nil {
		return fault.Op("cleanup.DeletePolicy", err)
	}
	return fault.Op("cleanup.DeletePolicy", r.meta.Delete(ctx, policiesC, repoID))
}

// Run applies the policy of one repository now (or with dryRun lists
// what it would delete) and returns the report; a real run's report is
// kept as the policy's LastRun. NotFound without a policy; a Conflict
// wrapping a *lease.HeldError (lease.Held) when another runner works.
func (r *Runner) Run(ctx context.Context, repoID string, dryRun bool) (Report, error) {
	const op = "cleanup.Run"
	p, err := r.Policy(ctx, repoID)
	if err != nil {
		return Report{}, fault.Op(op, err)
	}
	release, err := r.hold(ctx)
	if err != nil {
		return Report{}, fault.Op(op, err)
	}
	defer release()
	rep, err := r.apply(ctx, p, dryRun)
	return rep, fault.Op(op, err)
}

// RunAll applies every policy once, holding the lease for the whole
// pass, and returns the reports. A repository that fails is logged and
// the pass goes on.
func (r *Runner) RunAll(ctx context.Context) ([]Report, error) {
	const op = "cleanup.RunAll"
	release, err := r.hold(ctx)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	defer release()
	var policies []Policy
	err = hosted.Scan(ctx, r.meta, policiesC, func(rec hosted.Record) error {
		var p Policy
		if err := json.Unmarshal(rec.Data, &p); err != nil {
			r.opts.Logger.Warn("cleanup: policy unreadable", "repo", rec.ID, "error", err)
			return nil
		}
		policies = append(policies, p)
		return nil
	})
	if err != nil {
		return nil, fault.Op(op, err)
	}
	var out []Report
	for _, p := range policies {
		rep, err := r.apply(ctx, p, false)
		if err != nil {
			if ctx.Err() != nil {
				return out, fault.Wrap(op, fault.Unavailable, ctx.Err())
			}
			r.opts.Logger.Warn("cleanup: repository not cleaned", "repo", p.RepoID, "error", err)
			continue
		}
		out = append(out, rep)
	}
	return out, nil
}

// RunEvery runs RunAll every interval until ctx ends; a pass that finds
// another runner at work is skipped quietly, since every edge runs this
// loop and one pass per interval is the point.
func (r *Runner) RunEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.RunAll(ctx); err != nil && !lease.Held(err) && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			r.opts.Logger.Warn("cleanup: pass failed", "error", err)
		}
	}
}

// hold takes the runner's lease (unless Local) and returns its release.
func (r *Runner) hold(ctx context.Context) (func(), error) {
	if r.opts.Local {
		return func() {}, nil
	}
	l, err := r.leases.Acquire(ctx, leaseKey)
	if err != nil {
		return nil, err
	}
	stop := l.Keep(ctx)
	return func() {
		stop()
		l.Release(context.WithoutCancel(ctx))
	}, nil
}

// apply runs p over its repository's packages.
func (r *Runner) apply(ctx context.Context, p Policy, dryRun bool) (Report, error) {
	rep := Report{RepoID: p.RepoID, Started: r.opts.Now().UTC(), DryRun: dryRun, Keep: p.Keep, Deleted: []Removal{}}
	pr := r.opts.Pruners[p.Protocol]
	if pr == nil {
		return rep, fault.Newf("cleanup.apply", fault.Invalid, "no cleanup for %s", p.Protocol)
	}
	// A repository's packages are those of its organization and protocol
	// that name it (the catalog indexes packages by organization).
	after := ""
	for {
		pkgs, next, err := r.catalog.ListPackages(ctx, hosted.PackageFilter{OrgID: p.OrgID, Protocol: p.Protocol}, after, hosted.MaxPage)
		if err != nil {
			return rep, err
		}
		for _, pk := range pkgs {
			if pk.RepoID != p.RepoID {
				continue
			}
			rep.Packages++
			err := pr.Prune(ctx, pk, p.Keep, dryRun, func(rm Removal) {
				rep.Deleted = append(rep.Deleted, rm)
				rep.Count++
				rep.Bytes += rm.Bytes
				if !dryRun {
					r.opts.Audit(p, rm)
				}
			})
			if err != nil {
				if ctx.Err() != nil {
					return rep, fault.Wrap("cleanup.apply", fault.Unavailable, ctx.Err())
				}
				rep.Failed++
				r.opts.Logger.Warn("cleanup: package not cleaned", "package", pk.ID, "error", err)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	rep.Finished = r.opts.Now().UTC()
	if !dryRun {
		_, err := hosted.Update(ctx, r.meta, policiesC, p.RepoID, func(cur *Policy, _ map[string]string) error {
			last := rep
			last.Deleted = last.Deleted[:min(len(last.Deleted), maxStoredRemovals)]
			cur.LastRun = &last
			return nil
		})
		if err != nil && !fault.Is(err, fault.NotFound) {
			return rep, err
		}
		r.opts.Logger.Info("cleanup: repository cleaned", "repo", p.RepoID, "keep", p.Keep, "packages", rep.Packages, "deleted", len(rep.Deleted), "bytes", rep.Bytes)
	}
	return rep, nil
}
