// Package upstream is Entrepot's HTTP client towards public registries.
//
// One Client serves one configured upstream (a public npm registry, a PyPI index,
// a Maven mirror, ...): a pooled transport, a header timeout per attempt,
// retries with backoff for failures that happen before any body is
// returned, conditional requests, the upstream's own credentials and
// capped, truncation-aware bodies. Every error carries a hosted/fault kind:
// an upstream's 404 is NotFound, its 401, 5xx or timeout is Upstream (an
// upstream's 401 is never passed on as ours), an oversized body TooLarge.
//
// The client knows no protocol: callers build the URLs and parse the bytes.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/hosted/fault"
)

// Defaults for Options' zero values.
const (
	DefaultTimeout = 30 * time.Second
	DefaultRetries = 2
	DefaultMaxSize = 2 << 30 // 2 GiB
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// Timeout bounds one attempt until the response headers arrive
	// (default 30s). Reading the body is bounded by the caller's ctx only:
	// a large artifact may take longer than any header timeout.
	Timeout time.Duration
	// Retries is how many times a failed attempt is repeated: 0 means the
	// default (2), a negative value none.
	Retries int
	// MaxSize caps response bodies unless a Request sets its own cap
	// (default 2 GiB).
	MaxSize int64
	// Username and Password (Basic) or Token (Bearer) are the upstream's
	// credentials. They are sent only to the base URL's own scheme and host,
	// never to another host a URL or a redirect points at. Userinfo in the
	// base URL is used when Username is empty.
	Username, Password string
	Token              string
	// UserAgent is sent with every request (default "entrepot").
	UserAgent string
	// Registerer receives the client's metrics; nil means none.
	Registerer prometheus.Registerer
	// AllowedHosts are the hosts, beside the base URL's own host and port,
	// that URLs and redirects may point at: "host" (any port),
	// "host:port" or "*.domain" (its subdomains). Any other is refused
	// (guard.go), and these are reached at public addresses only, unless
	// the base itself is on the same kind of private network.
	AllowedHosts []string
	// Transport replaces the tuned default transport (for tests); the
	// address check at dial time is then the transport's business.
	Transport http.RoundTripper
}

// Request holds the optional parts of a GET.
type Request struct {
	// Method is "" (GET), "HEAD", which returns the headers only (the
	// Response's Body is then empty), or "POST", which sends Body (for
	// the few endpoints that take one, such as npm's audit; a POST sent
	// here must be safe to repeat: it is retried like a GET).
	Method string
	// Body is a POST's body, of type ContentType.
	Body            []byte
	ContentType     string
	Accept          string
	IfNoneMatch     string // an ETag from a previous response
	IfModifiedSince string // a Last-Modified from a previous response
	// MaxSize caps this body; 0 means the Client's cap.
	MaxSize int64
	// Header holds further request headers (an Authorization obtained from
	// a token service, say). Unlike the configured credentials, they go
	// with the request wherever it is sent; the standard client drops
	// Authorization on a redirect to another domain.
	Header http.Header
}

// Response is a successful answer: a 2xx, or a 304 when NotModified.
// The caller must close Body, which is never nil.
type Response struct {
	Status       int
	NotModified  bool
	Header       http.Header
	ContentType  string
	ETag         string
	LastModified string
	// ContentLength is the announced size, -1 when unknown.
	ContentLength int64
	// Body streams the response. Reading it fails with a TooLarge error as
	// soon as the cap is passed, and with an Upstream error, not io.EOF,
	// when the body ends before its announced length or the connection
	// breaks: io.EOF always means every byte arrived.
	Body io.ReadCloser
}

// Client talks to one upstream. It is safe for concurrent use.
type Client struct {
	name    string
	base    *url.URL
	hc      *http.Client
	timeout time.Duration
	retries int
	maxSize int64
	ua      string
	auth    string // the Authorization value for the base host, or ""
	// backoff is the first retry's delay; each later one is 4× longer.
	backoff time.Duration
	m       *metrics
	guard   *guard

	mu      sync.Mutex
	ok      bool
	checked time.Time
	lastErr string
}

