package oci

import (
	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

type route struct {
	method, path, name string
	h                  edge.HandlerFunc
}

// routes is the route table. Repository names have several segments, so
// one catch-all per method takes /v2/<name>/... and ParsePath splits the
// tail (dispatch).
func (h *Handler) routes() []route {
	return []route{
		// GET /v2/ — API version check; 401 with the token challenge for
		// anonymous callers (that is how clients learn where to log in).
		{"GET", "/v2/", "base", h.base},
		{"HEAD", "/v2/", "base", h.base},
		// GET /v2/token?service=&scope=repository:<name>:pull,push — Basic
		// credentials (or none) for a short-lived registry token.
		{"GET", "/v2/token", "token", h.token},
		// POST /v2/token — the OAuth2 form (grant_type=password) some
		// clients use.
		{"POST", "/v2/token", "token", h.token},
		// GET /v2/_catalog?n=&last= — repositories the caller may read.
		{"GET", "/v2/_catalog", "catalog", h.catalog},
		// /v2/<name>/manifests/<reference>   GET HEAD PUT DELETE
		// /v2/<name>/blobs/<digest>          GET HEAD DELETE
		// /v2/<name>/blobs/uploads/          POST (?digest= monolithic, ?mount=&from=)
		// /v2/<name>/blobs/uploads/<id>      GET PATCH PUT DELETE
		// /v2/<name>/tags/list?n=&last=      GET
		// /v2/<name>/referrers/<digest>      GET (?artifactType=)
		{"GET", "/v2/{path:*}", "repository", h.dispatch},
		{"HEAD", "/v2/{path:*}", "repository", h.dispatch},
		{"PUT", "/v2/{path:*}", "repository", h.dispatch},
		{"PATCH", "/v2/{path:*}", "repository", h.dispatch},
		{"POST", "/v2/{path:*}", "repository", h.dispatch},
		{"DELETE", "/v2/{path:*}", "repository", h.dispatch},
	}
}

// dispatch parses the path, then hands the request to the endpoint's
// handler for its method.
func (h *Handler) dispatch(ctx *fasthttp.RequestCtx) error {
	const op = "oci.dispatch"
	tail, _ := ctx.UserValue("path").(string)
	c, err := ParsePath(tail)
	if err != nil {
		return err
	}
	m := string(ctx.Method())
	switch c.Endpoint {
	case ManifestEndpoint:
		switch m {
		case "GET", "HEAD":
			return h.getManifest(ctx, c)
		case "PUT":
			return h.putManifest(ctx, c)
		case "DELETE":
			return h.deleteManifest(ctx, c)
		}
	case Blob:
		switch m {
		case "GET", "HEAD":
			return h.getBlob(ctx, c)
		case "DELETE":
			return h.deleteBlob(ctx, c)
		}
	case UploadStart:
		if m == "POST" {
			return h.startUpload(ctx, c)
		}
	case Upload:
		switch m {
		case "GET":
			return h.uploadStatus(ctx, c)
		case "PATCH":
			return h.patchUpload(ctx, c)
		case "PUT":
			return h.finishUpload(ctx, c)
		case "DELETE":
			return h.cancelUpload(ctx, c)
		}
	case Tags:
		if m == "GET" || m == "HEAD" {
			return h.tags(ctx, c)
		}
	case Referrers:
		if m == "GET" || m == "HEAD" {
			return h.referrers(ctx, c)
		}
	}
	return edge.WithStatus(fasthttp.StatusMethodNotAllowed,
		errf(codeUnsupported, fault.Invalid, op, "%s is not supported here", m))
}
