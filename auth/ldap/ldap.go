// Package ldap verifies a user name and a password against an LDAP
// directory (OpenLDAP, 389-ds, Active Directory…) the usual way: bind as a
// service account, search the one entry the user filter selects, bind as
// that entry with the password, then read the entry's groups. It speaks
// LDAP (plain, LDAPS or StartTLS) through github.com/go-ldap/ldap/v3 and
// knows nothing of Entrepot's accounts: auth turns an Entry into a user.
//
// Every call dials its own connection and closes it: sign-ins are rare
// (auth caches verified credentials), and a pooled connection bound as a
// user would be a hazard.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"entrepot/hosted/fault"
)

// Config is one directory, as a provider document holds it (its JSON is
// the "ldap" object of the document).
type Config struct {
	// URL is ldap://host[:389] or ldaps://host[:636].
	URL string `json:"url"`
	// BindDN and BindPassword are the service account that searches users
	// and groups; empty BindDN searches anonymously.
	BindDN       string `json:"bindDn,omitempty"`
	BindPassword string `json:"bindPassword,omitempty"`
	// BaseDN is where users are searched (whole subtree).
	BaseDN string `json:"baseDn"`
	// UserFilter selects a user; {username} is replaced by the escaped
	// name typed. Default (uid={username}).
	UserFilter string `json:"userFilter,omitempty"`
	// Attributes read from the user's entry; defaults uid, mail, cn.
	UsernameAttribute    string `json:"usernameAttribute,omitempty"`
	EmailAttribute       string `json:"emailAttribute,omitempty"`
	DisplayNameAttribute string `json:"displayNameAttribute,omitempty"`
	// GroupBaseDN is where groups are searched; empty: no group lookup.
	// GroupFilter selects the user's groups; {dn} is replaced by the
	// escaped DN of the user. Default (|(member={dn})(uniqueMember={dn})).
	GroupBaseDN string `json:"groupBaseDn,omitempty"`
	GroupFilter string `json:"groupFilter,omitempty"`
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool `json:"startTls,omitempty"`
	// CACert is PEM certificates trusted for LDAPS and StartTLS besides the
	// system roots; InsecureSkipVerify turns verification off (tests only).
	CACert             string `json:"caCert,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	// EmailVerified says that the directory's email addresses are
	// verified, so that a directory user may be linked to an existing
	// Entrepot account with the same email. This package does not use it.
	EmailVerified bool `json:"emailVerified,omitempty"`
}

// Entry is a verified user as the directory describes it.
type Entry struct {
	DN          string
	UUID        string // entryUUID (or objectGUID) when the directory has one: stable across renames
	Username    string
	Email       string
	DisplayName string
	Groups      []string // DNs of the groups the user belongs to
}

// ErrNoUser is wrapped by the Unauthorized error of a name the directory
// does not know (or knows more than once); ErrBadPassword by that of a
// known user whose bind failed. Callers tell them apart with errors.Is,
// for the audit log; clients see the same "invalid credentials".
var (
	ErrNoUser      = errors.New("no such user in the directory")
	ErrBadPassword = errors.New("the directory refused the password")
)

// timeout bounds each network step when ctx has no deadline.
const timeout = 10 * time.Second

// Limits on what is typed, so that a hostile Basic header cannot make a
// huge filter.
const (
	maxUsername = 256
	maxPassword = 1024
)

func (c Config) withDefaults() Config {
	if c.UserFilter == "" {
		c.UserFilter = "(uid={username})"
	}
	if c.UsernameAttribute == "" {
		c.UsernameAttribute = "uid"
	}
	if c.EmailAttribute == "" {
		c.EmailAttribute = "mail"
	}
	if c.DisplayNameAttribute == "" {
		c.DisplayNameAttribute = "cn"
	}
	if c.GroupFilter == "" {
		c.GroupFilter = "(|(member={dn})(uniqueMember={dn}))"
	}
	return c
}

// Validate reports, as an Invalid error, what is wrong with c.
func (c Config) Validate() error {
	const op = "ldap.Validate"
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return fault.New(op, fault.Invalid, "ldap.url must be ldap://host[:port] or ldaps://host[:port]")
	}
	if c.StartTLS && u.Scheme == "ldaps" {
		return fault.New(op, fault.Invalid, "ldap.startTls is for ldap:// URLs; ldaps:// is TLS already")
	}
	if strings.TrimSpace(c.BaseDN) == "" {
		return fault.New(op, fault.Invalid, "ldap.baseDn is required")
	}
	if _, err := goldap.ParseDN(c.BaseDN); err != nil {
		return fault.Newf(op, fault.Invalid, "ldap.baseDn: %v", err)
	}
	if c.UserFilter != "" && !strings.Contains(c.UserFilter, "{username}") {
		return fault.New(op, fault.Invalid, "ldap.userFilter must contain {username}")
	}
	if c.GroupFilter != "" && !strings.Contains(c.GroupFilter, "{dn}") {
		return fault.New(op, fault.Invalid, "ldap.groupFilter must contain {dn}")
	}
	d := c.withDefaults()
	if _, err := goldap.CompileFilter(strings.ReplaceAll(d.UserFilter, "{username}", "x")); err != nil {
		return fault.Newf(op, fault.Invalid, "ldap.userFilter: %v", err)
	}
	if _, err := goldap.CompileFilter(strings.ReplaceAll(d.GroupFilter, "{dn}", "x")); err != nil {
		return fault.Newf(op, fault.Invalid, "ldap.groupFilter: %v", err)
	}
	if c.CACert != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CACert)) {
			return fault.New(op, fault.Invalid, "ldap.caCert holds no PEM certificate")
		}
	}
	return nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.CACert != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM([]byte(c.CACert))
		tc.RootCAs = pool
	}
	return tc, nil
}

func stepTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return timeout
}

// unavailable classifies a failure to talk to the directory.
func unavailable(op, what string, err error) error {
	return fault.WrapMsg(op, fault.Unavailable, "LDAP "+what+": "+errorText(err), err)
}

// errorText is a go-ldap error without its wrapping noise.
func errorText(err error) string {
	var le *goldap.Error
	if errors.As(err, &le) {
		msg := goldap.LDAPResultCodeMap[le.ResultCode]
		if le.Err != nil {
			msg += ": " + le.Err.Error()
		}
		if le.MatchedDN != "" {
			msg += " (matched " + le.MatchedDN + ")"
		}
		return msg
	}
	return err.Error()
}

// dial connects, upgrades with StartTLS when asked, and bounds every later
// operation by ctx's deadline or the default timeout.
func dial(ctx context.Context, c Config) (*goldap.Conn, error) {
	const op = "ldap.dial"
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, fault.Wrap(op, fault.Invalid, err)
	}
	d := stepTimeout(ctx)
	conn, err := goldap.DialURL(c.URL, goldap.DialWithDialer(&net.Dialer{Timeout: d}), goldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, unavailable(op, "connect", err)
	}
	conn.SetTimeout(d)
	if c.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, unavailable(op, "StartTLS", err)
		}
	}
	return conn, nil
}

// serviceBind binds as the service account, or stays anonymous.
func serviceBind(conn *goldap.Conn, c Config) error {
	if c.BindDN == "" {
		return nil
	}
	if err := conn.Bind(c.BindDN, c.BindPassword); err != nil {
		return unavailable("ldap.serviceBind", "service account bind", err)
	}
	return nil
}

// Verify checks username and password against the directory and returns
// the user's entry. An unknown, ambiguous or disabled name, or a wrong or
// empty password, is Unauthorized (wrapping ErrNoUser or ErrBadPassword);
// an unreachable directory or a refused service account is Unavailable;
// a bad configuration Invalid. Safe for concurrent use.
func Verify(ctx context.Context, c Config, username, password string) (Entry, error) {
	const op = "ldap.Verify"
	// An empty password would be an unauthenticated bind, which many
	// directories answer with success: never let one through.
	if username == "" || password == "" || len(username) > maxUsername || len(password) > maxPassword {
		return Entry{}, fault.WrapMsg(op, fault.Unauthorized, "invalid credentials", ErrNoUser)
	}
	c = c.withDefaults()
	conn, err := dial(ctx, c)
	if err != nil {
		return Entry{}, err
	}
	defer conn.Close()
	if err := serviceBind(conn, c); err != nil {
		return Entry{}, err
	}
	attrs := []string{c.UsernameAttribute, c.EmailAttribute, c.DisplayNameAttribute, "entryUUID", "objectGUID"}
	filter := strings.ReplaceAll(c.UserFilter, "{username}", goldap.EscapeFilter(username))
	res, err := conn.Search(goldap.NewSearchRequest(c.BaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
		2, int(stepTimeout(ctx)/time.Second), false, filter, attrs, nil))
	if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
		return Entry{}, unavailable(op, "user search", err)
	}
	if res == nil || len(res.Entries) != 1 {
		return Entry{}, fault.WrapMsg(op, fault.Unauthorized, "invalid credentials", ErrNoUser)
	}
	u := res.Entries[0]
	if err := conn.Bind(u.DN, password); err != nil {
		if goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) ||
			goldap.IsErrorWithCode(err, goldap.LDAPResultUnwillingToPerform) ||
			goldap.IsErrorWithCode(err, goldap.LDAPResultInappropriateAuthentication) {
			return Entry{}, fault.WrapMsg(op, fault.Unauthorized, "invalid credentials", ErrBadPassword)
		}
		return Entry{}, unavailable(op, "user bind", err)
	}
	e := Entry{
		DN:          u.DN,
		UUID:        u.GetAttributeValue("entryUUID"),
		Username:    u.GetAttributeValue(c.UsernameAttribute),
		Email:       u.GetAttributeValue(c.EmailAttribute),
		DisplayName: u.GetAttributeValue(c.DisplayNameAttribute),
	}
	if e.UUID == "" {
		if g := u.GetRawAttributeValue("objectGUID"); len(g) > 0 {
			e.UUID = strings.ToLower(strings.TrimSpace(string(hexBytes(g))))
		}
	}
	if e.Username == "" {
		e.Username = username
	}
	if c.GroupBaseDN != "" {
		// Back to the service account: the user may not be allowed to read
		// groups.
		if err := serviceBind(conn, c); err != nil {
			return Entry{}, err
		}
		gf := strings.ReplaceAll(c.GroupFilter, "{dn}", goldap.EscapeFilter(u.DN))
		gr, err := conn.Search(goldap.NewSearchRequest(c.GroupBaseDN, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases,
			1000, int(stepTimeout(ctx)/time.Second), false, gf, []string{"1.1"}, nil))
		if err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded) {
			return Entry{}, unavailable(op, "group search", err)
		}
		if gr != nil {
			for _, g := range gr.Entries {
				e.Groups = append(e.Groups, g.DN)
			}
		}
	}
	return e, nil
}

func hexBytes(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// Step is one stage of a connection check and how it went.
type Step struct {
	Name   string `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Check runs the stages a sign-in needs, without a user: connect (with
// TLS or StartTLS as configured), bind as the service account, read the
// base DN, and read the group base DN when there is one. It stops at the
// first failure, which is the last Step returned with OK false.
func Check(ctx context.Context, c Config) []Step {
	c = c.withDefaults()
	var steps []Step
	add := func(name string, err error, detail string) bool {
		s := Step{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			s.Detail = fault.Message(err)
		}
		steps = append(steps, s)
		return err == nil
	}
	if !add("config", c.Validate(), "") {
		return steps
	}
	conn, err := dial(ctx, c)
	detail := "connected to " + c.URL
	if c.StartTLS {
		detail += " with StartTLS"
	}
	if !add("connect", err, detail) {
		return steps
	}
	defer conn.Close()
	who := "anonymous"
	if c.BindDN != "" {
		who = c.BindDN
	}
	if !add("bind", serviceBind(conn, c), "bound as "+who) {
		return steps
	}
	for _, b := range []struct{ name, dn string }{{"baseDn", c.BaseDN}, {"groupBaseDn", c.GroupBaseDN}} {
		if b.dn == "" {
			continue
		}
		_, err := conn.Search(goldap.NewSearchRequest(b.dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, int(stepTimeout(ctx)/time.Second), false, "(objectClass=*)", []string{"1.1"}, nil))
		if err != nil {
			err = unavailable("ldap.Check", "read "+b.dn, err)
		}
		if !add(b.name, err, "read "+b.dn) {
			return steps
		}
	}
	return steps
}
