package gomod

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/mirror"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// Size caps of what a fill accepts from the upstream: a zip and a go.mod
// as golang.org/x/mod/zip bounds them, the small JSON and lists far
// below anything real.
const (
	maxZip  = modzip.MaxZipFile
	maxMod  = modzip.MaxGoMod
	maxInfo = 64 << 10
	maxList = 16 << 20
)

// get is every GET and HEAD under the mount point.
func (h *Handler) get(ctx *fasthttp.RequestCtx) error {
	p := ctx.UserValue("path").(string)
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		return h.sumdb(ctx, rest)
	}
	rq, err := parse(p)
	if err != nil {
		return err
	}
	if _, err := h.resolve(ctx, rq.Path); err != nil {
		return err
	}
	// Resolve answered hosted for a claimed prefix: nothing is hosted
	// yet, so it is not found, and never asked upstream.
	return h.mirrored(ctx, rq)
}

// resolve is the request's one decision and permission check (edge.Resolve):
// a module under a claimed prefix is hosted and never goes upstream, even
// when the version is missing (the dependency-confusion guard).
func (h *Handler) resolve(ctx *fasthttp.RequestCtx, path string) (edge.Origin, error) {
	c := edge.Coords{Protocol: Protocol, Namespaces: prefixes(path), Name: path, Action: auth.Read,
		Unknown: "module %s is not hosted here and no upstream module proxy is configured (UPSTREAM_GO)"}
	if h.up != nil {
		c.Upstream = Protocol
	}
	o, err := h.r.Resolve(ctx, c)
	if err == nil && o.Hosted {
		err = fault.Newf("gomod.resolve", fault.NotFound, "module %s is not published here", path)
	}
	return o, err
}

// mirrored serves rq from the upstream through the cache.
func (h *Handler) mirrored(ctx *fasthttp.RequestCtx, rq req) error {
	u, err := h.up.Resolve(rq.file())
	if err != nil {
		return err
	}
	var (
		cr      cache.Request
		ct      = "text/plain; charset=utf-8"
		forever bool
	)
	switch rq.Kind {
	case kindList:
		cr.Key, cr.TTL = mirror.GoModule("list", rq.Path, ""), h.r.DocumentTTL()
		cr.Fetch = mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxList, Check: checkList})
	case kindLatest:
		cr.Key, cr.TTL, ct = mirror.GoModule("latest", rq.Path, ""), h.r.DocumentTTL(), "application/json"
		cr.Fetch = mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxInfo, Check: checkInfo("")})
	case kindInfo:
		ct = "application/json"
		if rq.Canonical {
			cr.Key, forever = mirror.GoModule("info", rq.Path, rq.Version), true
			cr.Fetch = mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxInfo, Check: checkInfo(rq.Version)})
		} else {
			cr.Key, cr.TTL = mirror.GoModule("query", rq.Path, rq.Version), h.r.DocumentTTL()
			cr.Fetch = mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxInfo, Check: checkInfo("")})
		}
	case kindMod:
		cr.Key, forever = mirror.GoModule("mod", rq.Path, rq.Version), true
		cr.Fetch = mirror.Document(h.up, u, mirror.DocumentOptions{MaxSize: maxMod, Check: checkMod(rq.Path)})
	case kindZip:
		cr.Key, forever, ct = mirror.GoModule("zip", rq.Path, rq.Version), true, "application/zip"
		mv := module.Version{Path: rq.Path, Version: rq.Version}
		cr.Fetch = mirror.Artifact(h.up, u, mirror.ArtifactOptions{MaxSize: maxZip,
			Checker: func() mirror.Checker { return &zipCheck{mod: mv, dir: h.spool()} }})
	}
	e, err := h.r.Cached(edge.Context(ctx), cr, nil)
	if err != nil {
		return err
	}
	return edge.ServeBlob(ctx, h.r.Blobs, edge.Blob{Digest: e.Digest, ContentType: ct, Immutable: forever})
}

// spool is the folder zip checks spool to.
func (h *Handler) spool() string {
	if h.r.SpoolDir == "" {
		return os.TempDir()
	}
	d := filepath.Join(h.r.SpoolDir, Protocol)
	_ = os.MkdirAll(d, 0o700) // CreateTemp reports a missing folder
	return d
}

// checkList accepts a version list: one valid version a line.
func checkList(b []byte, _ *upstream.Response) (map[string]string, error) {
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		if v, _, _ := strings.Cut(l, " "); !strings.HasPrefix(v, "v") || strings.ContainsAny(v, "/\\<>\"") {
			return nil, errors.New("the upstream sent an invalid version list")
		}
	}
	return nil, nil
}

// checkInfo accepts a version's info: JSON with a Version, the one asked
// for when want is set.
func checkInfo(want string) func([]byte, *upstream.Response) (map[string]string, error) {
	return func(b []byte, _ *upstream.Response) (map[string]string, error) {
		var info struct{ Version string }
		if err := json.Unmarshal(b, &info); err != nil || info.Version == "" {
			return nil, errors.New("the upstream sent an invalid .info document")
		}
		if want != "" && info.Version != want {
			return nil, errors.New("the upstream's .info is of another version")
		}
		return nil, nil
	}
}

// checkMod accepts a go.mod that parses and, when it names its module,
// names path.
func checkMod(path string) func([]byte, *upstream.Response) (map[string]string, error) {
	return func(b []byte, _ *upstream.Response) (map[string]string, error) {
		f, err := modfile.ParseLax("go.mod", b, nil)
		if err != nil {
			return nil, errors.New("the upstream sent a go.mod that does not parse")
		}
		if f.Module != nil && f.Module.Mod.Path != path {
			return nil, errors.New("the upstream's go.mod is of module " + f.Module.Mod.Path + ", not " + path)
		}
		return nil, nil
	}
}

// zipCheck spools a module zip as it streams into the blob writer and
// checks it against golang.org/x/mod/zip's rules once whole: every file
// under module@version/, no path escaping it, none twice, sizes within
// the limits. The cache cancels the blob on an error, so a zip that
// fails is never visible.
type zipCheck struct {
	mod module.Version
	dir string
	f   *os.File
	err error
}

func (z *zipCheck) Write(p []byte) (int, error) {
	if z.f == nil && z.err == nil {
		z.f, z.err = os.CreateTemp(z.dir, "zip-*")
	}
	if z.err != nil {
		return 0, z.err
	}
	return z.f.Write(p)
}

func (z *zipCheck) Check(context.Context) (map[string]string, error) {
	const op = "gomod.zipCheck"
	if z.err != nil {
		return nil, fault.Wrap(op, fault.Unavailable, z.err)
	}
	if z.f == nil {
		return nil, fault.New(op, fault.Upstream, "the upstream sent an empty module zip")
	}
	defer func() { z.f.Close(); os.Remove(z.f.Name()) }()
	if _, err := modzip.CheckZip(z.mod, z.f.Name()); err != nil {
		return nil, fault.WrapMsg(op, fault.Upstream, "the upstream's zip of "+z.mod.String()+" breaks the module zip rules, refused", err)
	}
	return nil, nil
}
