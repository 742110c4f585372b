package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/edge/cargo"
	"entrepot/edge/composer"
	"entrepot/edge/maven"
	"entrepot/edge/npm"
	"entrepot/edge/oci"
	"entrepot/edge/policy"
	"entrepot/edge/pypi"
	"entrepot/edge/rubygems"
	"entrepot/hosted"
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
)

const adminPassword = "admin-password-for-tests"

// env is an in-process edge serving the API on a loopback port, over a
// bbolt store and a filesystem blob store in a temp dir.
type env struct {
	t      *testing.T
	url    string
	dbPath string
	store  hosted.Store
	reg    *edge.Registry
	audit  *auth.Auditor
	log    *syncBuffer
	client *http.Client
	srv    *edge.Server
	policy *policy.Engine
	closed bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fastParams keeps argon2id cheap under -race; production parameters are
// auth's business.
var fastParams = auth.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newEnv starts the API over a fresh store with the platform opened to
// user-created organizations, which most tests exercise; newEnvDefaults
// keeps the shipped settings.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := newEnvDefaults(t)
	e.must(200, "PUT", "/admin/auth/settings", e.adminToken(), map[string]bool{"userOrganizations": true}, nil)
	return e
}

func newEnvDefaults(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dbPath: filepath.Join(dir, "entrepot.db"), log: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := bolt.Open(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(st, auth.Config{
		SigningKey: []byte("0123456789abcdef0123456789abcdef-test"),
		Password:   fastParams,
		Throttle:   auth.ThrottleConfig{Failures: 3, Base: time.Minute, Max: time.Hour},
		Protocols:  protocolNames(),
		Reserved:   []string{"v2", "maven2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(context.Background(), "admin@localhost", adminPassword); err != nil {
		t.Fatal(err)
	}
	e.audit = auth.NewAuditor(st, log, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.audit.Run(ctx); close(done) }()
	e.reg = (&edge.Registry{
		Catalog:         hosted.NewCatalog(st),
		Blobs:           blobs,
		Cache:           cache.New(st, blobs, cache.Options{Logger: log}),
		Auth:            svc,
		Audit:           e.audit,
		Base:            &edge.BaseURL{},
		Log:             log,
		AnonymousMirror: true,
		MaxUpload:       1 << 20,
	}).Init()
	e.srv = edge.New(edge.Config{Logger: log})
	e.policy = policy.New(st, policy.Options{Protocols: protocolNames(), Notify: e.reg.Notify})
	if err := e.policy.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	api.New(e.reg, api.Options{Claims: claimRules, Protocols: protocols, Policy: e.policy}).Mount(e.srv.Mux().Group(api.Prefix))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(ln)
	e.url = "http://" + ln.Addr().String()
	e.client = &http.Client{}
	t.Cleanup(func() {
		e.close()
		cancel()
		<-done
	})
	return e
}

// protocols stands for cmd/entrepot's protocol table, as it passes it to
// the API; protocolNames is what it passes to auth.
var protocols = []api.Protocol{
	{Name: "npm", Title: "npm", Prefix: "/npm", Served: true},
	{Name: "oci", Title: "OCI", Served: true},
	{Name: "pypi", Title: "PyPI", Prefix: "/pypi", Served: true},
	{Name: "cargo", Title: "Cargo", Prefix: "/cargo", Served: true},
	{Name: "maven", Title: "Maven", Prefix: "/maven2", Served: true},
	{Name: "composer", Title: "Composer", Prefix: "/composer", Served: true},
	{Name: "rubygems", Title: "RubyGems", Prefix: "/rubygems", Served: true},
	{Name: "go", Title: "Go"},
}

func protocolNames() []string {
	var out []string
	for _, p := range protocols {
		out = append(out, p.Name)
	}
	return out
}

// claimRules are the protocols' claim rules, as cmd/entrepot passes them.
var claimRules = map[string]api.ClaimRule{
	cargo.Protocol:    cargo.NormalizeClaim,
	composer.Protocol: composer.NormalizeClaim,
	maven.Protocol:    maven.NormalizeClaim,
	npm.Protocol:      npm.NormalizeClaim,
	"oci":             oci.NormalizeClaim,
	pypi.Protocol:     pypi.NormalizeClaim,
	rubygems.Protocol: rubygems.NormalizeClaim,
}

// close stops the server and the store, so that the store file can be
// read whole.
func (e *env) close() {
	if e.closed {
		return
	}
	e.closed = true
	e.srv.Shutdown(context.Background())
	e.audit.Close(context.Background())
	e.store.Close(context.Background())
}

// flush waits until the audit entries recorded so far are stored.
func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.audit.Flush(ctx); err != nil {
		e.t.Fatal(err)
	}
}

// resp is an answer, decoded.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) errCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("not an API error: %d %s", r.status, r.body)
	}
	return e.Error.Code
}

