package npm

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// maxSmallBody bounds the JSON bodies of everything but a publish.
const maxSmallBody = 1 << 20

func readSmall(ctx *fasthttp.RequestCtx) ([]byte, error) { return edge.ReadBody(ctx, maxSmallBody) }

// whoami is GET /-/whoami: the caller's user name (npm whoami).
func (h *Handler) whoami(ctx *fasthttp.RequestCtx) error {
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	if p.Anonymous() {
		return fault.New("npm.whoami", fault.Unauthorized, "you are not logged in")
	}
	return writeJSON(ctx, fasthttp.StatusOK, map[string]string{"username": p.Username})
}

// login is PUT /-/user/org.couchdb.user:<name> with {name, password}: the
// CouchDB user endpoint npm's legacy login uses. A correct password gets
// a new API token, limited to npm, in {"ok":true,"token":"srg_…"}; the
// sign-in's session is closed at once, the token is all npm keeps.
func (h *Handler) login(ctx *fasthttp.RequestCtx) error {
	const op = "npm.login"
	raw, _ := ctx.UserValue("user").(string)
	seg, err := url.PathUnescape(raw)
	user, ok := strings.CutPrefix(seg, "org.couchdb.user:")
	if err != nil || !ok || user == "" {
		return fault.New(op, fault.NotFound, "no such user endpoint")
	}
	body, err := readSmall(ctx)
	if err != nil {
		return err
	}
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := jsonUnmarshal(body, &in); err != nil {
		return fault.WrapMsg(op, fault.Invalid, "invalid JSON body", err)
	}
	if in.Name == "" {
		in.Name = user
	}
	if in.Name != user || in.Password == "" {
		return fault.New(op, fault.Invalid, "the body must hold the name of the URL and a password")
	}
	t, err := h.r.Auth.Login(auth.WithUserAgent(edge.Context(ctx), string(ctx.UserAgent())), in.Name, in.Password, h.r.ClientIP(ctx))
	if err != nil {
		h.r.Record(ctx, "npm.login", in.Name, "", "failure", "")
		return err
	}
	defer h.r.Auth.Logout(edge.Context(ctx), t.SessionID)
	tok, secret, err := h.r.Auth.CreateToken(edge.Context(ctx), t.User.ID, auth.NewToken{Name: "npm login", Protocols: []string{Protocol}})
	if err != nil {
		return fault.Op(op, err)
	}
	h.r.Record(ctx, "npm.login", in.Name, "", "success", "token "+tok.ID)
	return writeJSON(ctx, fasthttp.StatusCreated, map[string]any{
		"ok": true, "id": "org.couchdb.user:" + in.Name, "rev": "1-0", "token": secret,
	})
}

// logout is DELETE /-/user/token/<token> (npm logout): it revokes the
// token the request authenticates with, which must be the one named.
func (h *Handler) logout(ctx *fasthttp.RequestCtx) error {
	const op = "npm.logout"
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	if p.Anonymous() {
		return fault.New(op, fault.Unauthorized, "you are not logged in")
	}
	raw, _ := ctx.UserValue("token").(string)
	named, _ := url.PathUnescape(raw)
	if p.TokenID == "" || h.r.PresentedSecret(ctx) != named {
		return fault.New(op, fault.Forbidden, "only the token in use can be revoked this way")
	}
	if err := h.r.Auth.RevokeToken(edge.Context(ctx), p.TokenID); err != nil {
		return fault.Op(op, err)
	}
	h.r.Record(ctx, "token.revoke", p.TokenID, "", "success", "npm logout")
	return writeJSON(ctx, fasthttp.StatusOK, map[string]any{"ok": true})
}

// Search limits.
const (
	defaultSearchSize = 20
	maxSearchSize     = 250
	maxSearchScan     = 20000
)

