// Upstream is a programmable public registry: an httptest server that
// serves registered paths, counts every request and misbehaves on demand
// (slow answers, resets, truncated or corrupt bodies, an outage). It knows
// nothing of any protocol; a test registers the bytes a registry would
// serve at a path. The package doc lives in server.go.

package testkit

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A Route is how Upstream answers requests for one path.
type Route struct {
	// Status is the response status; 0 means 200.
	Status int
	Body   []byte
	// ContentType, ETag and LastModified are sent as their headers when set.
	// With ETag or LastModified set, a matching If-None-Match or
	// If-Modified-Since gets 304 Not Modified.
	ContentType  string
	ETag         string
	LastModified string
	// Header holds further response headers (Location for a redirect, ...).
	Header map[string]string
	// Delay holds the answer back; a client that gives up ends the wait.
	Delay time.Duration
	// Reset closes the connection without answering.
	Reset bool
	// Truncate, when > 0, announces the full body in Content-Length but
	// sends only its first Truncate bytes, then closes the connection.
	Truncate int
	// Corrupt flips one byte in the middle of the body: the length is
	// right, the digest is not.
	Corrupt bool
}

// Upstream is a programmable HTTP upstream. Its methods are safe for
// concurrent use, also while requests are being served.
type Upstream struct {
	// URL is the base URL, "http://127.0.0.1:<port>", without a slash.
	URL string

	srv *httptest.Server

	mu     sync.Mutex
	routes map[string]Route
	once   map[string][]Route
	hits   map[string]int
	total  int
	header map[string]http.Header
	down   bool
}

// NewUpstream starts an Upstream that t closes when it ends. Every path is
// unknown (404) until registered.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{
		routes: map[string]Route{},
		once:   map[string][]Route{},
		hits:   map[string]int{},
		header: map[string]http.Header{},
	}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL
	t.Cleanup(u.Close)
	return u
}

// Close stops the server; NewUpstream arranges it through t.Cleanup.
func (u *Upstream) Close() { u.srv.Close() }

// Handle serves body with status 200 at path; edits adjust the Route
// before it is set.
func (u *Upstream) Handle(path string, body []byte, edits ...func(*Route)) {
	r := Route{Body: body}
	for _, e := range edits {
		e(&r)
	}
	u.Set(path, r)
}

// Set replaces the route of path. path is matched against the request's
// URL path only; the query is ignored.
func (u *Upstream) Set(path string, r Route) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.routes[path] = r
}

// Once queues one-shot routes for path: each answers one request, in
// order, before the route given to Set or Handle answers again (a path
// with neither is 404). It is how a test scripts "fail twice, then work".
func (u *Upstream) Once(path string, rs ...Route) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.once[path] = append(u.once[path], rs...)
}

// Hits is the number of requests for path so far, failed ones included.
func (u *Upstream) Hits(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[path]
}

// TotalHits is the number of requests for any path so far.
func (u *Upstream) TotalHits() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.total
}

// Header returns the headers of the last request for path, or nil.
func (u *Upstream) Header(path string) http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.header[path].Clone()
}

// Down makes every request fail with a connection reset, as an unreachable
// upstream would, until Up. Requests are still counted.
func (u *Upstream) Down() { u.setDown(true) }

// Up ends Down.
func (u *Upstream) Up() { u.setDown(false) }

func (u *Upstream) setDown(down bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.down = down
}

// route counts the request and picks its answer.
func (u *Upstream) route(r *http.Request) (rt Route, known, down bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := r.URL.Path
	u.hits[p]++
	u.total++
	u.header[p] = r.Header.Clone()
	if q := u.once[p]; len(q) > 0 {
		u.once[p] = q[1:]
		return q[0], true, u.down
	}
	rt, known = u.routes[p]
	return rt, known, u.down
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	rt, known, down := u.route(r)
	if down || rt.Reset {
		reset(w)
		return
	}
	if !known {
		http.NotFound(w, r)
		return
	}
	if rt.Delay > 0 {
		t := time.NewTimer(rt.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	h := w.Header()
	for k, v := range rt.Header {
		h.Set(k, v)
	}
	if rt.ContentType != "" {
		h.Set("Content-Type", rt.ContentType)
	}
	if rt.ETag != "" {
		h.Set("ETag", rt.ETag)
	}
	if rt.LastModified != "" {
		h.Set("Last-Modified", rt.LastModified)
	}
	status := rt.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusOK && notModified(r, rt) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := rt.Body
	if rt.Corrupt && len(body) > 0 {
		body = bytes.Clone(body)
		body[len(body)/2] ^= 0xff
	}
	if rt.Truncate > 0 && rt.Truncate < len(body) {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		w.Write(body[:rt.Truncate])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		// The server closes the connection mid-body, without a log line.
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(status)
	w.Write(body)
}

// notModified applies the conditional request headers to rt; If-None-Match
// takes precedence over If-Modified-Since, as RFC 9110 says.
func notModified(r *http.Request, rt Route) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if rt.ETag == "" {
			return false
		}
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
			if tag == "*" || tag == strings.TrimPrefix(rt.ETag, "W/") {
				return true
			}
		}
		return false
	}
	ims := r.Header.Get("If-Modified-Since")
	if ims == "" || rt.LastModified == "" {
		return false
	}
	since, err1 := http.ParseTime(ims)
	modified, err2 := http.ParseTime(rt.LastModified)
	return err1 == nil && err2 == nil && !modified.After(since)
}

// reset closes the connection under the request with an RST, without an
// answer.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST instead of FIN
	}
	conn.Close()
}
