package npm

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"

	"entrepot/edge"
)

// The media types of packuments.
const (
	typeFull        = "application/json"
	typeAbbreviated = "application/vnd.npm.install-v1+json"
)

// newDocument prepares a packument for serving: its tags and gzip
// variant are built once, then every request is served from them
// (edge.Document). Packuments differ by Accept (abbreviated or full).
func newDocument(body []byte, contentType, cacheControl string) *edge.Document {
	return edge.NewDocument(body, edge.DocOptions{ContentType: contentType, CacheControl: cacheControl, Vary: "Accept"})
}

// documents holds prepared documents by key, and for hosted packages the
// serial last seen, trusted for a moment so that a hot GET makes no store
// round trip. A change made in this process forgets the serial at once;
// one made by another edge is seen within serialTTL.
type documents struct {
	lru     *lru.Cache[string, *edge.Document]
	serials *expirable.LRU[string, uint64]
}

const serialTTL = time.Second

func newDocuments(n int) *documents {
	l, _ := lru.New[string, *edge.Document](n) // errs only on n <= 0
	return &documents{lru: l, serials: expirable.NewLRU[string, uint64](65536, nil, serialTTL)}
}

// docKey names a prepared document: its form, the package, what its
// content came from (a serial or a cached blob's digest) and the base URL
// written into it.
func docKey(form, name, source, base string) string {
	return form + "\x00" + name + "\x00" + source + "\x00" + base
}

func (d *documents) get(key string) (*edge.Document, bool) { return d.lru.Get(key) }
func (d *documents) add(key string, doc *edge.Document)    { d.lru.Add(key, doc) }

func (d *documents) serial(n Name) (uint64, bool) { return d.serials.Get(n.String()) }
func (d *documents) setSerial(n Name, s uint64)   { d.serials.Add(n.String(), s) }
func (d *documents) forgetHosted(n Name)          { d.serials.Remove(n.String()) }
