package npm

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// distTags is GET /-/package/<name>/dist-tags (npm dist-tag ls).
func (h *Handler) distTags(ctx *fasthttp.RequestCtx) error {
	const op = "npm.distTags"
	n, o, err := h.resolvePath(ctx, auth.Read)
	if err != nil {
		return err
	}
	if !o.Hosted {
		return h.proxyDistTags(ctx, n)
	}
	p, live, err := h.hostedLive(ctx, op, n)
	if err != nil {
		return err
	}
	sortVersions(live)
	return writeJSON(ctx, fasthttp.StatusOK, liveTags(decodeMeta(p.Meta).DistTags, live))
}

// namedTag is the package name and the dist-tag of the path.
func namedTag(ctx *fasthttp.RequestCtx) (Name, string, error) {
	n, err := nameOf(ctx)
	if err != nil {
		return n, "", err
	}
	raw, _ := ctx.UserValue("tag").(string)
	t, err := url.PathUnescape(raw)
	if err != nil {
		return n, "", fault.Newf("npm.tagOf", fault.Invalid, "invalid tag %q", raw)
	}
	tag, err := ParseTag(t)
	return n, tag, err
}

// setDistTag is PUT /-/package/<name>/dist-tags/<tag> with the version as
// a JSON string (npm dist-tag add). It needs write permission.
func (h *Handler) setDistTag(ctx *fasthttp.RequestCtx) error {
	const op = "npm.setDistTag"
	n, tag, err := namedTag(ctx)
	if err != nil {
		return err
	}
	o, err := h.hostedFor(ctx, n, auth.Write)
	if err != nil {
		return err
	}
	body, err := readSmall(ctx)
	if err != nil {
		return err
	}
	var version string
	if err := json.Unmarshal(body, &version); err != nil {
		return fault.WrapMsg(op, fault.Invalid, "the body must be the version, as a JSON string", err)
	}
	v, err := h.r.Catalog.Version(edge.Context(ctx), Protocol, n.String(), version)
	if err != nil || v.Deleted {
		return fault.Newf(op, fault.NotFound, "version %q of %s not found", version, n)
	}
	if err := h.updateTags(edge.Context(ctx), n, func(tags map[string]string) { tags[tag] = version }); err != nil {
		return err
	}
	h.r.Record(ctx, "npm.dist-tag.add", n.String()+"@"+version, o.OrgID, "success", tag)
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true, tag: version})
}

// removeDistTag is DELETE /-/package/<name>/dist-tags/<tag> (npm dist-tag
// rm). "latest" cannot be removed: every package has one.
func (h *Handler) removeDistTag(ctx *fasthttp.RequestCtx) error {
	const op = "npm.removeDistTag"
	n, tag, err := namedTag(ctx)
	if err != nil {
		return err
	}
	if tag == "latest" {
		return fault.New(op, fault.Invalid, "the latest tag cannot be removed")
	}
	o, err := h.hostedFor(ctx, n, auth.Write)
	if err != nil {
		return err
	}
	found := false
	if err := h.updateTags(edge.Context(ctx), n, func(tags map[string]string) { _, found = tags[tag]; delete(tags, tag) }); err != nil {
		return err
	}
	if !found {
		return fault.Newf(op, fault.NotFound, "%s is not a dist-tag of %s", tag, n)
	}
	h.r.Record(ctx, "npm.dist-tag.rm", n.String(), o.OrgID, "success", tag)
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true})
}

// updateTags changes a hosted package's dist-tags through fn.
func (h *Handler) updateTags(ctx context.Context, n Name, fn func(map[string]string)) error {
	_, err := h.r.Catalog.UpdatePackage(ctx, Protocol, n.String(), func(p *hosted.Package) error {
		m := decodeMeta(p.Meta)
		fn(m.DistTags)
		raw, err := json.Marshal(m)
		p.Meta = raw
		return err
	})
	h.forget(n)
	if err != nil {
		return notFound("npm.updateTags", n, err)
	}
	return nil
}
