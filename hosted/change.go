package hosted

import (
	"context"
	"strconv"
)

// A Change is one change to the system of record that a cache may hold
// an older view of: what the change feed (hosted/changes) records once
// and every edge follows to invalidate its caches. It names what
// changed, not how: a follower drops what it holds of it and reads the
// store again.
type Change struct {
	Kind ChangeKind `json:"k"`
	// Protocol and Name name a package (its normalized name) for
	// ChangePackage, a namespace for ChangeClaim.
	Protocol string `json:"p,omitempty"`
	Name     string `json:"n,omitempty"`
	// Version is set when one version of the package changed (published,
	// yanked, deleted), "" when the package as a whole did.
	Version string `json:"v,omitempty"`
	// Subject is the session id of a ChangeSession.
	Subject string `json:"s,omitempty"`
}

// ChangeKind says what a Change is about, and so which caches drop what.
type ChangeKind string

// The kinds of change.
const (
	// ChangePackage: a package, one of its versions or files, or its tags
	// (publish, delete, yank, dist-tag, owners). Protocol and Name are set.
	ChangePackage ChangeKind = "package"
	// ChangeClaim: a namespace was claimed or released. Protocol and Name
	// (the namespace) are set.
	ChangeClaim ChangeKind = "claim"
	// ChangeCredentials: a user or an API token changed (revoked, deleted,
	// deactivated, password, admin flag, identity provider): every cached
	// credential is stale.
	ChangeCredentials ChangeKind = "credentials"
	// ChangeSession: session Subject ended (logout, refresh reuse).
	ChangeSession ChangeKind = "session"
	// ChangeAccess: an organization, a membership, a team, a repository
	// (visibility) or a permission changed: every cached permission
	// decision and repository look-up is stale.
	ChangeAccess ChangeKind = "access"
	// ChangeSettings: the platform settings changed.
	ChangeSettings ChangeKind = "settings"
	// ChangePolicy: a supply-chain policy rule was created, changed or
	// removed (edge/policy): every edge reloads its rules.
	ChangePolicy ChangeKind = "policy"
	// ChangeAll is never recorded: a follower that could not read the
	// feed for longer than its bound sends it to its subscribers, which
	// drop everything they hold from the store.
	ChangeAll ChangeKind = "all"
)

// A Notifier records changes once they are made. Notify is called after
// the write it reports has returned; it never fails that write (a change
// it cannot record is logged, and the caches elsewhere expire on their
// TTL). Safe for concurrent use.
type Notifier interface {
	Notify(ctx context.Context, c Change)
}

// A Stamp identifies one state of a package: it changes with every
// change (Serial) and never repeats when a package is deleted and
// created again (Created), whose serial starts over. Key prepared
// documents by it, never by the serial alone. Comparable with ==.
type Stamp struct {
	Created int64 // CreatedAt, unix nanoseconds
	Serial  uint64
}

// Stamp returns the package's current stamp.
func (p Package) Stamp() Stamp { return Stamp{Created: p.CreatedAt.UnixNano(), Serial: p.Serial} }

// String is the stamp as a short token for cache keys and validators.
func (s Stamp) String() string {
	var buf [32]byte // one allocation: documents are looked up by it on hot reads
	b := strconv.AppendInt(buf[:0], s.Created, 36)
	b = append(b, '-')
	return string(strconv.AppendUint(b, s.Serial, 10))
}
