package oci

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"entrepot/auth"
)

func TestAuthFlow(t *testing.T) {
	x := newHarness(t, nil, Options{})
	ctx := context.Background()
	admin, _ := x.auth.UserByLogin(ctx, "admin")
	_, readOnly, err := x.auth.CreateToken(ctx, admin.ID, auth.NewToken{Name: "ro", Actions: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	// Anonymous: challenged to fetch a token here.
	resp, body := x.do("GET", "/v2/", nil, "Authorization", "")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="`+x.url+`/v2/token",service="`) || code(body) != codeUnauthorized {
		t.Fatalf("anonymous /v2/: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	token := func(user, secret, scope string) (int, string, []auth.RegistryAccess) {
		req, _ := http.NewRequest("GET", x.url+"/v2/token?service=x&scope="+scope, nil)
		if user != "" {
			req.SetBasicAuth(user, secret)
		}
		resp, err := x.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Token     string `json:"token"`
			ExpiresIn int    `json:"expires_in"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			return resp.StatusCode, "", nil
		}
		_, access, err := x.auth.VerifyRegistryToken(context.Background(), out.Token, strings.TrimPrefix(x.url, "http://"))
		if err != nil {
			t.Fatalf("token does not verify: %v", err)
		}
		if out.ExpiresIn != 300 {
			t.Fatalf("expires_in %d", out.ExpiresIn)
		}
		return resp.StatusCode, out.Token, access
	}
	cases := []struct {
		name, user, secret, scope string
		status                    int
		grants                    string
	}{
		{"password", "admin", x.admin, "repository:acme/app:pull,push,delete", 200, "pull,push,delete"},
		{"read-only token", "ci", readOnly, "repository:acme/app:pull,push", 200, "pull"},
		{"anonymous private", "", "", "repository:acme/app:pull", 200, ""},
		{"unknown org", "admin", x.admin, "repository:nope/app:pull,push", 200, ""},
		{"bad password", "admin", "wrong", "repository:acme/app:pull", 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, access := token(tc.user, tc.secret, tc.scope)
			if st != tc.status {
				t.Fatalf("status %d", st)
			}
			got := ""
			for _, a := range access {
				got = strings.Join(a.Actions, ",")
			}
			if got != tc.grants {
				t.Fatalf("grants %q, want %q", got, tc.grants)
			}
		})
	}
	_, full, _ := token("admin", x.admin, "repository:acme/app:pull,push")
	_, ro, _ := token("ci", readOnly, "repository:acme/app:pull,push")
	_, pullOnly, _ := token("admin", x.admin, "repository:acme/app:pull")
	layer := []byte("layer")
	d := sha(layer)
	if resp, body := x.do("GET", "/v2/", nil, "Authorization", "Bearer "+full); resp.StatusCode != 200 {
		t.Fatalf("bearer /v2/: %d %s", resp.StatusCode, body)
	}
	resp, body = x.do("POST", "/v2/acme/app/blobs/uploads/?digest="+d, bytes.NewReader(layer), "Authorization", "Bearer "+pullOnly)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="repository:acme/app:pull,push",error="insufficient_scope"`) {
		t.Fatalf("push with a pull token: %d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	resp, body = x.do("POST", "/v2/acme/app/blobs/uploads/?digest="+d, bytes.NewReader(layer), "Authorization", "Bearer "+ro)
	if resp.StatusCode != 403 || code(body) != codeDenied {
		t.Fatalf("push with the token of a read-only API token: %d %s", resp.StatusCode, body)
	}
	resp, body = x.do("POST", "/v2/acme/app/blobs/uploads/?digest="+d, bytes.NewReader(layer), "Authorization", "Basic "+basic("ci", readOnly))
	if resp.StatusCode != 403 || code(body) != codeDenied {
		t.Fatalf("push with a read-only token: %d %s", resp.StatusCode, body)
	}
	if resp, body := x.do("POST", "/v2/acme/app/blobs/uploads/?digest="+d, bytes.NewReader(layer), "Authorization", "Bearer "+full); resp.StatusCode != 201 {
		t.Fatalf("push with a push token: %d %s", resp.StatusCode, body)
	}
	if resp, body := x.do("GET", "/v2/acme/app/blobs/"+d, nil, "Authorization", ""); resp.StatusCode != 401 {
		t.Fatalf("anonymous read of a private repository: %d %s", resp.StatusCode, body)
	}
	if resp, _ := x.do("GET", "/v2/acme/app/blobs/"+d, nil, "Authorization", "Bearer "+ro); resp.StatusCode != 200 {
		t.Fatalf("read with a pull token: %d", resp.StatusCode)
	}
}

func basic(u, p string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestUploads(t *testing.T) {
	x := newHarness(t, nil, Options{ChunkMinLength: 4})
	data := []byte("0123456789abcdefghij")
	d := sha(data)
	start := func() string {
		resp, body := x.do("POST", "/v2/acme/app/blobs/uploads/", nil)
		if resp.StatusCode != 202 || resp.Header.Get("OCI-Chunk-Min-Length") != "4" || resp.Header.Get("Docker-Upload-UUID") == "" {
			t.Fatalf("start: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		return resp.Header.Get("Location")
	}
	t.Run("chunked with an out-of-order chunk", func(t *testing.T) {
		loc := start()
		if resp, body := x.do("PATCH", loc, bytes.NewReader(data[:8]), "Content-Range", "0-7"); resp.StatusCode != 202 || resp.Header.Get("Range") != "0-7" {
			t.Fatalf("chunk 1: %d %q %s", resp.StatusCode, resp.Header.Get("Range"), body)
		}
		if resp, body := x.do("PATCH", loc, bytes.NewReader(data[12:]), "Content-Range", "12-19"); resp.StatusCode != 416 || code(body) != codeRangeInvalid {
			t.Fatalf("out of order: %d %s", resp.StatusCode, body)
		}
		if resp, _ := x.do("GET", loc, nil); resp.StatusCode != 204 || resp.Header.Get("Range") != "0-7" {
			t.Fatalf("status: %d %q", resp.StatusCode, resp.Header.Get("Range"))
		}
		if resp, body := x.do("PATCH", loc, bytes.NewReader(data[8:16]), "Content-Range", "8-15"); resp.StatusCode != 202 {
			t.Fatalf("chunk 2: %d %s", resp.StatusCode, body)
		}
		resp, body := x.do("PUT", loc+"?digest="+d, bytes.NewReader(data[16:]), "Content-Range", "16-19")
		if resp.StatusCode != 201 || resp.Header.Get("Docker-Content-Digest") != d {
			t.Fatalf("finish: %d %s", resp.StatusCode, body)
		}
		if resp, body := x.do("GET", resp.Header.Get("Location"), nil); resp.StatusCode != 200 || !bytes.Equal(body, data) {
			t.Fatalf("get: %d %q", resp.StatusCode, body)
		}
		if resp, _ := x.do("GET", loc, nil); resp.StatusCode != 404 {
			t.Fatalf("finished session still there: %d", resp.StatusCode)
		}
	})
	t.Run("one streamed patch", func(t *testing.T) {
		loc := start()
		if resp, body := x.do("PATCH", loc, bytes.NewReader(data)); resp.StatusCode != 202 {
			t.Fatalf("patch: %d %s", resp.StatusCode, body)
		}
		if resp, body := x.do("PUT", loc+"?digest="+d, nil); resp.StatusCode != 201 {
			t.Fatalf("finish: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("range reads", func(t *testing.T) {
		resp, body := x.do("GET", "/v2/acme/app/blobs/"+d, nil, "Range", "bytes=2-5")
		if resp.StatusCode != 206 || string(body) != "2345" {
			t.Fatalf("range: %d %q", resp.StatusCode, body)
		}
		if resp, _ := x.do("GET", "/v2/acme/app/blobs/"+d, nil, "Range", "bytes=50-60"); resp.StatusCode != 416 {
			t.Fatalf("bad range: %d", resp.StatusCode)
		}
	})
	t.Run("session survives a restart", func(t *testing.T) {
		loc := start()
		if resp, _ := x.do("PATCH", loc, bytes.NewReader(data[:10]), "Content-Range", "0-9"); resp.StatusCode != 202 {
			t.Fatal(resp.StatusCode)
		}
		// A new handler over the same stores: nothing of the session
		// lived in the old one's memory.
		y := *x
		y.h = New(x.r, nil, Options{})
		id := loc[strings.LastIndexByte(loc, '/')+1:]
		u, err := y.h.upload(context.Background(), id)
		if err != nil || u.Size != 10 {
			t.Fatalf("session after restart: %+v %v", u, err)
		}
		// Bytes of a PATCH cut by the crash, stored but never recorded,
		// are dropped.
		if _, err := y.h.scratch.PutScratch(context.Background(), chunkObject(id, 10), strings.NewReader("garbage")); err != nil {
			t.Fatal(err)
		}
		if resp, body := x.do("PUT", loc+"?digest="+d, bytes.NewReader(data[10:]), "Content-Range", "10-19"); resp.StatusCode != 201 {
			t.Fatalf("finish after restart: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("cancel and sweep", func(t *testing.T) {
		loc := start()
		if resp, _ := x.do("DELETE", loc, nil); resp.StatusCode != 204 {
			t.Fatalf("cancel: %d", resp.StatusCode)
		}
		loc = start()
		x.do("PATCH", loc, bytes.NewReader(data[:5]))
		id := loc[strings.LastIndexByte(loc, '/')+1:]
		if n := x.h.Sweep(context.Background(), time.Now()); n != 0 {
			t.Fatalf("swept a live session")
		}
		if n := x.h.Sweep(context.Background(), time.Now().Add(25*time.Hour)); n != 1 {
			t.Fatalf("swept %d sessions", n)
		}
		x.h.scratch.ListScratch(context.Background(), chunkPrefix(id), func(name string, _ time.Time) bool {
			t.Fatalf("chunk left: %s", name)
			return false
		})
		if resp, _ := x.do("GET", loc, nil); resp.StatusCode != 404 {
			t.Fatalf("swept session answers %d", resp.StatusCode)
		}
	})
}

// rawRequest sends a request whose body is cut short: the declared
// length is more than what is sent before the connection closes.
func rawRequest(t *testing.T, x *harness, method, path string, declared int, body []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(x.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Length: %d\r\n\r\n", method, path, basic("admin", x.admin), declared)
	conn.Write(body)
	conn.(*net.TCPConn).CloseWrite()
	bufio.NewReader(conn).ReadString('\n')
}

func TestBadInput(t *testing.T) {
	x := newHarness(t, nil, Options{MaxManifestSize: 2048})
	layer := []byte("some layer bytes")
	good := x.image("acme/app", layer)
	other := sha([]byte("other"))
	index := func(child string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[{"mediaType":"` + mtOCIManifest + `","digest":"` + child + `","size":10}]}`)
	}
	cases := []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		code               string
	}{
		{"blob digest mismatch", "POST", "/v2/acme/app/blobs/uploads/?digest=" + other, layer, nil, 400, codeDigestInvalid},
		{"manifest digest mismatch", "PUT", "/v2/acme/app/manifests/" + other, good, []string{"Content-Type", mtOCIManifest}, 400, codeDigestInvalid},
		{"malformed manifest", "PUT", "/v2/acme/app/manifests/v1", []byte(`{"schemaVersion":2,`), []string{"Content-Type", mtOCIManifest}, 400, codeManifestInvalid},
		{"not an object", "PUT", "/v2/acme/app/manifests/v1", []byte(`[1]`), []string{"Content-Type", mtOCIManifest}, 400, codeManifestInvalid},
		{"schema 1", "PUT", "/v2/acme/app/manifests/v1", []byte(`{"schemaVersion":1}`), nil, 400, codeManifestInvalid},
		{"type mismatch", "PUT", "/v2/acme/app/manifests/v1", good, []string{"Content-Type", mtOCIIndex}, 400, codeManifestInvalid},
		{"over the size limit", "PUT", "/v2/acme/app/manifests/v1", bytes.Repeat([]byte(" "), 4096), []string{"Content-Type", mtOCIManifest}, 413, codeManifestInvalid},
		{"unknown blob", "PUT", "/v2/acme/app/manifests/v1", bytes.Replace(good, []byte(sha(layer)), []byte(other), 1), []string{"Content-Type", mtOCIManifest}, 400, codeManifestBlobUnknown},
		{"unknown child manifest", "PUT", "/v2/acme/app/manifests/v1", index(other), []string{"Content-Type", mtOCIIndex}, 400, codeManifestBlobUnknown},
		{"invalid name", "GET", "/v2/acme/App/manifests/v1", nil, nil, 400, codeNameInvalid},
		{"invalid tag", "PUT", "/v2/acme/app/manifests/.v1", good, nil, 400, codeTagInvalid},
		{"invalid tag param", "PUT", "/v2/acme/app/manifests/" + sha(good) + "?tag=a:b", good, nil, 400, codeTagInvalid},
		{"unknown manifest", "GET", "/v2/acme/app/manifests/nope", nil, nil, 404, codeManifestUnknown},
		{"unknown blob get", "GET", "/v2/acme/app/blobs/" + other, nil, nil, 404, codeBlobUnknown},
		{"unknown upload", "GET", "/v2/acme/app/blobs/uploads/abc", nil, nil, 404, codeBlobUploadUnknown},
		{"unknown organization", "POST", "/v2/nope/app/blobs/uploads/", nil, nil, 404, codeNameUnknown},
		{"bad n", "GET", "/v2/acme/app/tags/list?n=x", nil, nil, 400, codePaginationInvalid},
		{"method", "POST", "/v2/acme/app/tags/list", nil, nil, 405, codeUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rd *bytes.Reader
			if tc.body != nil {
				rd = bytes.NewReader(tc.body)
			}
			var resp *http.Response
			var body []byte
			if rd != nil {
				resp, body = x.do(tc.method, tc.path, rd, tc.hdr...)
			} else {
				resp, body = x.do(tc.method, tc.path, nil, tc.hdr...)
			}
			if resp.StatusCode != tc.status || code(body) != tc.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, short(body), tc.status, tc.code)
			}
		})
	}
	// Nothing of the failed pushes is visible.
	for _, p := range []string{"/v2/acme/app/blobs/" + other, "/v2/acme/app/manifests/v1", "/v2/acme/app/manifests/" + other} {
		if resp, _ := x.do("HEAD", p, nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d after a failed push", p, resp.StatusCode)
		}
	}
	t.Run("truncated uploads", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 100000)
		d := sha(big)
		rawRequest(t, x, "POST", "/v2/acme/app/blobs/uploads/?digest="+d, len(big), big[:50000])
		if resp, _ := x.do("HEAD", "/v2/acme/app/blobs/"+d, nil); resp.StatusCode != 404 {
			t.Fatalf("truncated monolithic upload visible: %d", resp.StatusCode)
		}
		resp, _ := x.do("POST", "/v2/acme/app/blobs/uploads/", nil)
		loc := resp.Header.Get("Location")
		x.do("PATCH", loc, bytes.NewReader(big[:1000]), "Content-Range", "0-999")
		rawRequest(t, x, "PATCH", loc, 99000, big[1000:50000])
		if resp, _ := x.do("GET", loc, nil); resp.StatusCode != 204 || resp.Header.Get("Range") != "0-999" {
			t.Fatalf("after a cut chunk: %d %q", resp.StatusCode, resp.Header.Get("Range"))
		}
		if resp, body := x.do("PUT", loc+"?digest="+d, nil); resp.StatusCode != 400 || code(body) != codeDigestInvalid {
			t.Fatalf("finish of a short upload: %d %s", resp.StatusCode, body)
		}
		if resp, _ := x.do("HEAD", "/v2/acme/app/blobs/"+d, nil); resp.StatusCode != 404 {
			t.Fatalf("short upload visible: %d", resp.StatusCode)
		}
	})
}

func TestManifests(t *testing.T) {
	x := newHarness(t, nil, Options{})
	amd := x.image("acme/app", []byte("amd64 layer"))
	arm := x.image("acme/app", []byte("arm64 layer"))
	for _, m := range [][]byte{amd, arm} {
		if resp, body := x.putManifest("acme/app", sha(m), m, mtOCIManifest); resp.StatusCode != 201 {
			t.Fatalf("put: %d %s", resp.StatusCode, body)
		}
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIIndex, "manifests": []any{
		map[string]any{"mediaType": mtOCIManifest, "digest": sha(arm), "size": len(arm), "platform": map[string]string{"os": "linux", "architecture": "arm64"}},
		map[string]any{"mediaType": mtOCIManifest, "digest": sha(amd), "size": len(amd), "platform": map[string]string{"os": "linux", "architecture": "amd64"}},
	}})
	if resp, body := x.putManifest("acme/app", "multi", idx, mtOCIIndex); resp.StatusCode != 201 || resp.Header.Get("Docker-Content-Digest") != sha(idx) {
		t.Fatalf("put index: %d %s", resp.StatusCode, body)
	}
	neg := []struct {
		name, accept, digest string
		status               int
	}{
		{"index accepted", mtOCIIndex + ", " + mtOCIManifest, sha(idx), 200},
		{"no accept", "", sha(idx), 200},
		{"platform manifest for a client without indexes", mtOCIManifest, sha(amd), 200},
		{"nothing acceptable", mtDockerManifest, "", 404},
	}
	for _, tc := range neg {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := x.do("GET", "/v2/acme/app/manifests/multi", nil, "Accept", tc.accept)
			if resp.StatusCode != tc.status || resp.Header.Get("Docker-Content-Digest") != tc.digest {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
			}
		})
	}
	// A signature-like artifact with a subject, and the referrers API.
	empty := x.pushBlob("acme/app", []byte("{}"))
	sig, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "artifactType": "application/vnd.example.sig",
		"config":  map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
		"layers":  []any{},
		"subject": map[string]any{"mediaType": mtOCIManifest, "digest": sha(amd), "size": len(amd)}})
	resp, body := x.putManifest("acme/app", sha(sig), sig, mtOCIManifest)
	if resp.StatusCode != 201 || resp.Header.Get("OCI-Subject") != sha(amd) {
		t.Fatalf("put with subject: %d %q %s", resp.StatusCode, resp.Header.Get("OCI-Subject"), body)
	}
	for _, tc := range []struct {
		query string
		n     int
	}{{"", 1}, {"?artifactType=application/vnd.example.sig", 1}, {"?artifactType=other", 0}} {
		resp, body := x.do("GET", "/v2/acme/app/referrers/"+sha(amd)+tc.query, nil)
		var ix Manifest
		json.Unmarshal(body, &ix)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != mtOCIIndex || len(ix.Manifests) != tc.n {
			t.Fatalf("referrers%s: %d %s", tc.query, resp.StatusCode, body)
		}
	}
	// Tags: lexical order, n/last pagination with Link.
	for _, tg := range []string{"b", "a", "c"} {
		x.putManifest("acme/app", tg, amd, mtOCIManifest)
	}
	resp, body = x.do("GET", "/v2/acme/app/tags/list?n=2", nil)
	if string(body) != `{"name":"acme/app","tags":["a","b"]}` || resp.Header.Get("Link") != `</v2/acme/app/tags/list?last=b&n=2>; rel="next"` {
		t.Fatalf("page 1: %s %q", body, resp.Header.Get("Link"))
	}
	resp, body = x.do("GET", "/v2/acme/app/tags/list?n=2&last=b", nil)
	if string(body) != `{"name":"acme/app","tags":["c","multi"]}` || resp.Header.Get("Link") != "" {
		t.Fatalf("page 2: %s %q", body, resp.Header.Get("Link"))
	}
	// Catalog and deletes.
	x.putManifest("acme/team/tool", "v1", x.image("acme/team/tool", []byte("t")), mtOCIManifest)
	if _, body := x.do("GET", "/v2/_catalog", nil); string(body) != `{"repositories":["acme/app","acme/team/tool"]}` {
		t.Fatalf("catalog: %s", body)
	}
	if resp, _ := x.do("DELETE", "/v2/acme/app/manifests/a", nil); resp.StatusCode != 202 {
		t.Fatalf("delete tag: %d", resp.StatusCode)
	}
	if resp, _ := x.do("DELETE", "/v2/acme/app/manifests/"+sha(amd), nil); resp.StatusCode != 202 {
		t.Fatalf("delete manifest: %d", resp.StatusCode)
	}
	for _, p := range []string{"a", "b", sha(amd)} {
		if resp, _ := x.do("HEAD", "/v2/acme/app/manifests/"+p, nil); resp.StatusCode != 404 {
			t.Fatalf("%s after delete: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := x.do("DELETE", "/v2/acme/app/blobs/"+empty, nil); resp.StatusCode != 202 {
		t.Fatalf("delete blob: %d", resp.StatusCode)
	}
	if resp, _ := x.do("HEAD", "/v2/acme/app/blobs/"+empty, nil); resp.StatusCode != 404 {
		t.Fatalf("blob after delete: %d", resp.StatusCode)
	}
}

func TestMount(t *testing.T) {
	x := newHarness(t, nil, Options{})
	d := x.pushBlob("acme/src", []byte("shared layer"))
	ctx := context.Background()
	other, err := x.auth.CreateUser(ctx, auth.NewUser{Email: "o@example.test", Username: "other", Password: "other-password-123"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.auth.CreateOrg(ctx, auth.Org{Name: "theirs"}, other.ID); err != nil {
		t.Fatal(err)
	}
	// The admin may read acme/src: mounted.
	resp, _ := x.do("POST", "/v2/acme/dst/blobs/uploads/?mount="+d+"&from=acme/src", nil)
	if resp.StatusCode != 201 || resp.Header.Get("Docker-Content-Digest") != d {
		t.Fatalf("mount: %d", resp.StatusCode)
	}
	// Another user may not read acme/src: a session, never a 401 or 400.
	resp, body := x.do("POST", "/v2/theirs/app/blobs/uploads/?mount="+d+"&from=acme/src", nil, "Authorization", "Basic "+basic("other", "other-password-123"))
	if resp.StatusCode != 202 || resp.Header.Get("Location") == "" {
		t.Fatalf("mount without read: %d %s", resp.StatusCode, body)
	}
	if resp, _ := x.do("HEAD", "/v2/theirs/app/blobs/"+d, nil, "Authorization", "Basic "+basic("other", "other-password-123")); resp.StatusCode != 404 {
		t.Fatalf("blob leaked by mount: %d", resp.StatusCode)
	}
	// The catalog lists only what the caller may read.
	x.putManifest("acme/src", "v1", x.image("acme/src", []byte("l")), mtOCIManifest)
	if _, body := x.do("GET", "/v2/_catalog", nil, "Authorization", "Basic "+basic("other", "other-password-123")); string(body) != `{"repositories":[]}` {
		t.Fatalf("catalog of another user: %s", body)
	}
	if _, body := x.do("GET", "/v2/_catalog", nil); string(body) != `{"repositories":["acme/src"]}` {
		t.Fatalf("catalog of the admin: %s", body)
	}
	// The OAuth2 password grant some clients post to the token endpoint.
	resp, body = x.do("POST", "/v2/token", strings.NewReader("grant_type=password&username=other&password=other-password-123&service=x&scope=repository:theirs/app:pull,push"),
		"Authorization", "", "Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		Token string `json:"access_token"`
	}
	json.Unmarshal(body, &tok)
	if _, access, err := x.auth.VerifyRegistryToken(context.Background(), tok.Token, strings.TrimPrefix(x.url, "http://")); resp.StatusCode != 200 || err != nil || len(access) != 1 || strings.Join(access[0].Actions, ",") != "pull,push" {
		t.Fatalf("password grant: %d %s %v %+v", resp.StatusCode, body, err, access)
	}
}
