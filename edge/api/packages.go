package api

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// packageView is a hosted package as the API shows it; protocol data
// (Meta) stays with the protocol.
type packageView struct {
	ID          string    `json:"id"`
	Protocol    string    `json:"protocol"`
	Name        string    `json:"name"`
	DisplayName string    `json:"displayName,omitempty"`
	OrgID       string    `json:"orgId"`
	RepoID      string    `json:"repoId,omitempty"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Meta is the protocol's data (dist-tags, readme, ...), in the answer
	// about one package only: lists stay small.
	Meta json.RawMessage `json:"meta,omitempty"`
}

func viewPackage(p hosted.Package) packageView {
	return packageView{ID: p.ID, Protocol: p.Protocol, Name: p.Name, DisplayName: p.DisplayName, OrgID: p.OrgID,
		RepoID: p.RepoID, Description: p.Description, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

type fileView struct {
	Name        string            `json:"name"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	ContentType string            `json:"contentType,omitempty"`
	Hashes      map[string]string `json:"hashes,omitempty"`
	UploadedAt  time.Time         `json:"uploadedAt"`
}

type versionView struct {
	Version     string     `json:"version"`
	Files       []fileView `json:"files"`
	Yanked      bool       `json:"yanked,omitempty"`
	YankReason  string     `json:"yankReason,omitempty"`
	PublishedBy string     `json:"publishedBy,omitempty"`
	PublishedAt time.Time  `json:"publishedAt"`
	Deleted     bool       `json:"deleted,omitempty"`
	// Meta is the protocol's data about the version (npm's manifest,
	// PyPI's core metadata, ...), as the protocol stored it.
	Meta json.RawMessage `json:"meta,omitempty"`
}

func viewVersion(v hosted.Version) versionView {
	out := versionView{Version: v.Version, Files: make([]fileView, 0, len(v.Files)), Yanked: v.Yanked, YankReason: v.YankReason,
		PublishedBy: v.PublishedBy, PublishedAt: v.PublishedAt, Deleted: v.Deleted, Meta: v.Meta}
	for _, f := range v.Files {
		out.Files = append(out.Files, fileView{Name: f.Name, Digest: f.Digest, Size: f.Size, ContentType: f.ContentType, Hashes: f.Hashes, UploadedAt: f.UploadedAt})
	}
	return out
}

// refs resolves packages' repositories for authorization, once per
// repository within a request.
type refs struct {
	h    *Handler
	seen map[string]auth.RepoRef
}

func (r *refs) of(ctx context.Context, p hosted.Package) (auth.RepoRef, error) {
	if p.RepoID == "" {
		return auth.RepoRef{OrgID: p.OrgID, Protocol: p.Protocol}, nil
	}
	if ref, ok := r.seen[p.RepoID]; ok {
		return ref, nil
	}
	ref := auth.RepoRef{ID: p.RepoID, OrgID: p.OrgID, Protocol: p.Protocol}
	repo, err := r.h.r.Auth.GetRepo(ctx, p.RepoID)
	switch {
	case err == nil:
		ref = repo.Ref()
	case !fault.Is(err, fault.NotFound):
		return ref, err
	}
	if r.seen == nil {
		r.seen = map[string]auth.RepoRef{}
	}
	r.seen[p.RepoID] = ref
	return ref, nil
}

// maxScan bounds the store pages one list request reads while filtering
// out packages the caller may not read: past it the page comes out short,
// with a cursor to go on.
const maxScan = 20

// listPackages: GET /api/v1/packages?q=&protocol=&org= — hosted packages
// the caller may read, by name; q matches names by prefix.
func (h *Handler) listPackages(ctx *fasthttp.RequestCtx) error {
	p, err := h.who(ctx)
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	f := hosted.PackageFilter{Query: query(ctx, "q"), Protocol: query(ctx, "protocol")}
	if f.Protocol != "" && !h.known(f.Protocol) {
		return invalid("protocol must be one of %v", h.names)
	}
	// An organization the caller may not see answers as a missing one
	// unless it shows the caller a package: then its name is no secret.
	hidden := false
	if o := query(ctx, "org"); o != "" {
		org, err := h.orgFor(edge.Context(ctx), p, o, needView)
		if fault.Is(err, fault.NotFound) && org.ID != "" {
			hidden, err = true, nil
		}
		if err != nil {
			return err
		}
		f.OrgID = org.ID
	}
	rs := refs{h: h}
	out := []packageView{}
	after := pg.Cursor
	for i := 0; i < maxScan; i++ {
		pkgs, next, err := h.r.Catalog.ListPackages(edge.Context(ctx), f, after, pg.Limit-len(out))
		if err != nil {
			return err
		}
		for _, pk := range pkgs {
			ref, err := rs.of(edge.Context(ctx), pk)
			if err != nil {
				return err
			}
			if h.r.Auth.Authorize(edge.Context(ctx), p, ref, auth.Read) == nil {
				out = append(out, viewPackage(pk))
			}
		}
		after = next
		if next == "" || len(out) >= pg.Limit {
			break
		}
	}
	if hidden && len(out) == 0 {
		return notFound("organization " + query(ctx, "org"))
	}
	return reply(ctx, fasthttp.StatusOK, page(out, after))
}

