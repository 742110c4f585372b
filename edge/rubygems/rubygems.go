// Package rubygems serves the RubyGems protocol under /rubygems/: `gem
// push` and `gem yank` of private gems, the compact index Bundler and
// RubyGems resolve with (/versions, /info/{gem}, /names), the Marshal
// gemspecs and .gem files `gem install` downloads, the legacy
// specs.4.8.gz indexes, rubygems.org's JSON API for one gem, and a
// caching mirror of one upstream compact-index source (UPSTREAM_RUBYGEMS).
//
// Gem names are single names: a first push claims the name for the
// publishing organization, and a claimed name never resolves upstream.
// The served /versions and /names merge the hosted gems the caller may
// read with the upstream's, so that Bundler resolves across both.
//
// Documents built from the catalog (info files, /versions, /names, the
// legacy indexes) are stored as content-addressed blobs and streamed with
// Range and conditional requests; their ETag is the quoted MD5 of the
// body, which is what Bundler's compact index client checks after
// appending a range, and Repr-Digest/Digest carry its sha256.
package rubygems

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/upstream"
)

// Protocol is the protocol name: of routes, claims, repositories, tokens
// and the upstream client.
const Protocol = "rubygems"

// Options tune the handler; the zero value is usable.
type Options struct {
	// IndexTTL bounds how long the list of hosted gems is trusted from
	// memory before the catalog is read again (default 5s); a publish on
	// this node is seen at once.
	IndexTTL time.Duration
}

// Handler serves the protocol. It is safe for concurrent use.
type Handler struct {
	r    *edge.Registry
	up   *upstream.Client // nil: no mirror
	opts Options
	// mount is the mount point's public URL, set by Mount.
	mount edge.Mounted

	// docs maps a document's content key (what it was built from) to
	// the stored blob, so that an unchanged document is built once.
	docs *expirable.LRU[string, doc]

	mu      sync.Mutex
	list    []*gemIndex // hosted gems, by name
	listAt  time.Time
	byName  map[string]*gemIndex
	listGen uint64
	gen     uint64 // bumped by local changes
}

// New returns the handler. up is the upstream compact-index source, nil
// when no mirror is configured.
func New(r *edge.Registry, up *upstream.Client, opts Options) *Handler {
	if opts.IndexTTL <= 0 {
		opts.IndexTTL = 5 * time.Second
	}
	h := &Handler{
		r:      r,
		up:     up,
		opts:   opts,
		docs:   expirable.NewLRU[string, doc](4096, nil, time.Hour),
		byName: map[string]*gemIndex{},
	}
	r.OnChange(h.onChange)
	r.OnMark(hosted.MarkFunc(h.markDocs))
	return h
}

// markDocs reports the blobs of the prepared documents in memory, which
// no record names, to this edge's garbage collector. An entry lives an
// hour at most (docs' expiry), and its blob's time is refreshed when it
// is added (docFor commits it): a collector of another edge, whose grace
// period is longer than that hour, keeps it too.
func (h *Handler) markDocs(ctx context.Context, mark func(hosted.BlobRef)) error {
	for _, d := range h.docs.Values() {
		mark(hosted.BlobRef{Digest: string(d.digest), Size: d.size, ID: "rubygems prepared document"})
	}
	return nil
}

// Mount registers the routes under /rubygems.
func (h *Handler) Mount(g *edge.Group) {
	g.ConcealReads(Protocol, h.up == nil)
	h.mount = h.r.Base.Mount(g.Prefix())
	h.routes(g)
}
