package edge

import (
	"context"
	"time"

	"entrepot/cache"
)

// Cached is the cache's Get for a request (ctx from Context): the entry
// for req.Key, filled from the upstream when missing; legacy, when not
// nil, builds the key of the older layout (cache.Request.Legacy), and is
// called only on a miss.
//
// The wait for a fill runs under the request's values without its
// deadline: cache.Get bounds the wait itself (cache.Options.WaitTimeout,
// longer than ReadTimeout by default) and serves a stale entry when it
// passes, where the read deadline would turn a slow but healthy fill into
// a 504. The time waited is added to the request's deadline, so that
// serving the filled entry still has the request's whole budget. The fill
// itself is detached, as always.
func (r *Registry) Cached(ctx context.Context, req cache.Request, legacy func() string) (cache.Entry, error) {
	rc, ok := ctx.(*requestContext)
	if !ok {
		return r.Cache.GetAdopting(ctx, req, legacy)
	}
	start := time.Now()
	e, err := r.Cache.GetAdopting(&rc.wait, req, legacy)
	if waited := time.Since(start); waited > extendAfter {
		rc.extend(waited)
	}
	return e, err
}

// extendAfter is the shortest wait that moves a request's deadline: a
// shorter one is noise against ReadTimeout, and not worth a new timer.
const extendAfter = time.Second
