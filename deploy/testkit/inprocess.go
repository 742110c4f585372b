package testkit

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
)

// Edge is an edge server running inside the test process, over the
// embedded stores (bbolt and filesystem blobs in a temporary folder): what
// a protocol's handler tests and benchmarks use, so that they run under
// the race detector and profile this process, without the binary. Start
// knows no protocol: the test mounts its handler.
type Edge struct {
	URL  string // "http://127.0.0.1:<port>"
	Addr string // "127.0.0.1:<port>"

	Registry *edge.Registry
	Auth     *auth.Service
	AdminID  string // the bootstrap admin: login "admin", password AdminPassword
	OrgID    string // the organization "acme", owned by the admin
	Token    string // an srg_ API token of the admin, without scope restrictions

	client *http.Client
}

// EdgeOptions are the settings in which protocols' harnesses differ.
type EdgeOptions struct {
	// MetadataTTL is how long mirrored metadata stays fresh; 0 means an
	// hour.
	MetadataTTL time.Duration
	// MaxUpload bounds a publish; 0 means 1 MiB.
	MaxUpload int64
	// Meta and Blobs are the stores to serve over (a MongoDB and an S3
	// bucket, say, which the test closes); nil: fresh embedded ones.
	// Edges started over the same stores share them and nothing else
	// (Twin).
	Meta  hosted.Store
	Blobs blob.Store
	// WrapStore, when set, wraps the metadata store every layer uses
	// (catalog, auth, cache): a test's recorder of the calls.
	WrapStore func(hosted.Store) hosted.Store
}

// StartEdge builds the registry, lets mount register the protocol's
// handler on the server's router (mount runs once, before the server
// listens), and serves on a free loopback port until the test ends. Mirror
// reads are open to anonymous callers, as with ANONYMOUS_MIRROR on.
// Password hashing is cheap, so that sign-ins stay fast under -race.
func StartEdge(tb testing.TB, opts EdgeOptions, mount func(r *edge.Registry, m *edge.Mux)) *Edge {
	tb.Helper()
	if opts.MetadataTTL == 0 {
		opts.MetadataTTL = time.Hour
	}
	if opts.MaxUpload == 0 {
		opts.MaxUpload = 1 << 20
	}
	dir := tb.TempDir()
	meta, blobs := opts.Meta, opts.Blobs
	if meta == nil {
		m, err := bolt.Open(filepath.Join(dir, "entrepot.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { m.Close(context.Background()) })
		meta = m
	}
	var store hosted.Store = meta
	if opts.WrapStore != nil {
		store = opts.WrapStore(meta)
	}
	if blobs == nil {
		b, err := fs.New(filepath.Join(dir, "blobs"))
		if err != nil {
			tb.Fatal(err)
		}
		blobs = b
	}
	svc, err := auth.New(store, auth.Config{
		SigningKey: bytes.Repeat([]byte("k"), 32),
		Password:   auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, "admin@localhost", AdminPassword); err != nil {
		tb.Fatal(err)
	}
	admin, err := svc.UserByLogin(ctx, "admin")
	if err != nil {
		tb.Fatal(err)
	}
	org, err := svc.CreateOrg(ctx, auth.Org{Name: "acme"}, admin.ID)
	if fault.Is(err, fault.Conflict) { // an edge over the same stores made it
		org, err = svc.GetOrg(ctx, "acme")
	}
	if err != nil {
		tb.Fatal(err)
	}
	_, token, err := svc.CreateToken(ctx, admin.ID, auth.NewToken{Name: "testkit"})
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	r := (&edge.Registry{
		Catalog:         hosted.NewCatalog(store),
		Blobs:           blobs,
		Cache:           cache.New(store, blobs, cache.Options{Logger: log}),
		Auth:            svc,
		Base:            &edge.BaseURL{},
		Log:             log,
		MetadataTTL:     opts.MetadataTTL,
		AnonymousMirror: true,
		MaxUpload:       opts.MaxUpload,
		SpoolDir:        filepath.Join(dir, "spool"),
	}).Init()
	r.Catalog.WithChanges(r) // one edge: its changes go straight to its caches
	srv := edge.New(edge.Config{Logger: log})
	mount(r, srv.Mux())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	// Registered after the store's Close, so it runs before it.
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &Edge{
		URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(),
		Registry: r, Auth: svc, AdminID: admin.ID, OrgID: org.ID, Token: token,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
}

// Twin starts another edge over e's stores, with its own registry,
// caches, spool folder and server, mounted by mount: what a second edge
// process behind the same load balancer shares with the first, the
// stores and nothing else (the signing key aside, which every edge of a
// deployment is given).
func (e *Edge) Twin(tb testing.TB, opts EdgeOptions, mount func(r *edge.Registry, m *edge.Mux)) *Edge {
	tb.Helper()
	opts.Meta, opts.Blobs = e.Registry.Catalog.Store(), e.Registry.Blobs
	return StartEdge(tb, opts, mount)
}

// Do is Request on the edge's path, over a client that keeps enough idle
// connections for parallel benchmarks. It is safe for concurrent use.
func (e *Edge) Do(t testing.TB, method, path string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	return request(t, e.client, method, e.URL+path, body, header)
}

// Rival is a user of an Edge who owns an organization of their own and
// is no member of "acme": what claim tests publish as.
type Rival struct {
	UserID string
	Token  string // an srg_ token without scope restrictions
	// IntoAcme is a token of the rival's scoped to "acme", where the rival
	// is no member (one who has left it, say).
	IntoAcme string
}

// Rival creates user username (password username+"-password-123456") who
// owns organization org.
func (e *Edge) Rival(t testing.TB, username, org string) Rival {
	t.Helper()
	ctx := context.Background()
	u, err := e.Auth.CreateUser(ctx, auth.NewUser{Email: username + "@example.test", Username: username, Password: username + "-password-123456"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Auth.CreateOrg(ctx, auth.Org{Name: org}, u.ID); err != nil {
		t.Fatal(err)
	}
	r := Rival{UserID: u.ID}
	if _, r.Token, err = e.Auth.CreateToken(ctx, u.ID, auth.NewToken{Name: username}); err != nil {
		t.Fatal(err)
	}
	if _, r.IntoAcme, err = e.Auth.CreateToken(ctx, u.ID, auth.NewToken{Name: username + " into acme", Organizations: []string{"acme"}}); err != nil {
		t.Fatal(err)
	}
	return r
}