// New returns a client for the upstream called name at baseURL, which must
// be an absolute http(s) URL. Errors are Invalid for a bad URL and Internal
// when the metrics cannot be registered.
func New(name, baseURL string, opts Options) (*Client, error) {
	const op = "upstream.New"
	base, err := url.Parse(baseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fault.Newf(op, fault.Invalid, "%s: base URL %q is not an absolute http(s) URL", name, redact(baseURL))
	}
	if opts.Username == "" && opts.Token == "" && base.User != nil {
		opts.Username = base.User.Username()
		opts.Password, _ = base.User.Password()
	}
	base.User = nil
	// A base without a trailing slash would lose its last segment in
	// Resolve ("…/maven2" + "org/x" → "…/org/x").
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
		if base.RawPath != "" {
			base.RawPath += "/"
		}
	}
	g, err := newGuard(base, opts.AllowedHosts)
	if err != nil {
		return nil, fault.Newf(op, fault.Invalid, "%s: allowed hosts: %v", name, err)
	}
	c := &Client{
		guard:   g,
		name:    name,
		base:    base,
		timeout: opts.Timeout,
		retries: opts.Retries,
		maxSize: opts.MaxSize,
		ua:      opts.UserAgent,
		backoff: 100 * time.Millisecond,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.maxSize <= 0 {
		c.maxSize = DefaultMaxSize
	}
	if c.ua == "" {
		c.ua = "entrepot"
	}
	switch {
	case opts.Token != "":
		c.auth = "Bearer " + opts.Token
	case opts.Username != "" || opts.Password != "":
		req := &http.Request{Header: http.Header{}}
		req.SetBasicAuth(opts.Username, opts.Password)
		c.auth = req.Header.Get("Authorization")
	}
	rt := opts.Transport
	if rt == nil {
		rt = newTransport(c.timeout, g)
	}
	// The wrapper adds credentials per hop, so that a redirect to another
	// host never carries them; each hop is checked by name.
	c.hc = &http.Client{Transport: authTransport{rt, base, c.auth}, CheckRedirect: g.checkRedirect}
	if opts.Registerer != nil {
		if c.m, err = newMetrics(opts.Registerer); err != nil {
			return nil, fault.Wrap(op, fault.Internal, err)
		}
	}
	return c, nil
}

// newTransport is tuned for many parallel fills against few hosts; every
// connection it makes passes g's address check.
func newTransport(headerTimeout time.Duration, g *guard) *http.Transport {
	return &http.Transport{
		Proxy: g.proxy,
		DialContext: g.dialer(&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: headerTimeout,
	}
}

// Name is the upstream's configured name.
func (c *Client) Name() string { return c.name }

// Base returns a copy of the base URL (without userinfo, with a trailing
// slash).
func (c *Client) Base() *url.URL { u := *c.base; return &u }

// Resolve resolves ref, a URL reference (RFC 3986, escaped as needed),
// against the base URL: "pkg/1.0" appends to the base path, "/pkg" replaces
// it, an absolute URL stays as it is. A malformed ref is Invalid.
func (c *Client) Resolve(ref string) (string, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return "", fault.Newf("upstream.Resolve", fault.Invalid, "%s: invalid reference %q", c.name, redact(ref))
	}
	return c.base.ResolveReference(r).String(), nil
}

// Get fetches rawURL, an absolute http(s) URL. Userinfo in it is ignored:
// credentials come from Options only. Failures before a body is returned
// (network errors, timeouts, 5xx, 429) are retried with backoff while ctx
// allows. Errors: NotFound for 404 and 410; Upstream for 401, 403, 429,
// other unexpected statuses, 5xx, network failures and timeouts; TooLarge
// when the announced length exceeds the cap; Invalid for a bad URL;
// Unavailable when ctx ends first.
func (c *Client) Get(ctx context.Context, rawURL string, r Request) (*Response, error) {
	const op = "upstream.Get"
	resp, err := c.get(ctx, rawURL, r)
	if err != nil {
		c.m.count(c.name, "error", err)
		return nil, fault.Op(op, err)
	}
	if resp.NotModified {
		c.m.count(c.name, "not_modified", nil)
	} else {
		c.m.count(c.name, "ok", nil)
	}
	return resp, nil
}

