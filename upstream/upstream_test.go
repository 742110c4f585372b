package upstream_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/deploy/testkit"
	"entrepot/hosted/fault"
	"entrepot/upstream"
)

func newClient(t *testing.T, base string, opts upstream.Options) *upstream.Client {
	t.Helper()
	c, err := upstream.New("test", base, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fetch does a Get and reads the whole body, returning the first error.
func fetch(c *upstream.Client, url string, r upstream.Request) (*upstream.Response, []byte, error) {
	resp, err := c.Get(context.Background(), url, r)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func wantKind(t *testing.T, err error, k fault.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	if got := fault.KindOf(err); got != k {
		t.Fatalf("got %v error (%v), want %v", got, err, k)
	}
}

func TestStatusMapping(t *testing.T) {
	body := []byte(`{"name":"left-pad"}`)
	cases := []struct {
		name  string
		route testkit.Route
		req   upstream.Request
		want  fault.Kind // Internal means: no error
		hits  int
	}{
		{name: "ok", route: testkit.Route{Body: body}, hits: 1},
		{name: "not modified", route: testkit.Route{Body: body, ETag: `"v1"`}, req: upstream.Request{IfNoneMatch: `"v1"`}, hits: 1},
		{name: "404", route: testkit.Route{Status: 404}, want: fault.NotFound, hits: 1},
		{name: "410", route: testkit.Route{Status: 410}, want: fault.NotFound, hits: 1},
		{name: "401", route: testkit.Route{Status: 401}, want: fault.Upstream, hits: 1},
		{name: "403", route: testkit.Route{Status: 403}, want: fault.Upstream, hits: 1},
		{name: "429 retried", route: testkit.Route{Status: 429}, want: fault.Upstream, hits: 3},
		{name: "500 retried", route: testkit.Route{Status: 500}, want: fault.Upstream, hits: 3},
		{name: "503 retried", route: testkit.Route{Status: 503}, want: fault.Upstream, hits: 3},
		{name: "reset retried", route: testkit.Route{Reset: true}, want: fault.Upstream, hits: 3},
		{name: "unexpected 3xx", route: testkit.Route{Status: 300}, want: fault.Upstream, hits: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := testkit.NewUpstream(t)
			u.Set("/p", tc.route)
			c := newClient(t, u.URL, upstream.Options{})
			resp, b, err := fetch(c, u.URL+"/p", tc.req)
			if tc.want != fault.Internal {
				wantKind(t, err, tc.want)
			} else if err != nil {
				t.Fatal(err)
			}
			if tc.name == "ok" && !bytes.Equal(b, body) {
				t.Errorf("body %q, want %q", b, body)
			}
			if tc.name == "not modified" && (!resp.NotModified || len(b) != 0) {
				t.Errorf("NotModified=%v body=%q, want a 304 without body", resp.NotModified, b)
			}
			// Retries happen within one Get; the transport may add its own
			// retry of a reset on a reused connection, so resets are a floor.
			if got := u.Hits("/p"); got != tc.hits && !(tc.route.Reset && got >= tc.hits) {
				t.Errorf("%d upstream hits, want %d", got, tc.hits)
			}
		})
	}
}

func TestNotFoundMessage(t *testing.T) {
	u := testkit.NewUpstream(t)
	c := newClient(t, u.URL, upstream.Options{})
	_, err := c.Get(context.Background(), "http://user:secret@"+strings.TrimPrefix(u.URL, "http://")+"/missing", upstream.Request{})
	wantKind(t, err, fault.NotFound)
	msg := fault.Message(err)
	if !strings.Contains(msg, "test: ") || !strings.Contains(msg, "/missing not found upstream") || strings.Contains(err.Error(), "secret") {
		t.Errorf("message %q (error %q): want the name and the URL without userinfo", msg, err)
	}
}

func TestRetries(t *testing.T) {
	body := []byte("ok")
	cases := []struct {
		name    string
		retries int
		fails   []testkit.Route
		wantErr fault.Kind // Internal: success
		hits    int
	}{
		{"500 twice then ok", 0, []testkit.Route{{Status: 500}, {Status: 500}}, fault.Internal, 3},
		{"429 then ok", 0, []testkit.Route{{Status: 429, Header: map[string]string{"Retry-After": "0"}}}, fault.Internal, 2},
		{"500 twice, one retry", 1, []testkit.Route{{Status: 500}, {Status: 500}}, fault.Upstream, 2},
		{"no retries", -1, []testkit.Route{{Status: 502}}, fault.Upstream, 1},
		{"404 is final", 0, []testkit.Route{{Status: 404}}, fault.NotFound, 1},
		{"401 is final", 0, []testkit.Route{{Status: 401}}, fault.Upstream, 1},
		{"long Retry-After is final", 0, []testkit.Route{{Status: 503, Header: map[string]string{"Retry-After": "3600"}}}, fault.Upstream, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := testkit.NewUpstream(t)
			u.Once("/p", tc.fails...)
			u.Handle("/p", body)
			c := newClient(t, u.URL, upstream.Options{Retries: tc.retries})
			_, b, err := fetch(c, u.URL+"/p", upstream.Request{})
			if tc.wantErr != fault.Internal {
				wantKind(t, err, tc.wantErr)
			} else if err != nil || !bytes.Equal(b, body) {
				t.Fatalf("got %q, %v; want %q", b, err, body)
			}
			if got := u.Hits("/p"); got != tc.hits {
				t.Errorf("%d upstream hits, want %d", got, tc.hits)
			}
		})
	}
}

func TestRetryRespectsContext(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Set("/p", testkit.Route{Status: 500})
	c := newClient(t, u.URL, upstream.Options{Retries: 100})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for u.Hits("/p") < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Get(ctx, u.URL+"/p", upstream.Request{})
	wantKind(t, err, fault.Unavailable)
}

func TestHeaderTimeout(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Set("/slow", testkit.Route{Body: []byte("x"), Delay: time.Minute})
	c := newClient(t, u.URL, upstream.Options{Timeout: 20 * time.Millisecond, Retries: -1})
	_, err := c.Get(context.Background(), u.URL+"/slow", upstream.Request{})
	wantKind(t, err, fault.Upstream)
}

func TestBodies(t *testing.T) {
	small := bytes.Repeat([]byte("a"), 500)
	big := bytes.Repeat([]byte("b"), 100<<10) // sent chunked: no length up front
	cases := []struct {
		name      string
		route     testkit.Route
		maxSize   int64 // client's
		reqMax    int64
		wantKind  fault.Kind // Internal: success
		atGet     bool       // the error comes from Get itself, before a body
		wantBytes []byte
	}{
		{name: "whole", route: testkit.Route{Body: big}, wantKind: fault.Internal, wantBytes: big},
		{name: "truncated", route: testkit.Route{Body: small, Truncate: 100}, wantKind: fault.Upstream},
		{name: "truncated large", route: testkit.Route{Body: big, Truncate: 50 << 10}, wantKind: fault.Upstream},
		{name: "announced over client cap", route: testkit.Route{Body: small}, maxSize: 100, wantKind: fault.TooLarge, atGet: true},
		{name: "announced over request cap", route: testkit.Route{Body: small}, reqMax: 100, wantKind: fault.TooLarge, atGet: true},
		{name: "streamed over cap", route: testkit.Route{Body: big}, maxSize: 1000, wantKind: fault.TooLarge},
		{name: "exactly the cap", route: testkit.Route{Body: small}, reqMax: 500, wantKind: fault.Internal, wantBytes: small},
		{name: "request cap beats client cap", route: testkit.Route{Body: small}, maxSize: 100, reqMax: 1000, wantKind: fault.Internal, wantBytes: small},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := testkit.NewUpstream(t)
			u.Set("/f", tc.route)
			c := newClient(t, u.URL, upstream.Options{MaxSize: tc.maxSize})
			resp, err := c.Get(context.Background(), u.URL+"/f", upstream.Request{MaxSize: tc.reqMax})
			if tc.atGet {
				wantKind(t, err, tc.wantKind)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if tc.wantKind != fault.Internal {
				wantKind(t, err, tc.wantKind)
				return
			}
			if err != nil || !bytes.Equal(b, tc.wantBytes) {
				t.Fatalf("read %d bytes, %v; want %d bytes", len(b), err, len(tc.wantBytes))
			}
		})
	}
}

