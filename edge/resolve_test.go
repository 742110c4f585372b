package edge_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/hosted"
)

// TestResolve drives edge.Resolve through a route that hands it the
// coordinates a protocol's parser would: a claimed private name, an
// organization's namespace nothing claims yet, a mirrored name, and a
// name with no upstream, for reads and writes, as an anonymous caller, an
// owner of the organization, an outsider, and the owner with a token
// scoped to another protocol.
func TestResolve(t *testing.T) {
	ctx := context.Background()
	var reg *edge.Registry
	e := testkit.StartEdge(t, testkit.EdgeOptions{}, func(r *edge.Registry, m *edge.Mux) {
		reg = r
		m.Handle("GET", "/resolve/{case}/{action}", edge.Route{Protocol: "edge", Name: "resolve"}, func(ctx *fasthttp.RequestCtx) error {
			c := resolveCases[ctx.UserValue("case").(string)]
			c.Action = map[string]auth.Action{"read": auth.Read, "write": auth.Write}[ctx.UserValue("action").(string)]
			o, err := reg.Resolve(ctx, c)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(resolved{Hosted: o.Hosted, OrgID: o.OrgID, Claimed: o.Claim.Namespace, Unclaimed: o.Org != nil, Upstream: o.Upstream, User: o.Principal.UserID})
			ctx.SetBody(b)
			return nil
		})
	})
	repo, err := reg.HostedRepo(ctx, e.OrgID, "npm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Catalog.ClaimFree(ctx, hosted.Claim{Protocol: "npm", Namespace: "acme-lib", OrgID: e.OrgID, RepoID: repo.ID}); err != nil {
		t.Fatal(err)
	}
	owner, err := e.Auth.CreateUser(ctx, auth.NewUser{Email: "mia@example.test", Username: "mia", Password: "mia-password-123456"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.SetOrgMember(ctx, e.OrgID, owner.ID, auth.OrgOwner); err != nil {
		t.Fatal(err)
	}
	_, ownerToken, err := e.Auth.CreateToken(ctx, owner.ID, auth.NewToken{Name: "full"})
	if err != nil {
		t.Fatal(err)
	}
	_, narrow, err := e.Auth.CreateToken(ctx, owner.ID, auth.NewToken{Name: "pypi only", Protocols: []string{"pypi"}})
	if err != nil {
		t.Fatal(err)
	}
	rival := e.Rival(t, "rex", "rexcorp")
	callers := map[string][]string{
		"anonymous":    nil,
		"owner":        {"Authorization", "Bearer " + ownerToken},
		"outsider":     {"Authorization", "Bearer " + rival.Token},
		"narrow token": {"Authorization", "Bearer " + narrow},
	}

	hostedAcme := resolved{Hosted: true, OrgID: e.OrgID, Claimed: "acme-lib", User: owner.ID}
	unclaimedAcme := resolved{Hosted: true, OrgID: e.OrgID, Unclaimed: true, User: owner.ID}
	mirrored := resolved{Upstream: "npm"}
	for _, c := range []struct {
		name, coords, action, caller string
		status                       int
		want                         resolved // for 200, User "" = anonymous's
	}{
		{"claimed, anonymous", "claimed", "read", "anonymous", 401, resolved{}},
		{"claimed, owner", "claimed", "read", "owner", 200, hostedAcme},
		{"claimed, outsider: as if missing", "claimed", "read", "outsider", 404, resolved{}},
		{"claimed, narrow token: as if missing", "claimed", "read", "narrow token", 404, resolved{}},
		{"claimed, owner writes", "claimed", "write", "owner", 200, hostedAcme},
		{"claimed, outsider writes", "claimed", "write", "outsider", 404, resolved{}},         // may not read it either: answered as missing (May)
		{"claimed, narrow token writes", "claimed", "write", "narrow token", 404, resolved{}}, // likewise

		{"org-owned unclaimed, anonymous", "unclaimed", "read", "anonymous", 401, resolved{}},
		{"org-owned unclaimed, owner", "unclaimed", "read", "owner", 200, unclaimedAcme},
		{"org-owned unclaimed, outsider", "unclaimed", "read", "outsider", 404, resolved{}},
		{"org-owned unclaimed, narrow token", "unclaimed", "read", "narrow token", 404, resolved{}},
		{"org-owned unclaimed, never the mirror", "unclaimed+upstream", "read", "outsider", 404, resolved{}},
		{"first publish, anonymous", "first", "write", "anonymous", 401, resolved{}},
		{"first publish, owner", "first", "write", "owner", 200, unclaimedAcme},
		{"first publish, outsider", "first", "write", "outsider", 403, resolved{}},
		{"first publish, narrow token", "first", "write", "narrow token", 403, resolved{}},

		{"mirror, anonymous", "mirror", "read", "anonymous", 200, mirrored},
		{"mirror, owner", "mirror", "read", "owner", 200, withUser(mirrored, owner.ID)},
		{"mirror, outsider", "mirror", "read", "outsider", 200, withUser(mirrored, rival.UserID)},
		{"mirror, narrow token", "mirror", "read", "narrow token", 404, resolved{}},
		{"mirror is read-only", "mirror", "write", "owner", 403, resolved{}},
		{"mirror is read-only, anonymous", "mirror", "write", "anonymous", 403, resolved{}},
		{"a claim never goes upstream", "claimed+upstream", "read", "outsider", 404, resolved{}},
		{"a claim never goes upstream, owner", "claimed+upstream", "read", "owner", 200, hostedAcme},

		{"no upstream, anonymous", "none", "read", "anonymous", 404, resolved{}},
		{"no upstream, owner", "none", "read", "owner", 404, resolved{}},
		{"no upstream, narrow token", "none", "read", "narrow token", 404, resolved{}},
		{"no upstream, anonymous change asks for credentials", "none", "write", "anonymous", 401, resolved{}},
		{"no upstream, outsider change", "none", "write", "outsider", 404, resolved{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.Do(t, "GET", "/resolve/"+c.coords+"/"+c.action, nil, callers[c.caller]...)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s; want %d", resp.StatusCode, b, c.status)
			}
			if c.status != 200 {
				return
			}
			var got resolved
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("origin %+v; want %+v", got, c.want)
			}
		})
	}
}

// resolved is what the test route reports of an edge.Origin.
type resolved struct {
	Hosted    bool
	OrgID     string
	Claimed   string
	Unclaimed bool
	Upstream  string
	User      string
}

func withUser(r resolved, user string) resolved { r.User = user; return r }

// resolveCases are coordinates as npm's parser makes them (a scope, then
// the name; the scope's organization owns it).
var resolveCases = map[string]edge.Coords{
	"claimed":            {Protocol: "npm", Namespaces: []string{"acme-lib"}, Name: "acme-lib"},
	"claimed+upstream":   {Protocol: "npm", Namespaces: []string{"acme-lib"}, Name: "acme-lib", Upstream: "npm"},
	"unclaimed":          {Protocol: "npm", Namespaces: []string{"@acme", "@acme/x"}, Owner: "acme", Name: "@acme/x"},
	"unclaimed+upstream": {Protocol: "npm", Namespaces: []string{"@acme", "@acme/x"}, Owner: "acme", Name: "@acme/x", Upstream: "npm"},
	"first":              {Protocol: "oci", Namespaces: []string{"acme"}, Owner: "acme", Name: "acme/app", FirstPublish: true},
	"mirror":             {Protocol: "npm", Namespaces: []string{"lodash"}, Name: "lodash", Upstream: "npm"},
	"none":               {Protocol: "npm", Namespaces: []string{"lodash"}, Name: "lodash", Unknown: "%s is not published here"},
}
