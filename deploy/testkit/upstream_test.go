package testkit_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// get does one request with a fresh connection, so that the transport
// never replays it, and returns the status and the body read until the
// first error.
func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestRoutes(t *testing.T) {
	const lm = "Mon, 02 Jan 2006 15:04:05 GMT"
	body := []byte("0123456789abcdef")
	cases := []struct {
		name     string
		route    testkit.Route
		header   map[string]string
		status   int
		body     []byte
		readFail bool
	}{
		{name: "plain", route: testkit.Route{Body: body}, status: 200, body: body},
		{name: "status", route: testkit.Route{Status: 503, Body: []byte("down")}, status: 503, body: []byte("down")},
		{name: "etag match", route: testkit.Route{Body: body, ETag: `"x"`}, header: map[string]string{"If-None-Match": `W/"x"`}, status: 304, body: []byte{}},
		{name: "etag miss", route: testkit.Route{Body: body, ETag: `"x"`}, header: map[string]string{"If-None-Match": `"y"`}, status: 200, body: body},
		{name: "not modified since", route: testkit.Route{Body: body, LastModified: lm}, header: map[string]string{"If-Modified-Since": lm}, status: 304, body: []byte{}},
		{name: "modified since", route: testkit.Route{Body: body, LastModified: lm}, header: map[string]string{"If-Modified-Since": "Sun, 01 Jan 2006 00:00:00 GMT"}, status: 200, body: body},
		{name: "truncate", route: testkit.Route{Body: body, Truncate: 4}, status: 200, body: body[:4], readFail: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := testkit.NewUpstream(t)
			u.Set("/p", tc.route)
			resp, b, err := get(t, u.URL+"/p", tc.header)
			if resp == nil {
				t.Fatal(err)
			}
			if tc.readFail != (err != nil) {
				t.Fatalf("read error %v, want one: %v", err, tc.readFail)
			}
			if resp.StatusCode != tc.status || !bytes.Equal(b, tc.body) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, b, tc.status, tc.body)
			}
			if tc.route.Truncate > 0 && resp.ContentLength != int64(len(body)) {
				t.Fatalf("Content-Length %d, want the full %d", resp.ContentLength, len(body))
			}
			if u.Hits("/p") != 1 || u.TotalHits() != 1 {
				t.Fatalf("hits %d / %d, want 1", u.Hits("/p"), u.TotalHits())
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	u := testkit.NewUpstream(t)
	body := []byte("0123456789")
	u.Handle("/c", body, func(r *testkit.Route) { r.Corrupt = true })
	_, b, err := get(t, u.URL+"/c", nil)
	if err != nil || len(b) != len(body) || bytes.Equal(b, body) {
		t.Fatalf("got %q, %v; want as many bytes as %q, but different", b, err, body)
	}
	if string(body) != "0123456789" {
		t.Fatal("Corrupt changed the registered body")
	}
}

func TestUnknownOnceAndHeaders(t *testing.T) {
	u := testkit.NewUpstream(t)
	if resp, _, _ := get(t, u.URL+"/nothing", nil); resp.StatusCode != 404 {
		t.Fatalf("unknown path: %d, want 404", resp.StatusCode)
	}
	u.Once("/seq", testkit.Route{Status: 500}, testkit.Route{Status: 502})
	u.Handle("/seq", []byte("ok"))
	for _, want := range []int{500, 502, 200, 200} {
		resp, _, err := get(t, u.URL+"/seq", map[string]string{"X-Test": "1"})
		if err != nil || resp.StatusCode != want {
			t.Fatalf("got %v %v, want %d", resp, err, want)
		}
	}
	if u.Hits("/seq") != 4 || u.TotalHits() != 5 || u.Header("/seq").Get("X-Test") != "1" {
		t.Fatalf("hits %d, total %d, header %v", u.Hits("/seq"), u.TotalHits(), u.Header("/seq"))
	}
}

func TestResetAndDown(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Set("/r", testkit.Route{Reset: true})
	if _, _, err := get(t, u.URL+"/r", nil); err == nil {
		t.Fatal("Reset route answered")
	}
	u.Handle("/ok", []byte("ok"))
	u.Down()
	if _, _, err := get(t, u.URL+"/ok", nil); err == nil {
		t.Fatal("Down upstream answered")
	}
	u.Up()
	if resp, b, err := get(t, u.URL+"/ok", nil); err != nil || resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("after Up: %v %q %v", resp, b, err)
	}
	if u.Hits("/ok") != 2 {
		t.Fatalf("hits %d, want failed requests counted too", u.Hits("/ok"))
	}
}

func TestDelayEndsWithClient(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Set("/slow", testkit.Route{Body: []byte("late"), Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL+"/slow", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("an hour's delay answered")
	}
	// The test ending (and Close waiting for handlers) proves the handler
	// returned when the client left.
}
