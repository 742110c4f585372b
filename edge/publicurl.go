package edge

import (
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// BaseURL tells the external base URL of the edge, for links written into
// rewritten metadata, and the client's address (ClientIP). A configured PUBLIC_URL wins; otherwise it is derived
// from the request, believing X-Forwarded-Proto and X-Forwarded-Host only
// from trusted proxies (anyone else could make us write links to their
// host into cached documents).
type BaseURL struct {
	Fixed   string
	Trusted []netip.Prefix
}

// For returns the base URL for a request, without a trailing slash.
func (b *BaseURL) For(ctx *fasthttp.RequestCtx) string {
	if b.Fixed != "" {
		return b.Fixed
	}
	scheme, host := "http", string(ctx.Host())
	if ctx.IsTLS() {
		scheme = "https"
	}
	if b.trusted(ctx) {
		if p := firstValue(ctx.Request.Header.Peek("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(ctx.Request.Header.Peek("X-Forwarded-Host")); validHost(h) {
			host = h
		}
	}
	if !validHost(host) {
		host = ctx.LocalAddr().String()
	}
	return scheme + "://" + host
}

// Mounted is the public URL of a protocol's mount point (For followed by
// the Group's prefix), for the links the protocol writes into its
// documents. Create it with BaseURL.Mount; the zero value is not usable.
type Mounted struct {
	base   *BaseURL
	prefix string
	fixed  string // with PUBLIC_URL: built once, so For allocates nothing
}

// Mount returns the public URL of the mount point prefix (Group.Prefix).
func (b *BaseURL) Mount(prefix string) Mounted {
	m := Mounted{base: b, prefix: prefix}
	if b != nil && b.Fixed != "" {
		m.fixed = b.Fixed + prefix
	}
	return m
}

// For returns the mount point's URL for a request, without a trailing
// slash ("https://registry.example.com/npm").
//
// A request that came in at the root (RootPaths) gets the root's URL
// ("https://registry.example.com"): links keep the form the client used.
func (m Mounted) For(ctx *fasthttp.RequestCtx) string {
	if atRoot(ctx, m.prefix) {
		if m.base.Fixed != "" {
			return m.base.Fixed
		}
		return m.base.For(ctx)
	}
	if m.fixed != "" {
		return m.fixed
	}
	return m.base.For(ctx) + m.prefix
}

// Path is the mount point's path for a request ("/npm"), "" for one that
// came in at the root: for a Location on the same host.
func (m Mounted) Path(ctx *fasthttp.RequestCtx) string {
	if atRoot(ctx, m.prefix) {
		return ""
	}
	return m.prefix
}

func (b *BaseURL) trusted(ctx *fasthttp.RequestCtx) bool {
	if len(b.Trusted) == 0 {
		return false
	}
	ip, ok := netip.AddrFromSlice(ctx.RemoteIP())
	return ok && b.trusts(ip)
}

func (b *BaseURL) trusts(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range b.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP returns the client's address: the peer's, or, when the peer is
// a trusted proxy, the nearest address in X-Forwarded-For that is not one
// (read from the right: what the trusted proxies appended). Anyone else's
// X-Forwarded-For is ignored, since it could name any address and escape
// the login throttle. A nil BaseURL trusts no proxy.
func (b *BaseURL) ClientIP(ctx *fasthttp.RequestCtx) string {
	peer := ctx.RemoteIP().String()
	if b == nil || !b.trusted(ctx) {
		return peer
	}
	var hops []string
	for _, v := range ctx.Request.Header.PeekAll("X-Forwarded-For") {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		client = ip.Unmap().String()
		if !b.trusts(ip) {
			break
		}
	}
	return client
}

// firstValue takes the first element of a comma-separated header: the one
// the proxy nearest the client wrote.
func firstValue(v []byte) string {
	s, _, _ := strings.Cut(string(v), ",")
	return strings.TrimSpace(s)
}

// validHost accepts host[:port] made of the characters hosts are made of.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
