// Package quota keeps the organizations' storage quotas for hosted
// packages and decides whether a publish fits (Quotas.Allow).
//
// An organization's quota is its override (Set), else the platform
// default (QUOTA); 0 is unlimited. Usage is what the catalog's live
// versions of the organization hold (hosted.Catalog.OrgUsage), read when
// a publish asks, so that a deletion frees room at once. Mirrored content
// never counts: it belongs to no organization.
package quota

import (
	"context"
	"encoding/json"
	"fmt"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

var quotasC = hosted.Collection{Name: "quotas"}

// Quotas reads and writes quotas over a store. Safe for concurrent use.
type Quotas struct {
	s   hosted.Store
	cat *hosted.Catalog
	def int64
}

// New returns the quotas kept in s, with def bytes (0: unlimited) for an
// organization without its own.
func New(s hosted.Store, cat *hosted.Catalog, def int64) *Quotas {
	return &Quotas{s: s, cat: cat, def: max(def, 0)}
}

// Default is the platform default, in bytes (0: unlimited).
func (q *Quotas) Default() int64 { return q.def }

type record struct {
	Bytes int64 `json:"bytes"`
}

// Limit returns orgID's quota in bytes (0: unlimited) and whether it is
// the organization's own rather than the default.
func (q *Quotas) Limit(ctx context.Context, orgID string) (int64, bool, error) {
	var r record
	_, err := hosted.GetJSON(ctx, q.s, quotasC, orgID, &r)
	if fault.Is(err, fault.NotFound) {
		return q.def, false, nil
	}
	if err != nil {
		return 0, false, fault.Op("quota.Limit", err)
	}
	return r.Bytes, true, nil
}

// Set gives orgID its own quota of bytes (0: unlimited); a negative
// bytes removes it, so that the default applies again. The caller
// authorizes (a platform admin).
func (q *Quotas) Set(ctx context.Context, orgID string, bytes int64) error {
	const op = "quota.Set"
	if bytes < 0 {
		err := q.s.Delete(ctx, quotasC, orgID)
		if fault.Is(err, fault.NotFound) {
			err = nil
		}
		return fault.Op(op, err)
	}
	data, _ := json.Marshal(record{Bytes: bytes})
	for try := 0; try < 8; try++ {
		old, err := q.s.Get(ctx, quotasC, orgID)
		switch {
		case fault.Is(err, fault.NotFound):
			_, err = q.s.Create(ctx, quotasC, hosted.Record{ID: orgID, Data: data})
		case err == nil:
			_, err = q.s.Replace(ctx, quotasC, hosted.Record{ID: orgID, Data: data}, old.Rev)
		}
		if !fault.Is(err, fault.Conflict) && !fault.Is(err, fault.NotFound) {
			return fault.Op(op, err)
		}
	}
	return fault.New(op, fault.Conflict, "quota too busy")
}

// Usage returns orgID's usage (hosted.Catalog.OrgUsage).
func (q *Quotas) Usage(ctx context.Context, orgID string) (hosted.OrgUsage, error) {
	return q.cat.OrgUsage(ctx, orgID)
}

// Allow reports whether orgID may store add more bytes: nil when it has
// no quota or stays within it, else TooLarge with a message that names
// the quota and the usage (what the client shows). Two publishes racing
// past the last free bytes may both pass: the quota is a budget, not a
// reservation.
func (q *Quotas) Allow(ctx context.Context, orgID string, add int64) error {
	const op = "quota.Allow"
	limit, _, err := q.Limit(ctx, orgID)
	if err != nil || limit == 0 {
		return err
	}
	u, err := q.Usage(ctx, orgID)
	if err != nil {
		return fault.Op(op, err)
	}
	if u.Bytes+add > limit {
		return fault.Newf(op, fault.TooLarge, "the organization's storage quota is exceeded: %s used of %s, and this upload needs %s more; delete versions or ask a platform admin to raise the quota",
			Bytes(u.Bytes), Bytes(limit), Bytes(add))
	}
	return nil
}

// Bytes words n bytes for a person: "512 B", "1.5 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