func (c *Client) get(ctx context.Context, rawURL string, r Request) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fault.Newf("upstream.url", fault.Invalid, "%s: %q is not an absolute http(s) URL", c.name, redact(rawURL))
	}
	u.User = nil
	shown := u.String()
	if err := c.guard.allow(u); err != nil {
		return nil, fault.WrapMsg("upstream.guard", fault.Upstream, fmt.Sprintf("%s: refused to fetch %s", c.name, shown), err)
	}
	limit := r.MaxSize
	if limit <= 0 {
		limit = c.maxSize
	}
	for attempt := 0; ; attempt++ {
		resp, cancel, err := c.attempt(ctx, u, r)
		if err == nil {
			return c.accept(resp, cancel, shown, limit)
		}
		retry, wait := c.retryable(ctx, attempt, resp, err)
		if resp != nil {
			drain(resp.Body)
		}
		cancel()
		if !retry && ctx.Err() != nil && attempt < c.retries {
			// The caller left while a retry was due: that, not the
			// failed attempt, is why no answer came.
			return nil, fault.WrapMsg("upstream.retry", fault.Unavailable,
				fmt.Sprintf("%s: gave up on %s", c.name, shown), ctx.Err())
		}
		if !retry {
			return nil, c.classify(ctx, resp, shown, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fault.WrapMsg("upstream.retry", fault.Unavailable,
				fmt.Sprintf("%s: gave up on %s", c.name, shown), ctx.Err())
		}
	}
}

// errStatus marks an attempt answered with a status Get does not accept.
var errStatus = errors.New("unexpected status")

// attempt sends one request. The header timeout is enforced with a timer
// that is stopped once headers arrive, so that it never cuts a body short;
// the returned cancel ends the request (and is called by the body's Close).
func (c *Client) attempt(ctx context.Context, u *url.URL, r Request) (*http.Response, context.CancelFunc, error) {
	actx, cancel := context.WithCancel(ctx)
	method := http.MethodGet
	var body io.Reader
	switch r.Method {
	case http.MethodHead:
		method = http.MethodHead
	case http.MethodPost:
		// A fresh reader per attempt: a retry sends the body again.
		method, body = http.MethodPost, bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(actx, method, u.String(), body)
	if err != nil {
		cancel()
		return nil, func() {}, err
	}
	for k, vs := range r.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("User-Agent", c.ua)
	if r.Accept != "" {
		req.Header.Set("Accept", r.Accept)
	}
	if body != nil && r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.IfNoneMatch != "" {
		req.Header.Set("If-None-Match", r.IfNoneMatch)
	}
	if r.IfModifiedSince != "" {
		req.Header.Set("If-Modified-Since", r.IfModifiedSince)
	}
	timer := time.AfterFunc(c.timeout, cancel)
	resp, err := c.hc.Do(req)
	if !timer.Stop() {
		// The timer fired: even a response that made it is already cut off.
		if resp != nil {
			resp.Body.Close()
		}
		resp, err = nil, fmt.Errorf("no response within %s: %w", c.timeout, context.DeadlineExceeded)
	}
	if err != nil {
		return nil, cancel, err
	}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300, resp.StatusCode == http.StatusNotModified:
		return resp, cancel, nil
	}
	return resp, cancel, errStatus
}

