package npm

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/archive"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

// The audit endpoints npm posts the installed tree to. npm 7 and later
// send the bulk form (gzipped); older clients send the quick form.
const (
	auditBulk  = "/-/npm/v1/security/advisories/bulk"
	auditQuick = "/-/npm/v1/security/audits/quick"
)

const (
	// maxAuditBody caps an audit request, before and after gunzip: a
	// tree of tens of thousands of packages fits.
	maxAuditBody = 8 << 20
	// maxAuditAnswer caps what the upstream answers.
	maxAuditAnswer = 16 << 20
	// maxAuditCached is the largest answer kept in memory.
	maxAuditCached = 1 << 20
	// auditTTL is how long one answer is reused for the same tree:
	// advisories change slowly, and npm audits on every install.
	auditTTL = 5 * time.Minute
)

// auditCache holds recent upstream audit answers by the digest of what
// was sent.
type auditCache = expirable.LRU[string, []byte]

func newAuditCache() *auditCache { return expirable.NewLRU[string, []byte](256, nil, auditTTL) }

// ping is GET /-/ping (npm ping): the registry answers.
func (h *Handler) ping(ctx *fasthttp.RequestCtx) error {
	if _, err := h.r.Who(ctx); err != nil {
		return err
	}
	return writeJSON(ctx, fasthttp.StatusOK, struct{}{})
}

// auditBulk is POST /-/npm/v1/security/advisories/bulk.
func (h *Handler) auditBulk(ctx *fasthttp.RequestCtx) error { return h.audit(ctx, auditBulk) }

// auditQuick is POST /-/npm/v1/security/audits/quick.
func (h *Handler) auditQuick(ctx *fasthttp.RequestCtx) error { return h.audit(ctx, auditQuick) }

// audit passes an audit request to the upstream, without the names that
// resolve here (hosted ones must not leak to a public registry, and the
// upstream's advisories about a same-named public package are not about
// them). With no upstream, or one that has no audit or fails, the answer
// is "no advisories known" with a Warning header: npm treats an error as
// a failed install step and warns on every run.
func (h *Handler) audit(ctx *fasthttp.RequestCtx, endpoint string) error {
	const op = "npm.audit"
	if _, err := h.r.MayMirror(ctx, Protocol); err != nil && h.up != nil {
		return err
	}
	raw, err := edge.ReadBody(ctx, maxAuditBody)
	if err != nil {
		return err
	}
	if strings.EqualFold(string(ctx.Request.Header.Peek("Content-Encoding")), "gzip") {
		if raw, err = gunzip(raw, maxAuditBody); err != nil {
			if fault.Is(err, fault.TooLarge) {
				return err
			}
			return fault.WrapMsg(op, fault.Invalid, "the audit request is not valid gzip", err)
		}
	}
	var body []byte
	if endpoint == auditBulk {
		body, err = h.filterBulk(edge.Context(ctx), raw)
	} else {
		body, err = h.filterQuick(edge.Context(ctx), raw)
	}
	if err != nil {
		return fault.WrapMsg(op, fault.Invalid, "the audit request is not a JSON object", err)
	}
	if h.up == nil {
		return noAudit(ctx, endpoint, "no upstream registry is configured")
	}
	sum := sha256.Sum256(body)
	key := endpoint + "\x00" + hex.EncodeToString(sum[:])
	if b, ok := h.audits.Get(key); ok {
		return writeAudit(ctx, b)
	}
	b, err := h.upstreamAudit(edge.Context(ctx), endpoint, body)
	switch {
	case fault.Is(err, fault.NotFound):
		return noAudit(ctx, endpoint, "the upstream registry offers no security audit")
	case err != nil:
		h.r.Log.Warn("npm audit: the upstream failed", "request_id", edge.RequestID(ctx), "err", err)
		return noAudit(ctx, endpoint, "the upstream registry's security audit failed")
	}
	if len(b) <= maxAuditCached {
		h.audits.Add(key, b)
	}
	return writeAudit(ctx, b)
}

// upstreamAudit posts body to the upstream's endpoint and returns its
// answer, which must be a JSON object.
func (h *Handler) upstreamAudit(ctx context.Context, endpoint string, body []byte) ([]byte, error) {
	const op = "npm.upstreamAudit"
	u, err := h.up.Resolve(strings.TrimPrefix(endpoint, "/"))
	if err != nil {
		return nil, fault.Op(op, err)
	}
	resp, err := h.up.Get(ctx, u, upstream.Request{
		Method: http.MethodPost, Body: body, ContentType: "application/json",
		Accept: "application/json", MaxSize: maxAuditAnswer,
	})
	if err != nil {
		return nil, fault.Op(op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fault.Op(op, err)
	}
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		// An HTML page or a proxy's error is not an audit.
		return nil, fault.New(op, fault.Upstream, "the upstream sent an invalid audit answer")
	}
	return b, nil
}

