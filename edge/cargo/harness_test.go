package cargo

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
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
	"entrepot/hosted/blob/fs"
	"entrepot/hosted/bolt"
	"entrepot/upstream"
)

// harness runs the handler in this process over real stores (bbolt, the
// filesystem blob store), so that handler tests run under the race
// detector without the binary, and benchmarks profile this process.
type harness struct {
	t      testing.TB
	url    string
	h      *Handler
	r      *edge.Registry
	auth   *auth.Service
	orgID  string // "acme", owned by the bootstrap admin
	token  string // an srg_ token of the admin
	client *http.Client
}

// newHarness starts the handler; metadataTTL, when given, replaces the
// hour mirrored metadata stays fresh.
func newHarness(t testing.TB, up *upstream.Client, metadataTTL ...time.Duration) *harness {
	t.Helper()
	dir := t.TempDir()
	meta, err := bolt.Open(filepath.Join(dir, "entrepot.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(meta, auth.Config{SigningKey: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, "admin@localhost", "harness-admin-password-1234"); err != nil {
		t.Fatal(err)
	}
	admin, err := svc.UserByLogin(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	org, err := svc.CreateOrg(ctx, auth.Org{Name: "acme"}, admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := svc.CreateToken(ctx, admin.ID, auth.NewToken{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ttl := time.Hour
	if len(metadataTTL) > 0 {
		ttl = metadataTTL[0]
	}
	r := (&edge.Registry{
		Catalog:         hosted.NewCatalog(meta),
		Blobs:           blobs,
		Cache:           cache.New(meta, blobs, cache.Options{}),
		Auth:            svc,
		Base:            &edge.BaseURL{},
		Log:             log,
		MetadataTTL:     ttl,
		AnonymousMirror: true,
		MaxUpload:       1 << 20,
	}).Init()
	srv := edge.New(edge.Config{Logger: log})
	h := New(r, up, Options{})
	h.Mount(srv.Mux().Group(""))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		meta.Close(context.Background())
	})
	return &harness{t: t, url: "http://" + ln.Addr().String(), h: h, r: r, auth: svc, orgID: org.ID, token: token,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// do sends a request with the given Authorization ("" for none).
func (x *harness) do(method, path, authz string, body []byte, hdr ...string) (*http.Response, []byte) {
	x.t.Helper()
	req, err := http.NewRequest(method, x.url+path, bytes.NewReader(body))
	if err != nil {
		x.t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := x.client.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// publish uploads a minimal crate name@vers with the admin's token.
func (x *harness) publish(name, vers string) (int, string) {
	x.t.Helper()
	meta := fmt.Sprintf(`{"name":%q,"vers":%q,"deps":[],"features":{},"description":"crate %s"}`, name, vers, name)
	crate := crateFile(x.t, map[string]string{name + "-" + vers + "/Cargo.toml": fmt.Sprintf("[package]\nname = %q\nversion = %q\n", name, vers)})
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(len(meta)))
	b.WriteString(meta)
	binary.Write(&b, binary.LittleEndian, uint32(len(crate)))
	b.Write(crate)
	resp, body := x.do("PUT", "/cargo/api/v1/crates/new", x.token, b.Bytes())
	return resp.StatusCode, string(body)
}
