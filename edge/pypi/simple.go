package pypi

import (
	"net/url"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// param returns a path parameter as the router decoded it.
func param(ctx *fasthttp.RequestCtx, name string) string {
	s, _ := ctx.UserValue(name).(string)
	return s
}

// pageFormat negotiates the representation of a simple page and sets
// Vary, which every answer of these routes carries.
func pageFormat(ctx *fasthttp.RequestCtx) (format, error) {
	ctx.Response.Header.Set("Vary", "Accept")
	f, ok := negotiate(string(ctx.Request.Header.Peek("Accept")))
	if !ok {
		return f, edge.WithStatus(fasthttp.StatusNotAcceptable, fault.New("pypi.negotiate", fault.Invalid,
			"none of the accepted types is served: ask for "+typeJSON+", "+typeHTMLv1+" or "+typeHTML))
	}
	return f, nil
}

// index answers the root listing: the hosted projects the caller may read.
// The mirror's projects are not listed; every name can still be asked for.
func (h *Handler) index(ctx *fasthttp.RequestCtx) error {
	f, err := pageFormat(ctx)
	if err != nil {
		return err
	}
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	bg := edge.Context(ctx)
	var names []string
	after := ""
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(bg, hosted.PackageFilter{Protocol: Protocol}, after, hosted.MaxPage)
		if err != nil {
			return fault.Op("pypi.index", err)
		}
		for _, pkg := range pkgs {
			_, ref, ok, err := h.r.Hosted(bg, Protocol, pkg.Name)
			if err != nil || !ok {
				continue
			}
			// A filter over many projects, not a request's one check: a
			// refusal only hides the name.
			if h.r.Auth.Authorize(bg, p, ref, auth.Read) == nil {
				names = append(names, pkg.Name)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	slices.Sort(names)
	// The listing depends on who asks.
	edge.ServeDocument(ctx, RenderIndex(names, h.mount.For(ctx), f),
		edge.DocOptions{ContentType: f.contentType, CacheControl: "private, max-age=0", Vary: "Accept", NoGzip: true})
	return nil
}

// simple dispatches the simple API's paths: "" is the root listing,
// "<name>/" a project page, "<name>" a redirect to "<name>/".
func (h *Handler) simple(ctx *fasthttp.RequestCtx) error {
	path := param(ctx, "path")
	if path == "" {
		return h.index(ctx)
	}
	raw, slash := strings.CutSuffix(path, "/")
	if err := ValidName(raw); err != nil {
		return fault.Op("pypi.project", err)
	}
	if name := Normalize(raw); name != raw || !slash {
		ctx.Response.Header.Set("Vary", "Accept")
		// A path-only Location: right behind any proxy, and clients
		// resolve it against the URL they asked for.
		ctx.Response.Header.Set("Location", h.mount.Path(ctx)+"/simple/"+url.PathEscape(name)+"/")
		ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
		return nil
	}
	return h.project(ctx, raw)
}

// project answers a project page, hosted or mirrored.
func (h *Handler) project(ctx *fasthttp.RequestCtx, name string) error {
	f, err := pageFormat(ctx)
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, name)
	if err != nil {
		return err
	}
	var p *page
	if o.Hosted {
		p, err = h.hostedPage(edge.Context(ctx), name)
	} else {
		p, err = h.upstreamPage(edge.Context(ctx), name)
	}
	if err != nil {
		return err
	}
	base := h.mount.For(ctx)
	// Pages vary on Accept alone, as PEP 691 servers say.
	o2 := edge.DocOptions{ContentType: f.contentType, Vary: "Accept", NoGzip: true}
	if !o.Hosted || !o.Ref.Public {
		o2.CacheControl = "private, max-age=0"
	}
	if f.json {
		edge.ServeDocument(ctx, RenderJSON(p, base), o2)
	} else {
		edge.ServeDocument(ctx, RenderHTML(p, base), o2)
	}
	return nil
}

// file answers a distribution file or its core metadata.
func (h *Handler) file(ctx *fasthttp.RequestCtx) error {
	t, err := ParseFileTarget(param(ctx, "project"), param(ctx, "file"))
	if err != nil {
		return err
	}
	o, err := h.resolve(ctx, t.Project)
	if err != nil {
		return err
	}
	if o.Hosted {
		return h.hostedFile(ctx, t)
	}
	return h.proxyFile(ctx, t)
}