// search is GET /-/v1/search?text=&size=&from= (npm search): hosted
// packages the caller may read whose name, description or keywords hold
// every word of the text, first, then the upstream's results for the same
// text (searchUpstream) after them.
func (h *Handler) search(ctx *fasthttp.RequestCtx) error {
	const op = "npm.search"
	p, err := h.r.Who(ctx)
	if err != nil {
		return err
	}
	args := ctx.QueryArgs()
	terms := strings.Fields(strings.ToLower(string(args.Peek("text"))))
	size := clamp(string(args.Peek("size")), defaultSearchSize, 1, maxSearchSize)
	from := clamp(string(args.Peek("from")), 0, 0, maxSearchScan)

	type result struct {
		Package map[string]any `json:"package"`
		Score   map[string]any `json:"score"`
		Search  float64        `json:"searchScore"`
	}
	objects := []result{}
	total := 0
	refs := map[string]auth.RepoRef{}
	after, scanned := "", 0
	for scanned < maxSearchScan {
		page, next, err := h.r.Catalog.ListPackages(edge.Context(ctx), hosted.PackageFilter{Protocol: Protocol}, after, hosted.MaxPage)
		if err != nil {
			return fault.Op(op, err)
		}
		for _, pk := range page {
			scanned++
			meta := decodeMeta(pk.Meta)
			var keywords []string
			jsonUnmarshal(meta.Fields["keywords"], &keywords)
			if !matches(terms, pk.Name, pk.Description, keywords) || !h.mayRead(edge.Context(ctx), p, pk, refs) {
				continue
			}
			total++
			if total <= from || len(objects) >= size {
				continue
			}
			if keywords == nil {
				keywords = []string{}
			}
			n, _ := ParseName(pk.Name)
			objects = append(objects, result{
				Package: map[string]any{
					"name": pk.Name, "scope": scopeOrUnscoped(n), "version": meta.DistTags["latest"],
					"description": pk.Description, "keywords": keywords,
					"date": pk.UpdatedAt.UTC().Format(time.RFC3339), "links": map[string]string{},
					"publisher": map[string]string{}, "maintainers": []any{},
				},
				Score:  map[string]any{"final": 1.0, "detail": map[string]float64{"quality": 1, "popularity": 1, "maintenance": 1}},
				Search: 1,
			})
		}
		if next == "" {
			break
		}
		after = next
	}
	out := map[string]any{"objects": objects, "total": total, "time": time.Now().UTC().Format(time.RFC1123)}
	if h.up != nil && len(terms) > 0 && len(objects) < size {
		if _, err := h.r.MayMirror(ctx, Protocol); err == nil {
			up, upTotal := h.searchUpstream(ctx, strings.Join(terms, " "), size-len(objects), max(0, from-total))
			merged := make([]any, 0, len(objects)+len(up))
			for _, o := range objects {
				merged = append(merged, o)
			}
			out["objects"], out["total"] = append(merged, up...), total+upTotal
		}
	}
	return writeJSON(ctx, fasthttp.StatusOK, out)
}

func scopeOrUnscoped(n Name) string {
	if n.Scope == "" {
		return "unscoped"
	}
	return n.Scope
}

// mayRead reports whether p may read package pk, remembering repository
// references for the rest of the request.
func (h *Handler) mayRead(ctx context.Context, p auth.Principal, pk hosted.Package, refs map[string]auth.RepoRef) bool {
	ref, ok := refs[pk.RepoID]
	if !ok {
		ref = auth.RepoRef{OrgID: pk.OrgID, Protocol: Protocol}
		if repo, err := h.r.Auth.GetRepo(ctx, pk.RepoID); err == nil {
			ref = repo.Ref()
		}
		refs[pk.RepoID] = ref
	}
	return h.r.Auth.Authorize(ctx, p, ref, auth.Read) == nil
}

// matches reports whether every term occurs in the name, the description
// or a keyword.
func matches(terms []string, name, desc string, keywords []string) bool {
	hay := strings.ToLower(name + "\x00" + desc + "\x00" + strings.Join(keywords, "\x00"))
	for _, t := range terms {
		if !strings.Contains(hay, t) {
			return false
		}
	}
	return true
}

func clamp(s string, def, lo, hi int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return min(max(n, lo), hi)
}
