package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// The outbound guard. Most URLs a Client fetches come from the upstream's
// own bytes (tarball and dist URLs, file links, redirects, OCI token
// realms), so a hostile or compromised upstream could point the edge at
// anything it can reach: the cloud's metadata service, an admin port on
// loopback, the office network. Two checks stop that, both here so that no
// protocol can forget them:
//
//   - by name, before each request and each redirect hop: a URL may point
//     only at the base URL's own host and port, or at a host the operator
//     allowed (Options.AllowedHosts);
//   - by address, when a connection is made (net.Dialer.Control sees the
//     address DNS gave, so rebinding a name cannot slip past): any host
//     other than the base's own may be reached at public addresses only,
//     or in an address class (loopback, private, link-local) where the
//     base itself was found, so that an upstream on the local network can
//     still link to its neighbours.
//
// The base host itself is dialed wherever it resolves: the operator chose
// it. So is a proxy from the environment, which then makes the address
// check for the hosts behind it.

// errRefused marks a request the guard stopped; it is never retried.
var errRefused = errors.New("refused by the outbound guard")

type guard struct {
	base    hostPort
	allowed []hostPattern
	// classes holds the address classes the base was found in (a bit per
	// addrClass): a literal IP base sets it at once, a name at its first
	// connection.
	classes atomic.Uint32
	trusted sync.Map // dial addresses ("host:port") exempt from the address check
}

type hostPort struct{ host, port string }

// hostPattern is one AllowedHosts entry: "host", "host:port" or
// "*.domain" (any subdomain, not the domain itself); no port means any.
type hostPattern struct {
	host, port string
	suffix     bool
}

func newGuard(base *url.URL, allowed []string) (*guard, error) {
	g := &guard{base: hostPortOf(base)}
	g.trusted.Store(net.JoinHostPort(g.base.host, g.base.port), true)
	if ip, err := netip.ParseAddr(g.base.host); err == nil {
		g.classes.Store(1 << classOf(ip))
	} else if g.base.host == "localhost" {
		g.classes.Store(1 << classLoopback)
	}
	for _, a := range allowed {
		p, err := parsePattern(a)
		if err != nil {
			return nil, err
		}
		g.allowed = append(g.allowed, p)
	}
	return g, nil
}

// ParseAllowedHost checks one AllowedHosts entry, for configuration.
func ParseAllowedHost(s string) error {
	_, err := parsePattern(s)
	return err
}

func parsePattern(s string) (hostPattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	var p hostPattern
	if h, port, err := net.SplitHostPort(s); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return p, fmt.Errorf("%q has no valid port", s)
		}
		s, p.port = h, port
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		s, p.suffix = rest, true
	}
	s = strings.TrimSuffix(strings.Trim(s, "[]"), ".")
	if s == "" || strings.ContainsAny(s, "/@*?# ") {
		return p, fmt.Errorf("%q is not a host name, host:port or *.domain", s)
	}
	p.host = s
	return p, nil
}

func hostPortOf(u *url.URL) hostPort {
	h := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return hostPort{h, port}
}

// allow checks a URL by name.
func (g *guard) allow(u *url.URL) error {
	hp := hostPortOf(u)
	if hp == g.base {
		return nil
	}
	for _, p := range g.allowed {
		if p.port != "" && p.port != hp.port {
			continue
		}
		if hp.host == p.host && !p.suffix || p.suffix && strings.HasSuffix(hp.host, "."+p.host) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is neither the upstream's host nor an allowed one (UPSTREAM_ALLOWED_HOSTS)", errRefused, net.JoinHostPort(hp.host, hp.port))
}

// checkRedirect is the http.Client's redirect policy: each hop by name.
func (g *guard) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("%w: more than 10 redirects", errRefused)
	}
	return g.allow(req.URL)
}

// proxy is http.ProxyFromEnvironment that trusts the proxy it picks.
func (g *guard) proxy(req *http.Request) (*url.URL, error) {
	u, err := http.ProxyFromEnvironment(req)
	if u != nil {
		hp := hostPortOf(u)
		g.trusted.Store(net.JoinHostPort(hp.host, hp.port), true)
	}
	return u, err
}

// dialer returns the transport's DialContext: d for trusted addresses (the
// base, learning its address class), d with the address check otherwise.
func (g *guard) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	checked := *d
	checked.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: cannot parse the address %q", errRefused, address)
		}
		if c := classOf(ap.Addr()); c != classPublic && g.classes.Load()&(1<<c) == 0 {
			return fmt.Errorf("%w: %s is a %s address", errRefused, ap.Addr(), c)
		}
		return nil
	}
	base := net.JoinHostPort(g.base.host, g.base.port)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if _, ok := g.trusted.Load(strings.ToLower(addr)); !ok {
			return checked.DialContext(ctx, network, addr)
		}
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil && strings.EqualFold(addr, base) {
			if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
				if c := classOf(ap.Addr()); c != classPublic {
					g.classes.Or(1 << c)
				}
			}
		}
		return conn, err
	}
}

// addrClass sorts addresses for the address check.
type addrClass uint8

const (
	classPublic addrClass = iota
	classLoopback
	classPrivate   // RFC 1918, unique local fc00::/7, carrier-grade NAT
	classLinkLocal // 169.254/16 (cloud metadata services), fe80::/10
	classReserved  // unspecified, multicast, broadcast, documentation, 0/8, 240/4 ...: never reached
)

func (c addrClass) String() string {
	return [...]string{"public", "loopback", "private", "link-local", "reserved"}[c]
}

var (
	cgnat    = netip.MustParsePrefix("100.64.0.0/10")
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
)

func classOf(ip netip.Addr) addrClass {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		// A NAT64 gateway reaches the IPv4 address inside.
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case ip.IsLoopback():
		return classLoopback
	case ip.IsPrivate() || cgnat.Contains(ip):
		return classPrivate
	case ip.IsLinkLocalUnicast():
		return classLinkLocal
	case !ip.IsGlobalUnicast():
		return classReserved
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return classReserved
		}
	}
	return classPublic
}
