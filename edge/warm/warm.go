// Package warm makes a build offline-ready before it runs: it reads
// lockfiles (package-lock.json v1–v3, npm-shrinkwrap.json, requirements*.txt
// with hashes, Cargo.lock) into the
// artifacts they pin and asks the edge for each of them exactly as a
// client configured with the edge would, over loopback HTTP with the
// caller's credentials. Claims, policies, permissions, digest checks and
// fill coalescing therefore all apply, and there is no second fetch path;
// each artifact's bytes are then checked against the lockfile's own
// integrity.
//
//	POST /api/v1/warm       a lockfile as the body (?name=package-lock.json), or
//	                        several as the files of a multipart form: 202 {"id"}
//	GET  /api/v1/warm/{id}  the job: progress and, per item, cached, fetched,
//	                        refused (policy, claim, integrity) or failed
//
// Jobs live in the memory of the edge that runs them: GET must reach the
// edge that answered POST (the CLI keeps one connection; behind a load
// balancer, use sticky routing for /api/v1/warm).
package warm

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted/fault"
)

// MaxBody bounds a POST /api/v1/warm body (all its lockfiles).
const MaxBody = 16 << 20

// MaxItems bounds the artifacts of one job.
const MaxItems = 20000

// Handler serves the warm API.
type Handler struct {
	reg    *edge.Registry
	runner *Runner
	// base returns the edge's own base URL for loopback requests.
	base   func() string
	mounts func() map[string]string
	client *http.Client
}

// New returns the handler. base returns this edge's own URL (known once it
// listens), mounts the protocols' prefixes (edge.Mux.Protocols).
func New(reg *edge.Registry, base func() string, mounts func() map[string]string) *Handler {
	return &Handler{reg: reg, runner: &Runner{}, base: base, mounts: mounts,
		client: &http.Client{Timeout: 30 * time.Minute}}
}

// Mount registers the routes on g, the /api/v1 group.
func (h *Handler) Mount(g *edge.Group) {
	g.Handle("POST", "/warm", edge.Route{Protocol: "api", Name: "warm_start"}, h.start)
	g.Handle("GET", "/warm/{id}", edge.Route{Protocol: "api", Name: "warm_get"}, h.get)
}

func (h *Handler) authenticated(ctx *fasthttp.RequestCtx) error {
	p, err := h.reg.Who(ctx)
	if err != nil {
		return err
	}
	if p.Anonymous() {
		return fault.New("warm", fault.Unauthorized, "warming the mirror needs credentials (a token or a session)")
	}
	return nil
}

func (h *Handler) start(ctx *fasthttp.RequestCtx) error {
	// Authorize before reading a byte of the body.
	if err := h.authenticated(ctx); err != nil {
		return err
	}
	body, err := edge.ReadBody(ctx, MaxBody)
	if err != nil {
		return err
	}
	var items []Item
	mt, params, _ := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fault.WrapMsg("warm", fault.Invalid, "multipart form", err)
			}
			if part.FileName() == "" {
				continue
			}
			b, err := io.ReadAll(part)
			if err != nil {
				return fault.WrapMsg("warm", fault.Invalid, "multipart form", err)
			}
			got, err := Parse(part.FileName(), b)
			if err != nil {
				return err
			}
			items = append(items, got...)
		}
	} else {
		got, err := Parse(string(ctx.QueryArgs().Peek("name")), body)
		if err != nil {
			return err
		}
		items = got
	}
	if len(items) == 0 {
		return fault.New("warm", fault.Invalid, "the lockfiles pin no registry artifact")
	}
	if len(items) > MaxItems {
		return fault.Newf("warm", fault.TooLarge, "%d artifacts: at most %d in one job", len(items), MaxItems)
	}
	f := &loopback{h: h, auth: string(ctx.Request.Header.Peek("Authorization")), mounts: h.mounts()}
	id := h.runner.Start(items, f)
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(map[string]any{"id": id, "total": len(items)})
	ctx.SetBody(b)
	return nil
}

func (h *Handler) get(ctx *fasthttp.RequestCtx) error {
	if err := h.authenticated(ctx); err != nil {
		return err
	}
	id, _ := ctx.UserValue("id").(string)
	j, ok := h.runner.Get(id)
	if !ok {
		return fault.Newf("warm", fault.NotFound, "no warm job %q on this edge", id)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fault.Wrap("warm", fault.Internal, err)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// loopback fetches through the edge's own HTTP listener, as a client.
type loopback struct {
	h      *Handler
	auth   string
	mounts map[string]string
}

func (l *loopback) Prefix(protocol string) string { return l.mounts[protocol] }

func (l *loopback) Fetch(ctx context.Context, protocol, path, accept string) (int, io.ReadCloser, error) {
	prefix, ok := l.mounts[protocol]
	if !ok {
		return 0, nil, fault.Newf("warm", fault.NotFound, "protocol %s is not served here", protocol)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", l.h.base()+prefix+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if l.auth != "" {
		req.Header.Set("Authorization", l.auth)
	}
	req.Header.Set("User-Agent", "entrepot-warm")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := l.h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, resp.Body, nil
}
