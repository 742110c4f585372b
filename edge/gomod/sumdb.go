package gomod

import (
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/fault"
)

// maxSumDB caps a checksum database answer: a full tile is 8 KiB of
// hashes, a lookup a few lines and a signed note.
const maxSumDB = 1 << 20

// sumdb serves /sumdb/{name}/... (go help goproxy, "proxying a checksum
// database") for the configured names only: never an open proxy. A name
// not configured is 404 to /supported too, and the go command then asks
// the checksum database itself (or fails, with no egress), which is
// the honest answer; 200 means every lookup and tile comes through here.
func (h *Handler) sumdb(ctx *fasthttp.RequestCtx, rest string) error {
	const op = "gomod.sumdb"
	name, p, _ := strings.Cut(rest, "/")
	up, ok := h.opts.SumDBs[name]
	if !ok {
		return fault.Newf(op, fault.NotFound, "checksum database %q is not proxied here (UPSTREAM_GOSUMDB)", name)
	}
	if _, err := h.r.MayMirror(ctx, Protocol); err != nil {
		return err
	}
	cr := cache.Request{Key: mirror.GoSumDB(name, p)}
	ct := "text/plain; charset=utf-8"
	switch {
	case p == "supported":
		ctx.SetContentType(ct)
		return nil
	case p == "latest":
		cr.TTL = h.r.DocumentTTL() // the tree grows; a stale head is still a valid one
	case strings.HasPrefix(p, "lookup/"):
		// A lookup's record never changes; the signed tree head it comes
		// with may be older than the client's, which the go command
		// reconciles with tiles.
		mv := strings.TrimPrefix(p, "lookup/")
		i := strings.LastIndexByte(mv, '@')
		if i < 0 {
			return fault.New(op, fault.NotFound, "invalid lookup: want lookup/<module>@<version>")
		}
		path, perr := module.UnescapePath(mv[:i])
		v, verr := module.UnescapeVersion(mv[i+1:])
		if perr != nil || verr != nil || module.Check(path, strings.TrimSuffix(v, "/go.mod")) != nil {
			return fault.New(op, fault.NotFound, "invalid lookup: want lookup/<module>@<version>")
		}
	case strings.HasPrefix(p, "tile/"):
		if _, err := tlog.ParseTilePath(p); err != nil {
			return fault.New(op, fault.NotFound, "invalid tile path")
		}
		ct = "application/octet-stream"
	default:
		return fault.New(op, fault.NotFound, "unknown checksum database path")
	}
	u, err := up.Resolve(p)
	if err != nil {
		return err
	}
	cr.Fetch = mirror.Document(up, u, mirror.DocumentOptions{MaxSize: maxSumDB})
	e, err := h.r.Cached(edge.Context(ctx), cr, nil)
	if err != nil {
		return err
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: ct, Immutable: cr.TTL == 0})
}
