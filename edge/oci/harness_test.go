package oci

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"entrepot/auth"
	"entrepot/deploy/testkit"
	"entrepot/edge"
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
	client *http.Client
}

func newHarness(t testing.TB, mirrors map[string]*upstream.Client, opts Options, metadataTTL ...time.Duration) *harness {
	t.Helper()
	eo := testkit.EdgeOptions{MaxUpload: 1 << 30}
	if len(metadataTTL) > 0 {
		eo.MetadataTTL = metadataTTL[0]
	}
	x := &harness{t: t, admin: testkit.AdminPassword, client: &http.Client{}}
	e := testkit.StartEdge(t, eo, func(r *edge.Registry, m *edge.Mux) {
		x.h = New(r, mirrors, opts)
		x.h.Mount(m.Group(""))
	})
	t.Cleanup(x.h.Close)
	x.url, x.r, x.auth = e.URL, e.Registry, e.Auth
	return x
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