// call sends method path (under /api/v1) with an Authorization header
// value auth ("" for none; a bare token is sent as Bearer) and body as
// JSON (a string is sent as is).
func (e *env) call(method, path, authz string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+api.Prefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		if !strings.Contains(authz, " ") {
			authz = "Bearer " + authz
		}
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: raw}
}

// must calls and fails the test unless the status is want; it decodes the
// answer into out when out is not nil.
func (e *env) must(want int, method, path, authz string, body, out any) resp {
	e.t.Helper()
	r := e.call(method, path, authz, body)
	if r.status != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.json(e.t, out)
	}
	return r
}

type session struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
	User         auth.User
}

func (e *env) login(login, password string) session {
	e.t.Helper()
	var s session
	e.must(200, "POST", "/auth/login", "", map[string]string{"email": login, "password": password}, &s)
	return s
}

func (e *env) adminToken() string { return e.login("admin", adminPassword).AccessToken }

// user creates a user and signs it in.
func (e *env) user(admin, name string) (auth.User, string) {
	e.t.Helper()
	var u auth.User
	pw := name + "-password-1"
	e.must(201, "POST", "/users", admin, map[string]string{"username": name, "email": name + "@example.test", "password": pw}, &u)
	return u, e.login(name, pw).AccessToken
}

func (e *env) org(token, name string) auth.Org {
	e.t.Helper()
	var o auth.Org
	e.must(201, "POST", "/organizations", token, map[string]string{"name": name}, &o)
	return o
}

// member makes userID a member of org, as the platform admin does
// directly: the caller named (an owner, often) would have to invite
// (TestInvitations), and only the admin adds.
func (e *env) member(_, org, userID, role string) {
	e.t.Helper()
	e.must(200, "POST", "/organizations/"+org+"/members", e.adminToken(), map[string]string{"userId": userID, "role": role}, nil)
}

func (e *env) repo(token, org, name, protocol, visibility string) auth.Repository {
	e.t.Helper()
	var r auth.Repository
	e.must(201, "POST", "/organizations/"+org+"/repositories", token,
		map[string]string{"name": name, "protocol": protocol, "visibility": visibility}, &r)
	return r
}

// publish records a package with versions straight in the catalog, as a
// protocol handler would.
func (e *env) publish(repo auth.Repository, name string, versions ...string) hosted.Package {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.reg.Catalog.Package(ctx, repo.Protocol, name)
	if err != nil {
		p, err = e.reg.Catalog.CreatePackage(ctx, hosted.Package{Protocol: repo.Protocol, Name: name, OrgID: repo.OrgID, RepoID: repo.ID})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	for _, v := range versions {
		f := hosted.File{Name: name + "/-/" + name + "-" + v + ".tgz", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 3}
		if _, err := e.reg.Catalog.AddVersion(ctx, hosted.Version{Protocol: repo.Protocol, Package: name, Version: v, OrgID: repo.OrgID, Files: []hosted.File{f}}); err != nil {
			e.t.Fatal(err)
		}
	}
	return p
}

// pkgPath is the API path of a package id, escaped.
func pkgPath(id string) string { return "/packages/" + url.PathEscape(id) }

type page[T any] struct {
	Items      []T
	NextCursor string
}

func authFilter(action string) auth.AuditFilter { return auth.AuditFilter{Action: action} }

func authPage() auth.Page { return auth.Page{Limit: hosted.MaxPage} }

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}
