package npm

import (
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"entrepot/edge"
	"entrepot/hosted"
)

// The media types of packuments.
const (
	typeFull        = "application/json"
	typeAbbreviated = "application/vnd.npm.install-v1+json"
)

// newDocument prepares a packument for serving: its tags and gzip
// variant are built once, then every request is served from them
// (edge.Document), a large one from prepared files on the budget.
// Packuments differ by Accept (abbreviated or full).
func (d *documents) newDocument(body []byte, contentType, cacheControl string) *edge.Document {
	return d.budget.NewDocument(body, edge.DocOptions{ContentType: contentType, CacheControl: cacheControl, Vary: "Accept"})
}

// documents holds prepared documents by key, and for hosted packages the
// stamp last seen (hosted.Stamp: a package deleted and published again
// starts its serial over, so a serial alone would find the old
// document), trusted for a moment so that a hot GET makes no store round
// trip. A change, made here or by another edge (the change feed, see
// changes.go), forgets the stamp at once; serialTTL bounds a stamp read
// just before a change that the change's forgetting ran ahead of.
type documents struct {
	budget  *edge.Budget
	docs    *edge.Shelf[*edge.Document]
	serials *expirable.LRU[string, hosted.Stamp]
}

const serialTTL = time.Second

func newDocuments(b *edge.Budget) *documents {
	return &documents{
		budget:  b,
		docs:    edge.NewShelf(b, "npm.docs", 0, (*edge.Document).Weight),
		serials: expirable.NewLRU[string, hosted.Stamp](65536, nil, serialTTL),
	}
}

// docKey names a prepared document: its form, the package, what its
// content came from (a stamp or a cached blob's digest) and the base URL
// written into it.
func docKey(form, name, source, base string) string {
	return form + "\x00" + name + "\x00" + source + "\x00" + base
}

func (d *documents) get(key string) (*edge.Document, bool) { return d.docs.Get(key) }
func (d *documents) add(key string, doc *edge.Document)    { d.docs.Add(key, doc) }

func (d *documents) stamp(n Name) (hosted.Stamp, bool) { return d.serials.Get(n.String()) }
func (d *documents) setStamp(n Name, s hosted.Stamp)   { d.serials.Add(n.String(), s) }
func (d *documents) forgetHosted(name string)          { d.serials.Remove(name) }
func (d *documents) forgetAllHosted()                  { d.serials.Purge() }
