package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
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
// detector and benchmarks can measure this process's heap.
type harness struct {
	t      testing.TB
	url    string
	h      *Handler
	r      *edge.Registry
	auth   *auth.Service
	admin  string // bootstrap admin's password
	orgID  string // "acme"
	client *http.Client
}

const harnessPassword = "harness-admin-password-1234"

func newHarness(t testing.TB, mirrors map[string]*upstream.Client, opts Options, metadataTTL ...time.Duration) *harness {
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
	if _, err := svc.Bootstrap(ctx, "admin@localhost", harnessPassword); err != nil {
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
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
		MaxUpload:       1 << 30,
		SpoolDir:        filepath.Join(dir, "spool"),
	}).Init()
	srv := edge.New(edge.Config{Logger: log})
	h := New(r, mirrors, opts)
	h.Mount(srv.Mux().Group(""))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		h.Close()
		meta.Close(context.Background())
	})
	return &harness{
		t: t, url: "http://" + ln.Addr().String(), h: h, r: r, auth: svc,
		admin: harnessPassword, orgID: org.ID, client: &http.Client{},
	}
}

// do sends a request with Basic admin credentials unless hdr sets
// Authorization ("" removes it).
func (x *harness) do(method, path string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	x.t.Helper()
	req, err := http.NewRequest(method, x.url+path, body)
	if err != nil {
		x.t.Fatal(err)
	}
	req.SetBasicAuth("admin", x.admin)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Authorization" && hdr[i+1] == "" {
			req.Header.Del("Authorization")
			continue
		}
		if hdr[i] == "Content-Length" {
			fmt.Sscan(hdr[i+1], &req.ContentLength)
			continue
		}
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

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// pushBlob uploads b monolithically into repo.
func (x *harness) pushBlob(repo string, b []byte) string {
	x.t.Helper()
	d := sha(b)
	resp, body := x.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(b))
	if resp.StatusCode != 201 {
		x.t.Fatalf("push blob: %d %s", resp.StatusCode, body)
	}
	return d
}

// image pushes a config and one layer and returns a manifest for them.
func (x *harness) image(repo string, layer []byte) []byte {
	x.t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd, ld := x.pushBlob(repo, cfg), x.pushBlob(repo, layer)
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}},
	})
	return m
}

func (x *harness) putManifest(repo, ref string, m []byte, mt string) (*http.Response, []byte) {
	x.t.Helper()
	return x.do("PUT", "/v2/"+repo+"/manifests/"+ref, bytes.NewReader(m), "Content-Type", mt)
}

// code returns the first error code of an error document.
func code(b []byte) string {
	var doc struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.Unmarshal(b, &doc)
	if len(doc.Errors) == 0 {
		return ""
	}
	return doc.Errors[0].Code
}

func short(b []byte) string {
	s := string(b)
	if len(s) > 300 {
		s = s[:300]
	}
	return strings.TrimSpace(s)
}
