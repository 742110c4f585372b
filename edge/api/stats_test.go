package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"entrepot/hosted"
)

type statsAnswer struct {
	PublicURL                 string
	Packages, Versions, Files int
	Bytes                     int64
	Protocols                 []struct {
		Protocol                  string
		Packages, Versions, Files int
		Bytes                     int64
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	_, outTok := e.user(admin, "oscar")
	e.org(ownerTok, "acme")
	priv := e.repo(ownerTok, "acme", "libs", "npm", "private")
	pub := e.repo(ownerTok, "acme", "oss", "pypi", "public")
	e.publish(priv, "@acme/widget", "1.0.0", "1.1.0")
	e.publish(priv, "@acme/gadget", "0.1.0")
	e.publish(pub, "acme-tools", "1.0.0")
	if _, err := e.reg.Catalog.DeleteVersion(context.Background(), "npm", "@acme/widget", "1.0.0"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, authz   string
		status        int
		packages      int
		versions      int
		bytes         int64
		protocolCount int
	}{
		{"anonymous refused", "", 401, 0, 0, 0, 0},
		{"owner sees everything, deleted versions left out", ownerTok, 200, 3, 3, 9, 2},
		{"outsider sees the public repository only", outTok, 200, 1, 1, 3, 1},
		{"platform admin", admin, 200, 3, 3, 9, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("GET", "/stats", c.authz, nil)
			if r.status != c.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if c.status != 200 {
				return
			}
			var s statsAnswer
			r.json(t, &s)
			if s.Packages != c.packages || s.Versions != c.versions || s.Bytes != c.bytes || len(s.Protocols) != c.protocolCount {
				t.Fatalf("got %+v", s)
			}
			if s.PublicURL != e.url {
				t.Fatalf("publicUrl %q, want %q", s.PublicURL, e.url)
			}
		})
	}
}

func TestPackageMeta(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	e.org(admin, "acme")
	repo := e.repo(admin, "acme", "libs", "npm", "public")
	e.publish(repo, "@acme/widget", "1.0.0")
	ctx := context.Background()
	meta := json.RawMessage(`{"distTags":{"latest":"1.0.0"},"fields":{"readme":"# Widget"}}`)
	if _, err := e.reg.Catalog.UpdatePackage(ctx, "npm", "@acme/widget", func(p *hosted.Package) error { p.Meta = meta; return nil }); err != nil {
		t.Fatal(err)
	}
	var one struct{ Meta json.RawMessage }
	e.must(200, "GET", pkgPath("npm:@acme/widget"), "", nil, &one)
	if string(one.Meta) != string(meta) {
		t.Fatalf("package meta %s", one.Meta)
	}
	var list page[struct{ Meta json.RawMessage }]
	e.must(200, "GET", "/packages", "", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Meta != nil {
		t.Fatalf("lists carry no meta: %+v", list)
	}
}