// pathPackage is the prologue of the endpoints under
// /packages/{packageId}: the caller as who returns it, and the package of
// the path once the caller may do action on it. Packages the caller may
// not read are NotFound, for anonymous callers too: a private name is not
// revealed.
func (h *Handler) pathPackage(ctx *fasthttp.RequestCtx, who func(*fasthttp.RequestCtx) (auth.Principal, error), action auth.Action) (hosted.Package, error) {
	p, err := who(ctx)
	if err != nil {
		return hosted.Package{}, err
	}
	id := param(ctx, "packageId")
	protocol, name, ok := strings.Cut(id, ":")
	if !ok || name == "" || !h.known(protocol) {
		return hosted.Package{}, invalid("a package id is protocol:name (URL-escaped), like npm:%%40acme%%2Fwidget")
	}
	pk, err := h.r.Catalog.Package(edge.Context(ctx), protocol, name)
	if fault.Is(err, fault.NotFound) {
		return pk, notFound("package " + id)
	}
	if err != nil {
		return pk, err
	}
	n := noteOf(ctx)
	n.target, n.org = pk.ID, pk.OrgID
	rs := refs{h: h}
	ref, err := rs.of(edge.Context(ctx), pk)
	if err != nil {
		return pk, err
	}
	if err := h.mayRepo(edge.Context(ctx), p, ref, action); err != nil {
		if fault.Is(err, fault.NotFound) || p.Anonymous() && h.r.Auth.Authorize(edge.Context(ctx), p, ref, auth.Read) != nil {
			return pk, notFound("package " + id)
		}
		return pk, err
	}
	return pk, nil
}

// getPackage: GET /api/v1/packages/{packageId}.
func (h *Handler) getPackage(ctx *fasthttp.RequestCtx) error {
	pk, err := h.pathPackage(ctx, h.who, auth.Read)
	if err != nil {
		return err
	}
	v := viewPackage(pk)
	v.Meta = pk.Meta
	return reply(ctx, fasthttp.StatusOK, v)
}

// listVersions: GET /api/v1/packages/{packageId}/versions[?deleted=true]
// — in the store's order; deleted versions only when asked.
func (h *Handler) listVersions(ctx *fasthttp.RequestCtx) error {
	if _, err := h.who(ctx); err != nil { // bad credentials before bad parameters
		return err
	}
	withDeleted, err := flag(ctx, "deleted")
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	pk, err := h.pathPackage(ctx, h.who, auth.Read)
	if err != nil {
		return err
	}
	vs, err := h.r.Catalog.Versions(edge.Context(ctx), pk.Protocol, pk.Name, withDeleted)
	if err != nil {
		return err
	}
	// The catalog answers every version at once; the page is cut here,
	// after the version the cursor names.
	start := 0
	if pg.Cursor != "" {
		start = len(vs)
		for i, v := range vs {
			if v.Version > pg.Cursor {
				start = i
				break
			}
		}
	}
	out := []versionView{}
	next := ""
	for _, v := range vs[start:] {
		if len(out) == pg.Limit {
			next = out[len(out)-1].Version
			break
		}
		out = append(out, viewVersion(v))
	}
	return reply(ctx, fasthttp.StatusOK, page(out, next))
}

// deletePackage: DELETE /api/v1/packages/{packageId} — its versions are
// kept as tombstones and can never be published again.
func (h *Handler) deletePackage(ctx *fasthttp.RequestCtx) error {
	pk, err := h.pathPackage(ctx, h.user, auth.Delete)
	if err != nil {
		return err
	}
	if err := h.r.Catalog.DeletePackage(edge.Context(ctx), pk.Protocol, pk.Name); err != nil {
		return err
	}
	return noContent(ctx)
}

// deleteVersion: DELETE /api/v1/packages/{packageId}/versions/{version}.
func (h *Handler) deleteVersion(ctx *fasthttp.RequestCtx) error {
	pk, err := h.pathPackage(ctx, h.user, auth.Delete)
	if err != nil {
		return err
	}
	version := param(ctx, "version")
	noteOf(ctx).target = pk.ID + "@" + version
	v, err := h.r.Catalog.Version(edge.Context(ctx), pk.Protocol, pk.Name, version)
	if fault.Is(err, fault.NotFound) || err == nil && v.Deleted {
		return notFound("version " + version)
	}
	if err != nil {
		return err
	}
	if _, err := h.r.Catalog.DeleteVersion(edge.Context(ctx), pk.Protocol, pk.Name, version); err != nil {
		return err
	}
	// A new serial makes the protocols rebuild what they prepared.
	if _, err := h.r.Catalog.Touch(edge.Context(ctx), pk.Protocol, pk.Name); err != nil {
		return err
	}
	return noContent(ctx)
}
