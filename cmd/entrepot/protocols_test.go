package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/hosted"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
)

// TestProtocolTableIsTheSource checks that everything that lists the
// protocols follows the table: every served row is mounted at its prefix
// (and conceals its reads), has a token scope and a reserved name, has
// its UPSTREAM_ variable, and GET /api/v1/protocols (the dashboard's
// list) and the OpenAPI enums give the table as it is.
func TestProtocolTableIsTheSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	meta, err := bolt.Open(filepath.Join(dir, "entrepot.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close(ctx) })
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(meta, auth.Config{
		SigningKey: bytes.Repeat([]byte("k"), 32),
		Password:   auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		Protocols:  protocolNames(), Reserved: reservedNames(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, "admin@localhost", testkit.AdminPassword); err != nil {
		t.Fatal(err)
	}
	admin, err := svc.UserByLogin(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	r := (&edge.Registry{
		Catalog: hosted.NewCatalog(meta), Blobs: blobs, Cache: cache.New(meta, blobs, cache.Options{Logger: log}),
		Auth: svc, Base: &edge.BaseURL{}, Log: log, MaxUpload: 1 << 20, SpoolDir: filepath.Join(dir, "spool"),
	}).Init()
	srv := edge.New(edge.Config{Logger: log})
	mount(srv.Mux(), r, nil, nil, nil)
	// Every first segment npm does not take at the root is listed in the
	// README, where users read which npm names are served under /npm/
	// only.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range srv.Mux().RootPaths(rootFallback, rootRules...) {
		if !strings.Contains(string(readme), "`"+seg+"`") {
			t.Errorf("README's root paths do not list `%s`", seg)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + ln.Addr().String()

	mounted := srv.Mux().Protocols()
	envs := map[string]bool{}
	for _, s := range settings() {
		envs[s.env] = true
	}
	seen := map[string]bool{}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			if seen[p.name] {
				t.Fatal("twice in the table")
			}
			seen[p.name] = true
			prefix, ok := mounted[p.name]
			if served := p.mount != nil; ok != served || ok && prefix != p.prefix {
				t.Errorf("mounted at %q (%v), table: %q (served %v)", prefix, ok, p.prefix, served)
			}
			if _, _, err := svc.CreateToken(ctx, admin.ID, auth.NewToken{Name: "scope " + p.name, Protocols: []string{p.name}}); err != nil {
				t.Errorf("token scope: %v", err)
			}
			names := append([]string{p.name}, p.reserves...)
			if seg := strings.TrimPrefix(p.prefix, "/"); seg != "" {
				names = append(names, seg)
			}
			for _, n := range names {
				if err := svc.ValidName(n); !fault.Is(err, fault.Invalid) {
					t.Errorf("name %q not reserved: %v", n, err)
				}
			}
			if p.upstream != "" && !envs[p.upstream] {
				t.Errorf("no setting %s", p.upstream)
			}
		})
	}
	for name := range mounted {
		if !seen[name] {
			t.Errorf("%s is mounted but not in the table", name)
		}
	}
	if _, _, err := svc.CreateToken(ctx, admin.ID, auth.NewToken{Name: "svn", Protocols: []string{"svn"}}); !fault.Is(err, fault.Invalid) {
		t.Errorf("a token scoped to a protocol outside the table: %v", err)
	}

	// The dashboard's list.
	var list struct{ Items []api.Protocol }
	getJSON(t, base+api.Prefix+"/protocols", &list)
	if want := apiOptions().Protocols; !slices.Equal(list.Items, want) {
		t.Errorf("GET /protocols = %+v\nwant %+v", list.Items, want)
	}
	// The OpenAPI document's enums.
	var doc struct {
		Components struct {
			Parameters map[string]struct{ Schema struct{ Enum []string } }
		}
	}
	getJSON(t, base+api.Prefix+"/openapi.json", &doc)
	if got := doc.Components.Parameters["protocol"].Schema.Enum; !slices.Equal(got, protocolNames()) {
		t.Errorf("OpenAPI protocol enum = %v, want %v", got, protocolNames())
	}
}

func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, raw := testkit.Request(t, "GET", url, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}