// retryable decides whether a failed attempt is repeated, and after how
// long: network errors, 5xx and 429, while attempts and ctx remain.
func (c *Client) retryable(ctx context.Context, attempt int, resp *http.Response, err error) (bool, time.Duration) {
	if attempt >= c.retries || ctx.Err() != nil || errors.Is(err, errRefused) {
		return false, 0
	}
	wait := c.backoff << (2 * attempt)
	wait = wait/2 + rand.N(wait) // jitter: [½, 1½) of the nominal delay
	if resp == nil {
		return !errors.Is(err, errStatus), wait
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		if ra := retryAfter(resp.Header.Get("Retry-After")); ra > 0 {
			if ra > 10*time.Second {
				return false, 0 // not worth holding a fill for
			}
			wait = max(wait, ra)
		}
		return true, wait
	}
	return false, 0
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// classify turns a final failed attempt into a fault error.
func (c *Client) classify(ctx context.Context, resp *http.Response, shown string, err error) error {
	const op = "upstream.do"
	if resp == nil {
		if ctx.Err() != nil {
			return fault.WrapMsg(op, fault.Unavailable, fmt.Sprintf("%s: request for %s ended", c.name, shown), ctx.Err())
		}
		if errors.Is(err, errRefused) {
			return fault.WrapMsg("upstream.guard", fault.Upstream, fmt.Sprintf("%s: refused to follow %s", c.name, shown), scrub(err))
		}
		return fault.WrapMsg(op, fault.Upstream, fmt.Sprintf("%s: %s failed", c.name, shown), scrub(err))
	}
	switch s := resp.StatusCode; {
	case s == http.StatusNotFound || s == http.StatusGone:
		return fault.Newf(op, fault.NotFound, "%s: %s not found upstream", c.name, shown)
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		// The challenge stays in the chain, for the OCI token dance (oci.go).
		return fault.WrapMsg(op, fault.Upstream, fmt.Sprintf("%s: upstream refused our credentials for %s (%d)", c.name, shown, s),
			&challengeError{header: resp.Header.Get("WWW-Authenticate")})
	case s == http.StatusTooManyRequests:
		return fault.Newf(op, fault.Upstream, "%s: upstream is rate limiting us (%s)", c.name, shown)
	default:
		return fault.Newf(op, fault.Upstream, "%s: upstream answered %d for %s", c.name, s, shown)
	}
}

// scrub replaces a *url.Error, which quotes the URL, with its cause.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// accept turns a 2xx or 304 into a Response with a guarded body.
func (c *Client) accept(resp *http.Response, cancel context.CancelFunc, shown string, limit int64) (*Response, error) {
	out := &Response{
		Status:        resp.StatusCode,
		NotModified:   resp.StatusCode == http.StatusNotModified,
		Header:        resp.Header,
		ContentType:   resp.Header.Get("Content-Type"),
		ETag:          resp.Header.Get("ETag"),
		LastModified:  resp.Header.Get("Last-Modified"),
		ContentLength: resp.ContentLength,
	}
	if out.NotModified || resp.Request != nil && resp.Request.Method == http.MethodHead {
		drain(resp.Body)
		cancel()
		if out.NotModified {
			out.ContentLength = 0
		}
		out.Body = http.NoBody
		return out, nil
	}
	if resp.ContentLength > limit {
		drain(resp.Body)
		cancel()
		return nil, fault.Newf("upstream.size", fault.TooLarge,
			"%s: %s is %d bytes, over the limit of %d", c.name, shown, resp.ContentLength, limit)
	}
	out.Body = &body{rc: resp.Body, cancel: cancel, want: resp.ContentLength, limit: limit, c: c, url: shown}
	return out, nil
}

// drain reads a little of a body we are about to drop, so that its
// connection can be reused, and closes it.
func drain(rc io.ReadCloser) {
	io.CopyN(io.Discard, rc, 64<<10)
	rc.Close()
}

// body caps a response body and turns a short or broken one into an
// Upstream error.
type body struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	n      int64
	want   int64 // announced length, -1 when unknown
	limit  int64
	c      *Client
	url    string
	err    error // sticky
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if room := b.limit - b.n + 1; int64(len(p)) > room {
		p = p[:room] // one byte past the cap is enough to know
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		n -= int(b.n - b.limit)
		b.n = b.limit
		b.fail(fault.Newf("upstream.body", fault.TooLarge, "%s: %s is over the limit of %d bytes", b.c.name, b.url, b.limit))
	case err == io.EOF && b.want >= 0 && b.n < b.want, errors.Is(err, io.ErrUnexpectedEOF):
		of := ""
		if b.want >= 0 {
			of = fmt.Sprintf(" of %d", b.want)
		}
		b.fail(fault.Newf("upstream.body", fault.Upstream, "%s: %s was cut short after %d%s bytes", b.c.name, b.url, b.n, of))
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		b.fail(fault.WrapMsg("upstream.body", fault.Upstream, fmt.Sprintf("%s: reading %s failed", b.c.name, b.url), err))
	default:
		return n, nil
	}
	return n, b.err
}

func (b *body) fail(err error) {
	b.err = err
	b.c.m.count(b.c.name, "", err)
}

func (b *body) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

// authTransport adds the upstream's credentials to requests for its own
// scheme and host only.
type authTransport struct {
	next http.RoundTripper
	base *url.URL
	auth string
}

func (t authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.auth == "" || req.URL.Scheme != t.base.Scheme || !strings.EqualFold(req.URL.Host, t.base.Host) ||
		req.Header.Get("Authorization") != "" {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", t.auth)
	return t.next.RoundTrip(req)
}

// redact drops userinfo from a URL meant for a message.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			return "…" + raw[i:]
		}
		return raw
	}
	u.User = nil
	return u.String()
}