func TestCredentialsOnlyToOwnHost(t *testing.T) {
	cases := []struct {
		name string
		opts upstream.Options
		want string
	}{
		{"bearer", upstream.Options{Token: "t0ken"}, "Bearer t0ken"},
		{"basic", upstream.Options{Username: "u", Password: "p"}, "Basic dTpw"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			own, other := testkit.NewUpstream(t), testkit.NewUpstream(t)
			own.Handle("/a", []byte("a"))
			other.Handle("/b", []byte("b"))
			own.Set("/redirect", testkit.Route{Status: http.StatusFound, Header: map[string]string{"Location": other.URL + "/b"}})
			// Another host is reached only when allowed (guard_test.go).
			tc.opts.AllowedHosts = []string{strings.TrimPrefix(other.URL, "http://")}
			c := newClient(t, own.URL, tc.opts)

			for _, url := range []string{own.URL + "/a", other.URL + "/b", own.URL + "/redirect"} {
				if _, _, err := fetch(c, url, upstream.Request{}); err != nil {
					t.Fatalf("%s: %v", url, err)
				}
			}
			if got := own.Header("/a").Get("Authorization"); got != tc.want {
				t.Errorf("own host got Authorization %q, want %q", got, tc.want)
			}
			if got := own.Header("/redirect").Get("Authorization"); got != tc.want {
				t.Errorf("own host (redirecting) got Authorization %q, want %q", got, tc.want)
			}
			if other.Hits("/b") != 2 {
				t.Fatalf("other host hit %d times, want 2", other.Hits("/b"))
			}
			if got := other.Header("/b").Get("Authorization"); got != "" {
				t.Errorf("other host got Authorization %q, want none", got)
			}
		})
	}
}

