package scaleout_test

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestOCIThroughBalancer pushes a three-layer image, one layer over
// 20 MiB, with skopeo through the balancer and pulls it back through it;
// and uploads a blob in chunks, each PATCH, status GET and the final PUT
// reaching whichever edge nginx picks: an upload session belongs to the
// cluster, not to the edge that opened it.
func TestOCIThroughBalancer(t *testing.T) {
	f := newFixture(t)
	skopeo := testkit.RequireTool(t, "skopeo")
	creds := "dev:" + devPassword

	t.Run("skopeo push and pull", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "src")
		img := writeImage(t, src, "1.0", []int{64 << 10, 24 << 20, 1 << 20})
		ref := "docker://" + f.c.LB.Host() + "/acme/big:1.0"
		for attempt := range 2 { // a second push finds every blob there already
			if out, err := testkit.Run(t, "", nil, skopeo, "copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+src+":1.0", ref); err != nil {
				t.Fatalf("push %d: %v\n%s", attempt, err, out)
			}
		}
		dst := filepath.Join(t.TempDir(), "dst")
		if out, err := testkit.Run(t, "", nil, skopeo, "copy", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds, ref, "oci:"+dst+":1.0"); err != nil {
			t.Fatalf("pull: %v\n%s", err, out)
		}
		var idx struct{ Manifests []struct{ Digest string } }
		readJSON(t, filepath.Join(dst, "index.json"), &idx)
		if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != img.manifest {
			t.Fatalf("pulled manifest %+v, pushed %s", idx.Manifests, img.manifest)
		}
		for _, d := range append([]string{img.config}, img.layers...) {
			b, err := os.ReadFile(filepath.Join(dst, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
			if err != nil || digestOf(b) != d {
				t.Fatalf("pulled blob %s: %v (digest %s)", d, err, digestOf(b))
			}
		}
		// Every edge serves the manifest by tag.
		for i := range f.c.Edges {
			e := f.c.Edge(t, i)
			out, err := testkit.Run(t, "", nil, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", creds, "docker://"+e.Host()+"/acme/big:1.0")
			if err != nil || digestOf([]byte(out)) != img.manifest {
				t.Errorf("edge %d: inspect: %v\n%.300s", i, err, out)
			}
		}
	})

	t.Run("chunked upload spread over the edges", func(t *testing.T) {
		token := registryToken(t, f.c.URL, "acme/chunked", creds)
		data := make([]byte, 21<<20)
		rand.Read(data)
		digest := digestOf(data)
		auth := "Bearer " + token
		resp, b := testkit.Request(t, "POST", f.c.URL+"/v2/acme/chunked/blobs/uploads/", nil, "Authorization", auth)
		if resp.StatusCode != 202 {
			t.Fatalf("start: %d %s", resp.StatusCode, b)
		}
		loc := resolve(t, f.c.URL, resp.Header.Get("Location"))
		const chunk = 3 << 20
		for off := 0; off < len(data); off += chunk {
			end := min(off+chunk, len(data))
			resp, b := testkit.Request(t, "PATCH", loc, data[off:end], "Authorization", auth,
				"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", off, end-1))
			if resp.StatusCode != 202 {
				t.Fatalf("PATCH %d-%d: %d %s", off, end-1, resp.StatusCode, b)
			}
			loc = resolve(t, f.c.URL, resp.Header.Get("Location"))
			st, _ := testkit.Request(t, "GET", loc, nil, "Authorization", auth)
			if st.StatusCode != 204 || st.Header.Get("Range") != fmt.Sprintf("0-%d", end-1) {
				t.Fatalf("status after %d bytes: %d Range %q", end, st.StatusCode, st.Header.Get("Range"))
			}
			loc = resolve(t, f.c.URL, st.Header.Get("Location"))
		}
		u, _ := url.Parse(loc)
		q := u.Query()
		q.Set("digest", digest)
		u.RawQuery = q.Encode()
		if resp, b := testkit.Request(t, "PUT", u.String(), nil, "Authorization", auth); resp.StatusCode != 201 {
			t.Fatalf("final PUT: %d %s", resp.StatusCode, b)
		}
		for i, e := range f.c.Edges {
			resp, b := testkit.Request(t, "GET", e.URL+"/v2/acme/chunked/blobs/"+digest, nil, "Authorization", auth)
			if resp.StatusCode != 200 || digestOf(b) != digest {
				t.Errorf("edge %d: blob: %d, %d bytes", i, resp.StatusCode, len(b))
			}
		}
	})
	served(t, f)
}

// image is what writeImage wrote: digests of the manifest, config and
// layers.
type image struct {
	manifest, config string
	layers           []string
}

// writeImage writes an OCI image layout at dir tagged tag, with one
// uncompressed tar layer per size (random content, so nothing shrinks it).
func writeImage(t *testing.T, dir, tag string, sizes []int) image {
	t.Helper()
	blob := func(b []byte) (string, int) {
		d := digestOf(b)
		testkit.WriteFile(t, filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), string(b))
		return d, len(b)
	}
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	var img image
	var layers []desc
	var diffIDs []string
	for i, n := range sizes {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		content := make([]byte, n)
		rand.Read(content)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("layer%d.bin", i), Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg})
		tw.Write(content)
		tw.Close()
		d, size := blob(buf.Bytes())
		img.layers = append(img.layers, d)
		diffIDs = append(diffIDs, d)
		layers = append(layers, desc{"application/vnd.oci.image.layer.v1.tar", d, size})
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cd, cs := blob(cfg)
	img.config = cd
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc{"application/vnd.oci.image.config.v1+json", cd, cs}, "layers": layers,
	})
	md, ms := blob(man)
	img.manifest = md
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{map[string]any{
		"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
		"annotations": map[string]string{"org.opencontainers.image.ref.name": tag},
	}}})
	testkit.WriteFile(t, filepath.Join(dir, "index.json"), string(idx))
	testkit.WriteFile(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
	return img
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// registryToken gets a pull,push registry token for repo from base with
// user:password credentials.
func registryToken(t testing.TB, base, repo, creds string) string {
	t.Helper()
	user, pw, _ := strings.Cut(creds, ":")
	resp, b := testkit.Request(t, "GET", base+"/v2/token?service=entrepot&scope="+url.QueryEscape("repository:"+repo+":pull,push"), nil,
		"Authorization", testkit.Basic(user, pw))
	var out struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil || out.Token+out.AccessToken == "" {
		t.Fatalf("registry token: %d %s", resp.StatusCode, b)
	}
	if out.Token == "" {
		return out.AccessToken
	}
	return out.Token
}

// resolve makes an upload Location absolute against base.
func resolve(t testing.TB, base, loc string) string {
	t.Helper()
	b, _ := url.Parse(base)
	l, err := url.Parse(loc)
	if err != nil || loc == "" {
		t.Fatalf("Location %q: %v", loc, err)
	}
	return b.ResolveReference(l).String()
}
