package api_test

import (
	"fmt"
	"sort"
	"testing"
)

type pkgItem struct {
	ID, Protocol, Name, OrgID, RepoID string
}

func names(items []pkgItem) []string {
	var out []string
	for _, p := range items {
		out = append(out, p.ID)
	}
	sort.Strings(out)
	return out
}

func TestPackages(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	dev, devTok := e.user(admin, "dev")
	_, outTok := e.user(admin, "oscar")
	e.org(ownerTok, "acme")
	e.member(ownerTok, "acme", dev.ID, "member")
	priv := e.repo(ownerTok, "acme", "libs", "npm", "private")
	pub := e.repo(ownerTok, "acme", "oss", "pypi", "public")
	e.publish(priv, "@acme/widget", "1.0.0", "1.1.0", "2.0.0")
	e.publish(priv, "@acme/gadget", "0.1.0")
	e.publish(pub, "acme-tools", "1.0.0")
	e.must(200, "POST", "/repositories/"+priv.ID+"/permissions", ownerTok, map[string]string{"userId": "dev", "role": "developer"}, nil)
	readTok := apiToken(e, ownerTok, map[string]any{"actions": []string{"read"}})
	delTok := apiToken(e, ownerTok, map[string]any{"actions": []string{"read", "delete"}, "protocols": []string{"npm"}})
	pypiTok := apiToken(e, ownerTok, map[string]any{"protocols": []string{"pypi"}})

	widget := pkgPath("npm:@acme/widget")
	lists := []struct {
		name, query, authz string
		want               []string
	}{
		{"anonymous sees public", "", "", []string{"pypi:acme-tools"}},
		{"outsider sees public", "", outTok, []string{"pypi:acme-tools"}},
		{"owner sees all", "", ownerTok, []string{"npm:@acme/gadget", "npm:@acme/widget", "pypi:acme-tools"}},
		{"developer sees all", "", devTok, []string{"npm:@acme/gadget", "npm:@acme/widget", "pypi:acme-tools"}},
		{"token scoped to pypi", "", pypiTok, []string{"pypi:acme-tools"}},
		{"protocol", "?protocol=npm", ownerTok, []string{"npm:@acme/gadget", "npm:@acme/widget"}},
		{"prefix", "?q=%40acme%2Fw", ownerTok, []string{"npm:@acme/widget"}},
		{"org by name", "?org=acme&protocol=pypi", ownerTok, []string{"pypi:acme-tools"}},
		{"limit pages", "?limit=1", ownerTok, nil}, // checked below
	}
	for _, c := range lists[:len(lists)-1] {
		t.Run("list: "+c.name, func(t *testing.T) {
			var pg page[pkgItem]
			e.must(200, "GET", "/packages"+c.query, c.authz, nil, &pg)
			if got := names(pg.Items); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	t.Run("list: pages", func(t *testing.T) {
		var all []pkgItem
		cursor := ""
		for i := 0; i < 10; i++ {
			var pg page[pkgItem]
			e.must(200, "GET", "/packages?limit=1&cursor="+cursor, ownerTok, nil, &pg)
			all = append(all, pg.Items...)
			if pg.NextCursor == "" {
				break
			}
			cursor = pg.NextCursor
		}
		if len(names(all)) != 3 {
			t.Fatalf("paged: %v", names(all))
		}
	})

	run(t, e, []step{
		{"list: bad protocol", "GET", "/packages?protocol=gopher", ownerTok, nil, 422},
		{"list: unknown org", "GET", "/packages?org=nope", ownerTok, nil, 404},
		{"get: private, anonymous", "GET", widget, "", nil, 404},
		{"get: private, outsider", "GET", widget, outTok, nil, 404},
		{"get: private, developer", "GET", widget, devTok, nil, 200},
		{"get: public, anonymous", "GET", pkgPath("pypi:acme-tools"), "", nil, 200},
		{"get: unescaped slash is no package id", "GET", "/packages/npm:@acme/widget", ownerTok, nil, 404},
		{"get: bad id", "GET", pkgPath("widget"), ownerTok, nil, 422},
		{"get: unknown protocol", "GET", pkgPath("gopher:widget"), ownerTok, nil, 422},
		{"get: missing", "GET", pkgPath("npm:nope"), ownerTok, nil, 404},
		{"versions: outsider", "GET", widget + "/versions", outTok, nil, 404},
		{"versions: developer", "GET", widget + "/versions", devTok, nil, 200},
		{"delete version: anonymous", "DELETE", widget + "/versions/1.0.0", "", nil, 401},
		{"delete version: outsider", "DELETE", widget + "/versions/1.0.0", outTok, nil, 404},
		{"delete version: developer", "DELETE", widget + "/versions/1.0.0", devTok, nil, 403},
		{"delete version: read-only token", "DELETE", widget + "/versions/1.0.0", readTok, nil, 403},
		{"delete version: delete token", "DELETE", widget + "/versions/1.0.0", delTok, nil, 204},
		{"delete version: again", "DELETE", widget + "/versions/1.0.0", ownerTok, nil, 404},
		{"delete version: missing", "DELETE", widget + "/versions/9.9.9", ownerTok, nil, 404},
		{"delete package: pypi token", "DELETE", widget, pypiTok, nil, 404},
		{"delete package: developer", "DELETE", widget, devTok, nil, 403},
		{"delete package: owner", "DELETE", pkgPath("npm:@acme/gadget"), ownerTok, nil, 204},
		{"delete package: gone", "GET", pkgPath("npm:@acme/gadget"), ownerTok, nil, 404},
	})

	type versions = page[struct {
		Version string
		Deleted bool
		Files   []struct{ Name, Digest string }
	}]
	var vs versions
	e.must(200, "GET", widget+"/versions", ownerTok, nil, &vs)
	if len(vs.Items) != 2 || vs.Items[0].Version != "1.1.0" || len(vs.Items[0].Files) != 1 {
		t.Fatalf("versions %+v", vs)
	}
	vs = versions{}
	e.must(200, "GET", widget+"/versions?deleted=true&limit=2", ownerTok, nil, &vs)
	if len(vs.Items) != 2 || !vs.Items[0].Deleted || vs.NextCursor == "" {
		t.Fatalf("versions with deleted %+v", vs)
	}
	cursor := vs.NextCursor
	vs = versions{}
	e.must(200, "GET", widget+"/versions?deleted=true&limit=2&cursor="+cursor, ownerTok, nil, &vs)
	if len(vs.Items) != 1 || vs.Items[0].Version != "2.0.0" || vs.NextCursor != "" {
		t.Fatalf("second page %+v", vs)
	}
}