func TestCredentialsFromBaseURL(t *testing.T) {
	u := testkit.NewUpstream(t)
	u.Handle("/a", []byte("a"))
	c := newClient(t, "http://u:p@"+strings.TrimPrefix(u.URL, "http://"), upstream.Options{})
	if strings.Contains(c.Base().String(), "p@") {
		t.Errorf("Base() %s keeps the userinfo", c.Base())
	}
	if _, _, err := fetch(c, u.URL+"/a", upstream.Request{}); err != nil {
		t.Fatal(err)
	}
	if got := u.Header("/a").Get("Authorization"); got != "Basic dTpw" {
		t.Errorf("Authorization %q, want Basic dTpw", got)
	}
}

func TestConditional(t *testing.T) {
	const lm = "Mon, 02 Jan 2006 15:04:05 GMT"
	cases := []struct {
		name  string
		route testkit.Route
		req   upstream.Request
		want  bool // NotModified
	}{
		{"etag matches", testkit.Route{ETag: `"a"`}, upstream.Request{IfNoneMatch: `"a"`}, true},
		{"etag differs", testkit.Route{ETag: `"b"`}, upstream.Request{IfNoneMatch: `"a"`}, false},
		{"not modified since", testkit.Route{LastModified: lm}, upstream.Request{IfModifiedSince: lm}, true},
		{"modified since", testkit.Route{LastModified: lm}, upstream.Request{IfModifiedSince: "Sun, 01 Jan 2006 00:00:00 GMT"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := testkit.NewUpstream(t)
			tc.route.Body = []byte("doc")
			u.Set("/m", tc.route)
			c := newClient(t, u.URL, upstream.Options{})
			resp, b, err := fetch(c, u.URL+"/m", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.NotModified != tc.want {
				t.Fatalf("NotModified=%v, want %v", resp.NotModified, tc.want)
			}
			if !tc.want && (string(b) != "doc" || resp.ETag != tc.route.ETag || resp.LastModified != tc.route.LastModified) {
				t.Errorf("got %q etag %q lm %q", b, resp.ETag, resp.LastModified)
			}
		})
	}
}

func TestURLsAndResolve(t *testing.T) {
	if _, err := upstream.New("x", "ftp://example.org", upstream.Options{}); !fault.Is(err, fault.Invalid) {
		t.Errorf("ftp base: %v, want Invalid", err)
	}
	c := newClient(t, "https://repo.example.org/maven2", upstream.Options{})
	for _, tc := range []struct{ ref, want string }{
		{"org/x/1.0/x.pom", "https://repo.example.org/maven2/org/x/1.0/x.pom"},
		{"/root", "https://repo.example.org/root"},
		{"https://cdn.example.org/f", "https://cdn.example.org/f"},
	} {
		got, err := c.Resolve(tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
	for _, bad := range []string{"relative/path", "file:///etc/passwd", "://"} {
		if _, err := c.Get(context.Background(), bad, upstream.Request{}); !fault.Is(err, fault.Invalid) {
			t.Errorf("Get(%q): %v, want Invalid", bad, err)
		}
	}
}

func TestProbeAndHealth(t *testing.T) {
	u := testkit.NewUpstream(t) // the root is a 404: reachable all the same
	c := newClient(t, u.URL, upstream.Options{})
	if ok, checked, _ := c.Health(); ok || !checked.IsZero() {
		t.Fatalf("Health before any probe: ok=%v checked=%v", ok, checked)
	}
	if err := c.Probe(context.Background()); err != nil {
		t.Fatalf("probe of a 404 root: %v", err)
	}
	if ok, _, msg := c.Health(); !ok || msg != "" {
		t.Fatalf("Health after good probe: %v %q", ok, msg)
	}
	u.Set("/", testkit.Route{Status: 502})
	wantKind(t, c.Probe(context.Background()), fault.Upstream)
	u.Set("/", testkit.Route{})
	u.Down()
	wantKind(t, c.Probe(context.Background()), fault.Upstream)
	if ok, checked, msg := c.Health(); ok || checked.IsZero() || msg == "" {
		t.Fatalf("Health after failed probe: ok=%v checked=%v msg=%q", ok, checked, msg)
	}
	u.Up()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, time.Hour); close(done) }()
	for ok, _, _ := c.Health(); !ok; ok, _, _ = c.Health() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

func TestMetricsSharedRegisterer(t *testing.T) {
	reg := prometheus.NewRegistry()
	u := testkit.NewUpstream(t)
	u.Handle("/a", []byte("a"))
	a := newClient(t, u.URL, upstream.Options{Registerer: reg, Retries: -1})
	b, err := upstream.New("other", u.URL, upstream.Options{Registerer: reg, Retries: -1})
	if err != nil {
		t.Fatalf("second client on one registerer: %v", err)
	}
	fetch(a, u.URL+"/a", upstream.Request{})
	fetch(b, u.URL+"/a", upstream.Request{})
	fetch(b, u.URL+"/missing", upstream.Request{})
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"entrepot_upstream_requests_total", map[string]string{"upstream": "test", "outcome": "ok"}, 1},
		{"entrepot_upstream_requests_total", map[string]string{"upstream": "other", "outcome": "ok"}, 1},
		{"entrepot_upstream_requests_total", map[string]string{"upstream": "other", "outcome": "error"}, 1},
		{"entrepot_upstream_errors_total", map[string]string{"upstream": "other", "kind": "not_found"}, 1},
	} {
		if got := counter(t, reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// counter reads one labelled counter from reg; absent counts as 0.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
