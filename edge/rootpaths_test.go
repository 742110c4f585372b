package edge

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRootPathsRewrite(t *testing.T) {
	m := &Mux{}
	for _, p := range []string{"/", "/assets/{file:*}", "/api/v1/organizations", "/v2/", "/npm/{name}", "/pypi/simple/{path:*}"} {
		m.noteRoute(p)
	}
	m.RootPaths("/npm",
		RootRule{Prefix: "/cargo", MatchSegment: "api", Match: func(p string) (string, bool) {
			return p, strings.HasPrefix(p, "/api/v1/crates")
		}},
		RootRule{Prefix: "/pypi", Segments: []string{"simple"}},
	)
	for _, c := range []struct{ in, want, root string }{
		{"/", "/", ""},
		{"/assets/app.js", "/assets/app.js", ""},
		{"/api/v1/organizations", "/api/v1/organizations", ""},
		{"/api/v1/crates/new", "/cargo/api/v1/crates/new", "/cargo"},
		{"/v2/acme/app/manifests/1", "/v2/acme/app/manifests/1", ""},
		{"/npm/left-pad", "/npm/left-pad", ""},
		{"/pypi/simple/x/", "/pypi/simple/x/", ""},
		{"/simple/x/", "/pypi/simple/x/", "/pypi"},
		{"/left-pad", "/npm/left-pad", "/npm"},
		{"/@acme%2fwidget", "/npm/@acme/widget", "/npm"},
		{"/-/v1/search?text=x", "/npm/-/v1/search", "/npm"},
		{"/a/%2e%2e/api/v1/organizations", "/api/v1/organizations", ""},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(c.in)
		m.root.rewrite(&ctx)
		root, _ := ctx.UserValue(rootKey).(string)
		if got := string(ctx.Path()); got != c.want || root != c.root {
			t.Errorf("%s: rewritten to %s (root %q), want %s (root %q)", c.in, got, root, c.want, c.root)
		}
	}
	// The prefixed form, the hot path, allocates nothing.
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/npm/left-pad")
	if n := testing.AllocsPerRun(100, func() { m.root.rewrite(&ctx) }); n != 0 {
		t.Errorf("a prefixed request allocates %v times", n)
	}
}