// mirrored reports whether name resolves to the mirror; an invalid name,
// a hosted one or a failed lookup does not (and is never sent upstream).
func (h *Handler) mirrored(ctx context.Context, name string) bool {
	n, err := ParseName(name)
	if err != nil {
		return false
	}
	o, err := h.r.Locate(ctx, h.coords(n, auth.Read))
	return err == nil && !o.Hosted
}

// filterBulk keeps the mirrored names of a bulk request,
// {"name":["1.0.0",...],...}.
func (h *Handler) filterBulk(ctx context.Context, raw []byte) ([]byte, error) {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return nil, fault.New("npm.filterBulk", fault.Invalid, "not a JSON object")
	}
	for name := range in {
		if !h.mirrored(ctx, name) {
			delete(in, name)
		}
	}
	return json.Marshal(in)
}

// quickNode is a node of a quick audit's tree (npm 6's package-lock
// shape); fields it does not name are dropped.
type quickNode struct {
	Name         string                `json:"name,omitempty"`
	Version      string                `json:"version,omitempty"`
	Integrity    string                `json:"integrity,omitempty"`
	Dev          bool                  `json:"dev,omitempty"`
	Requires     map[string]string     `json:"requires,omitempty"`
	Dependencies map[string]*quickNode `json:"dependencies,omitempty"`
}

// filterQuick removes hosted names from a quick request's tree, at every
// depth, and the root project's own name and version (a private name).
func (h *Handler) filterQuick(ctx context.Context, raw []byte) ([]byte, error) {
	var root quickNode
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, fault.New("npm.filterQuick", fault.Invalid, "not a JSON object")
	}
	root.Name, root.Version, root.Integrity = "", "", ""
	seen := map[string]bool{}
	keep := func(name string) bool {
		ok, known := seen[name]
		if !known {
			ok = h.mirrored(ctx, name)
			seen[name] = ok
		}
		return ok
	}
	var walk func(*quickNode)
	walk = func(q *quickNode) {
		for name := range q.Requires {
			if !keep(name) {
				delete(q.Requires, name)
			}
		}
		for name, d := range q.Dependencies {
			if d == nil || !keep(name) {
				delete(q.Dependencies, name)
				continue
			}
			walk(d)
		}
	}
	walk(&root)
	if root.Requires == nil {
		root.Requires = map[string]string{}
	}
	if root.Dependencies == nil {
		root.Dependencies = map[string]*quickNode{}
	}
	return json.Marshal(root)
}

// noAudit answers "no advisories known" in the endpoint's shape, with a
// Warning saying why (npm accepts it as a clean audit).
func noAudit(ctx *fasthttp.RequestCtx, endpoint, why string) error {
	ctx.Response.Header.Set("Warning", `199 entrepot "`+why+`; no advisories are known"`)
	if endpoint == auditBulk {
		return writeAudit(ctx, []byte("{}"))
	}
	return writeAudit(ctx, []byte(`{"actions":[],"advisories":{},"muted":[],"metadata":{"vulnerabilities":{"info":0,"low":0,"moderate":0,"high":0,"critical":0},"dependencies":0,"devDependencies":0,"optionalDependencies":0,"totalDependencies":0}}`))
}

func writeAudit(ctx *fasthttp.RequestCtx, b []byte) error {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetBody(b)
	return nil
}

// gunzip inflates b, failing past limit bytes (a gzip bomb).
func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	over := func() error {
		return fault.Newf("npm.gunzip", fault.TooLarge, "the inflated request body is over the limit of %d bytes", limit)
	}
	return io.ReadAll(archive.Cap(zr, limit, over))
}

// maxSearchAnswer caps the upstream's search answer.
const maxSearchAnswer = 4 << 20

// searchUpstream asks the upstream's search for text and returns its
// objects, without those whose name resolves here (a claimed name's
// public namesake is not what a client of this registry would install),
// and its total. An upstream that fails or has no search adds nothing:
// hosted results still answer.
func (h *Handler) searchUpstream(ctx *fasthttp.RequestCtx, text string, size, from int) ([]any, int) {
	q := url.Values{"text": {text}, "size": {strconv.Itoa(size)}, "from": {strconv.Itoa(from)}}
	u, err := h.up.Resolve("-/v1/search?" + q.Encode())
	if err != nil {
		return nil, 0
	}
	resp, err := h.up.Get(edge.Context(ctx), u, upstream.Request{Accept: "application/json", MaxSize: maxSearchAnswer})
	if err != nil {
		h.r.Log.Info("npm search: the upstream failed", "request_id", edge.RequestID(ctx), "err", err)
		return nil, 0
	}
	defer resp.Body.Close()
	var answer struct {
		Objects []json.RawMessage `json:"objects"`
		Total   int               `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		return nil, 0
	}
	out := make([]any, 0, len(answer.Objects))
	dropped := 0
	for _, raw := range answer.Objects {
		var o struct {
			Package struct {
				Name string `json:"name"`
			} `json:"package"`
		}
		if json.Unmarshal(raw, &o) != nil || !h.mirrored(edge.Context(ctx), o.Package.Name) {
			dropped++
			continue
		}
		out = append(out, raw)
	}
	return out, max(0, answer.Total-dropped)
}
