// Package adminui serves Entrepot's web dashboard: a single-page
// application built from web/ (Preact + Vite) into dist/, which is
// committed and embedded here, so that building the binary needs no Node
// toolchain (`make ui` rebuilds it).
//
// The dashboard talks to the server through the public management API
// (/api/v1) only, plus the public /health and /metrics documents for the
// overview. It routes in the URL's fragment (#/packages/...), so the edge
// serves exactly two things for it: the page at / and its content-hashed
// files under /assets/. No catch-all route competes with the protocol
// mounts (/npm/, /v2/, /pypi/, ...).
//
// Every answer carries a Content-Security-Policy that forbids inline and
// foreign scripts, X-Content-Type-Options: nosniff and Referrer-Policy:
// no-referrer. Hashed assets are cached for a year; the page itself is
// revalidated on every load (its ETag answers 304).
package adminui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// Protocol is the name of the dashboard's routes in logs and metrics.
const Protocol = "ui"

// CSP is the Content-Security-Policy of every dashboard answer: scripts,
// styles and API calls from this origin only, no inline script, no
// framing.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

//go:embed dist
var dist embed.FS

// Options tunes the dashboard. The zero value serves the embedded build.
type Options struct {
	// Files replaces the embedded build (a tree with index.html and
	// assets/), for tests.
	Files fs.FS
}

// file is one prepared answer.
type file struct {
	body, gz []byte // gz is nil when compressing does not pay
	ctype    string
	etag     string
}

// Handler serves the dashboard. Create it with New and register it with
// Mount; it is safe for concurrent use and holds every file in memory
// (the build is a few hundred KiB).
type Handler struct {
	index  *file
	assets map[string]*file // by name under assets/
}

// New prepares the dashboard's files. It panics when the build has no
// index.html: that is a broken binary, not a runtime condition.
func New(opts Options) *Handler {
	fsys := opts.Files
	if fsys == nil {
		sub, err := fs.Sub(dist, "dist")
		if err != nil {
			panic(err)
		}
		fsys = sub
	}
	h := &Handler{assets: map[string]*file{}}
	idx, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		panic(fmt.Sprintf("adminui: the embedded build has no index.html (run make ui): %v", err))
	}
	h.index = prepare("index.html", idx)
	fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil
		}
		h.assets[strings.TrimPrefix(p, "assets/")] = prepare(p, b)
		return nil
	})
	return h
}

func prepare(name string, b []byte) *file {
	sum := sha256.Sum256(b)
	f := &file{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	f.ctype = mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js", ".mjs":
		f.ctype = "text/javascript; charset=utf-8"
	case ".css":
		f.ctype = "text/css; charset=utf-8"
	case ".html":
		f.ctype = "text/html; charset=utf-8"
	case ".svg":
		f.ctype = "image/svg+xml"
	}
	if f.ctype == "" {
		f.ctype = "application/octet-stream"
	}
	if strings.HasPrefix(f.ctype, "text/") || f.ctype == "image/svg+xml" {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b)*9/10 {
			f.gz = buf.Bytes()
		}
	}
	return f
}

// Mount registers the dashboard on g, a Group without prefix:
//
//	GET, HEAD /                 the page (no-cache, ETag)
//	GET, HEAD /assets/{file}    content-hashed scripts and styles (immutable)
func (h *Handler) Mount(g *edge.Group) {
	page := edge.Route{Protocol: Protocol, Name: "page"}
	asset := edge.Route{Protocol: Protocol, Name: "asset"}
	for _, m := range []string{"GET", "HEAD"} {
		g.Handle(m, "/", page, h.servePage)
		g.Handle(m, "/assets/{file:*}", asset, h.serveAsset)
	}
}

// secure sets the headers every dashboard answer carries, errors included.
func secure(ctx *fasthttp.RequestCtx) {
	hd := &ctx.Response.Header
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
}

func (h *Handler) servePage(ctx *fasthttp.RequestCtx) error {
	secure(ctx)
	// The page names the current hashed assets: always revalidate it.
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	serve(ctx, h.index)
	return nil
}

func (h *Handler) serveAsset(ctx *fasthttp.RequestCtx) error {
	secure(ctx)
	name, _ := ctx.UserValue("file").(string)
	f, ok := h.assets[name]
	if !ok {
		ctx.Response.Header.Set("Cache-Control", "no-store")
		return fault.Newf("adminui", fault.NotFound, "no dashboard asset %q", name)
	}
	// Names carry a content hash: a changed file has a new name.
	ctx.Response.Header.Set("Cache-Control", "public, max-age=31536000, immutable")
	serve(ctx, f)
	return nil
}

// serve answers f, gzip-compressed when the client accepts it, and 304
// when the client's copy is current.
func serve(ctx *fasthttp.RequestCtx, f *file) {
	hd := &ctx.Response.Header
	hd.SetContentType(f.ctype)
	hd.Set("ETag", f.etag)
	if f.gz != nil {
		hd.Set("Vary", "Accept-Encoding")
	}
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(string(inm), f.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && ctx.Request.Header.HasAcceptEncoding("gzip") {
		hd.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	if ctx.IsHead() {
		hd.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(body)
}

// etagMatch reports whether an If-None-Match list names etag (weak
// comparison, as for GET).
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
