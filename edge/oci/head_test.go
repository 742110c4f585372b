package oci

import (
	"bytes"
	"strconv"
	"testing"

	"entrepot/upstream"
)

// TestHeadUncachedBlob: a HEAD of a mirrored blob not cached yet asks the
// upstream with one HEAD and pulls no byte of it, and answers the
// blob's length and digest; a HEAD of a cached blob stays off the
// upstream; a GET after the HEAD fills as usual.
func TestHeadUncachedBlob(t *testing.T) {
	f := newFakeRegistry(t)
	layer := bytes.Repeat([]byte("a layer checked before it is pulled "), 1000)
	path := "library/nginx/blobs/" + sha(layer)
	f.put(path, layer, "application/octet-stream")
	up, err := upstream.New("oci/hub", f.srv.URL+"/?official=library", upstream.Options{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := newHarness(t, map[string]*upstream.Client{"hub": up}, Options{})
	url := "/v2/hub/nginx/blobs/" + sha(layer)

	head := func(what string) {
		t.Helper()
		resp, _ := x.do("HEAD", url, nil, "Authorization", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(layer)) || resp.Header.Get("Docker-Content-Digest") != sha(layer) {
			t.Fatalf("HEAD of %s blob: %d, Content-Length %q, Docker-Content-Digest %q", what, resp.StatusCode, resp.Header.Get("Content-Length"), resp.Header.Get("Docker-Content-Digest"))
		}
	}
	head("an uncached")
	if h, g, n := f.count("HEAD "+path), f.count("GET "+path), f.sent.Load(); h != 1 || g != 0 || n != 0 {
		t.Fatalf("HEAD of an uncached blob: upstream saw %d HEADs, %d GETs, sent %d bytes", h, g, n)
	}
	if resp, body := x.do("GET", url, nil, "Authorization", ""); resp.StatusCode != 200 || !bytes.Equal(body, layer) {
		t.Fatalf("GET after HEAD: %d, %d bytes", resp.StatusCode, len(body))
	}
	if g, n := f.count("GET "+path), f.sent.Load(); g != 1 || n != int64(len(layer)) {
		t.Fatalf("GET after HEAD: %d upstream GETs, %d bytes", g, n)
	}
	head("a cached")
	if h, g := f.count("HEAD "+path), f.count("GET "+path); h != 1 || g != 1 {
		t.Fatalf("HEAD of a cached blob went upstream: %d HEADs, %d GETs", h, g)
	}

	// An unknown blob is BLOB_UNKNOWN with a HEAD too, still without a GET.
	missing := sha([]byte("nowhere"))
	if resp, _ := x.do("HEAD", "/v2/hub/nginx/blobs/"+missing, nil, "Authorization", ""); resp.StatusCode != 404 {
		t.Fatalf("HEAD of a blob the upstream lacks: %d", resp.StatusCode)
	}
	if g := f.count("GET library/nginx/blobs/" + missing); g != 0 {
		t.Fatalf("HEAD of a missing blob made %d upstream GETs", g)
	}
}
