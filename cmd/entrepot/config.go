package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"entrepot/upstream"
)

// Config is everything `entrepot serve` is told from outside.
type Config struct {
	Host           string
	Port           int
	PublicURL      string // "" = derived from each request
	TrustedProxies []netip.Prefix

	DataDir string
	// CacheMemory is CACHE_MEMORY, in bytes.
	CacheMemory int64
	MongoURL    string
	MongoDB     string
	S3          S3Config
	StorePath   string

	JWTSecret         string
	AuthEncryptionKey string

	UpstreamCache       bool
	RootPaths           bool // serve the protocols at the root too (compat.go)
	UpstreamCacheExpiry time.Duration
	UpstreamTimeout     time.Duration     // one attempt, until the response headers
	Upstreams           map[string]string // protocol → base URL, only those configured
	UpstreamGoSumDB     []OCIUpstream     // UPSTREAM_GOSUMDB: checksum database name (as Prefix) → URL
	UpstreamOCI         []OCIUpstream

	AdminEmail    string
	AdminPassword string

	LogLevel  slog.Level
	LogFormat string

	ShutdownTimeout time.Duration
	MaxUpload       int64
	// ChangeFeedInterval is how often the change feed is read.
	ChangeFeedInterval time.Duration
	// GCInterval is how often the blob garbage collector runs (0: never);
	// GCGrace how old an unreferenced blob must be to be swept.
	GCInterval time.Duration
	GCGrace    time.Duration
	// CleanupInterval is how often the repositories' cleanup policies
	// are applied (0: never; POST .../cleanup/run applies one at once).
	CleanupInterval time.Duration
	// Quota is the platform's default storage quota of an organization's
	// hosted packages, in bytes (0: unlimited).
	Quota int64

	// Abuse limits of the edge server and the upstream guard.
	MaxConnsPerIP          int
	MinBodyRate            int64 // bytes per second; negative = off
	MinBodyRateWindow      time.Duration
	AnonymousUploadTimeout time.Duration
	UpstreamAllowedHosts   []string
}

// S3Config holds the S3_* settings.
type S3Config struct {
	Endpoint, AccessKey, SecretKey, Bucket, Region string
	ForcePathStyle                                 bool
}

// OCIUpstream is one `prefix=url` entry of UPSTREAM_OCI.
type OCIUpstream struct {
	Prefix string
	URL    string
}

// setting is one configuration variable: its environment name is the
// contract, the flag is its lowercase-dashed twin, and parse stores the
// validated value into the Config.
type setting struct {
	env    string
	def    string
	help   string
	secret bool
	parse  func(c *Config, v string) error
}

var (
	dbName    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`)
	ociPrefix = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
)

func settings() []setting {
	s := []setting{
		{env: "HOST", def: "0.0.0.0", help: "address to listen on", parse: func(c *Config, v string) error {
			if v != "" && v != "localhost" {
				if _, err := netip.ParseAddr(strings.Trim(v, "[]")); err != nil {
					return errors.New("must be an IP address or localhost")
				}
			}
			c.Host = v
			return nil
		}},
		{env: "PORT", def: "3000", help: "TCP port to listen on (0 picks a free one)", parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 65535 {
				return errors.New("must be a number from 0 to 65535")
			}
			c.Port = n
			return nil
		}},
		{env: "PUBLIC_URL", help: "external base URL used in rewritten links (default: derived from each request)", parse: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
				return errors.New("must be an absolute http(s) URL without query or credentials, like https://registry.example.com")
			}
			c.PublicURL = strings.TrimRight(v, "/")
			return nil
		}},
		{env: "TRUSTED_PROXIES", help: "comma-separated IPs or CIDRs whose X-Forwarded-Proto/-Host/-For are believed", parse: func(c *Config, v string) error {
			for _, f := range splitList(v) {
				p, err := netip.ParsePrefix(f)
				if err != nil {
					a, err2 := netip.ParseAddr(f)
					if err2 != nil {
						return fmt.Errorf("%q is not an IP address or CIDR", f)
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				c.TrustedProxies = append(c.TrustedProxies, p.Masked())
			}
			return nil
		}},
		{env: "DATA_DIR", def: "./data", help: "folder for the embedded metadata store, blobs and generated secrets", parse: func(c *Config, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			c.DataDir = v
			return nil
		}},
		{env: "MONGODB_URL", help: "MongoDB connection string; empty = embedded store in DATA_DIR", secret: true, parse: func(c *Config, v string) error {
			if v != "" && !strings.HasPrefix(v, "mongodb://") && !strings.HasPrefix(v, "mongodb+srv://") {
				return errors.New("must start with mongodb:// or mongodb+srv://")
			}
			c.MongoURL = v
			return nil
		}},
		{env: "MONGODB_DB", def: "entrepot", help: "MongoDB database name", parse: func(c *Config, v string) error {
			if !dbName.MatchString(v) {
				return errors.New("must be 1-63 letters, digits, - or _")
			}
			c.MongoDB = v
			return nil
		}},
		{env: "S3_ENDPOINT", help: "S3 endpoint URL; empty = blobs under DATA_DIR/blobs", parse: func(c *Config, v string) error {
			if v != "" {
				if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an absolute http(s) URL")
				}
			}
			c.S3.Endpoint = v
			return nil
		}},
		{env: "S3_ACCESS_KEY", help: "S3 access key (empty = the SDK's default credential chain)", parse: func(c *Config, v string) error { c.S3.AccessKey = v; return nil }},
		{env: "S3_SECRET_KEY", help: "S3 secret key", secret: true, parse: func(c *Config, v string) error { c.S3.SecretKey = v; return nil }},
		{env: "S3_BUCKET", help: "S3 bucket (required with S3_ENDPOINT)", parse: func(c *Config, v string) error { c.S3.Bucket = v; return nil }},
		{env: "S3_REGION", def: "us-east-1", help: "S3 region", parse: func(c *Config, v string) error { c.S3.Region = v; return nil }},
		{env: "S3_FORCE_PATH_STYLE", def: "false", help: "address buckets as path segments (MinIO and most S3-compatible stores)", parse: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.S3.ForcePathStyle = b
			return boolErr(err)
		}},
		{env: "STORAGE_PATH", def: "packages", help: "key prefix of blobs in the S3 bucket", parse: func(c *Config, v string) error {
			v = strings.Trim(v, "/")
			if v == "" || strings.Contains(v, "..") {
				return errors.New("must be a non-empty key prefix without \"..\"")
			}
			c.StorePath = v
			return nil
		}},
		{env: "JWT_SECRET", help: "HMAC key for session tokens, 32+ characters (generated into DATA_DIR if unset in embedded mode)", secret: true, parse: func(c *Config, v string) error {
			c.JWTSecret = v
			return nil
		}},
		{env: "AUTH_ENCRYPTION_KEY", help: "AES-256 key for stored provider secrets, 64 hex characters or base64 of 32 bytes (generated into DATA_DIR if unset in embedded mode)", secret: true, parse: func(c *Config, v string) error {
			c.AuthEncryptionKey = v
			return nil
		}},
		{env: "ADMIN_EMAIL", def: "admin@localhost", help: "email of the platform admin created on first start (user name: admin)", parse: func(c *Config, v string) error {
			if !strings.Contains(v, "@") {
				return errors.New("must be an email address")
			}
			c.AdminEmail = v
			return nil
		}},
		{env: "ADMIN_PASSWORD", help: "password of that first admin (generated and printed once to stderr if unset)", secret: true, parse: func(c *Config, v string) error {
			if v != "" && (len(v) < 12 || isWeak(v)) {
				return errors.New("must be at least 12 characters and not a known weak value")
			}
			c.AdminPassword = v
			return nil
		}},
		{env: "ROOT_PATHS", def: "true", help: "serve npm, PyPI, Composer, RubyGems and Cargo at the root too, as the registry Entrepot replaces does (false: under their prefixes only)", parse: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.RootPaths = b
			return boolErr(err)
		}},
		{env: "ENABLE_UPSTREAM_CACHE", def: "true", help: "cache upstream metadata for UPSTREAM_CACHE_EXPIRY (false: revalidate on every request)", parse: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			c.UpstreamCache = b
			return boolErr(err)
		}},
		{env: "UPSTREAM_CACHE_EXPIRY", def: "24", help: "hours before cached upstream metadata is revalidated (fractions allowed)", parse: func(c *Config, v string) error {
			h, err := strconv.ParseFloat(v, 64)
			if err != nil || h < 0 || h > 24*365 {
				return errors.New("must be a number of hours from 0 to 8760")
			}
			c.UpstreamCacheExpiry = time.Duration(h * float64(time.Hour))
			return nil
		}},
		{env: "UPSTREAM_TIMEOUT", def: "30s", help: "how long one upstream request may wait for the response headers (retried twice; then 504)", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("must be a positive duration like 30s")
			}
			c.UpstreamTimeout = d
			return nil
		}},
		{env: "LOG_LEVEL", def: "info", help: "debug, info, warn or error", parse: func(c *Config, v string) error {
			return c.LogLevel.UnmarshalText([]byte(v))
		}},
		{env: "LOG_FORMAT", def: "text", help: "text or json", parse: func(c *Config, v string) error {
			if v != "text" && v != "json" {
				return errors.New("must be text or json")
			}
			c.LogFormat = v
			return nil
		}},
		{env: "MAX_UPLOAD_SIZE", def: "512", help: "largest package a publish may upload, in MiB (OCI layers have their own limit)", parse: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > 1<<20 {
				return errors.New("must be a number of MiB from 1 to 1048576")
			}
			c.MaxUpload = n << 20
			return nil
		}},
		{env: "CACHE_MEMORY", def: "256", help: "memory for the caches of prepared metadata documents (all protocols together), in MiB, or with a unit (512KiB, 64MiB, 1GiB); larger documents are kept as prepared files in DATA_DIR/prepared, up to 8 times this on disk", parse: func(c *Config, v string) error {
			n, err := parseSize(v)
			if err != nil || n < 1<<20 {
				return errors.New("must be a size of at least 1 MiB, like 256 (MiB) or 1GiB")
			}
			c.CacheMemory = n
			return nil
		}},
		{env: "SHUTDOWN_TIMEOUT", def: "30s", help: "how long SIGTERM waits for in-flight requests", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("must be a duration like 30s")
			}
			c.ShutdownTimeout = d
			return nil
		}},
		{env: "CHANGE_FEED_INTERVAL", def: "200ms", help: "how often each edge reads the change feed (what other edges changed); a change is seen within about this plus one store read", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 10*time.Millisecond || d > 10*time.Second {
				return errors.New("must be a duration from 10ms to 10s, like 200ms")
			}
			c.ChangeFeedInterval = d
			return nil
		}},
		{env: "GC_INTERVAL", def: "24h", help: "how often the blob garbage collector runs in the background, one edge at a time (0 = never; `entrepot gc` runs it once)", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > 0 && d < time.Second {
				return errors.New("must be 0 or a duration of at least 1s, like 24h")
			}
			c.GCInterval = d
			return nil
		}},
		{env: "GC_GRACE", def: "24h", help: "how old an unreferenced blob must be before the garbage collector deletes it: longer than the slowest upload or fill, and than an hour", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return errors.New("must be a duration of at least 1s, like 24h")
			}
			c.GCGrace = d
			return nil
		}},
		{env: "CLEANUP_INTERVAL", def: "1h", help: "how often the repositories' cleanup policies (PUT /api/v1/repositories/{repoId}/cleanup) delete old pre-releases, SNAPSHOT builds and untagged manifests, one edge at a time (0 = never)", parse: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > 0 && d < time.Second {
				return errors.New("must be 0 or a duration of at least 1s, like 1h")
			}
			c.CleanupInterval = d
			return nil
		}},
		{env: "QUOTA", help: "default storage quota of an organization's hosted packages, in bytes or with a unit (500MiB, 10GiB); empty or 0 = unlimited; a platform admin sets an organization's own with PUT /api/v1/organizations/{orgId}/quota", parse: func(c *Config, v string) error {
			n, err := parseBytes(v)
			if err != nil {
				return errors.New("must be a number of bytes or a size with a unit, like 10GiB (0 = unlimited)")
			}
			c.Quota = n
			return nil
		}},
	}
	s = append(s, limitSettings()...)
	for _, p := range protocols {
		if p.upstream == "" {
			continue
		}
		s = append(s, setting{env: p.upstream, help: p.name + " upstream base URL (empty = no mirror)", parse: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if err := checkUpstreamURL(v); err != nil {
				return err
			}
			c.Upstreams[p.name] = strings.TrimRight(v, "/") + "/"
			return nil
		}})
	}
	s = append(s, setting{env: "UPSTREAM_OCI", help: "OCI pull-through upstreams as prefix=url,... (e.g. hub=https://registry.example)", parse: func(c *Config, v string) error {
		seen := map[string]bool{}
		for _, f := range splitList(v) {
			prefix, u, ok := strings.Cut(f, "=")
			if !ok || !ociPrefix.MatchString(prefix) {
				return fmt.Errorf("%q is not prefix=url with a lowercase prefix", f)
			}
			if seen[prefix] {
				return fmt.Errorf("prefix %q given twice", prefix)
			}
			seen[prefix] = true
			if err := checkUpstreamURL(u); err != nil {
				return fmt.Errorf("%s: %w", prefix, err)
			}
			c.UpstreamOCI = append(c.UpstreamOCI, OCIUpstream{Prefix: prefix, URL: strings.TrimRight(u, "/")})
		}
		return nil
	}})
	s = append(s, setting{env: "UPSTREAM_GOSUMDB", help: "Go checksum databases proxied under /go/sumdb/<name>/ as name=url,... (only these names are served)", parse: func(c *Config, v string) error {
		seen := map[string]bool{}
		for _, f := range splitList(v) {
			name, u, ok := strings.Cut(f, "=")
			if !ok || name == "" || strings.ContainsAny(name, "/ ") {
				return fmt.Errorf("%q is not name=url with a checksum database name (such as the one GOSUMDB names)", f)
			}
			if seen[name] {
				return fmt.Errorf("checksum database %q given twice", name)
			}
			seen[name] = true
			if err := checkUpstreamURL(u); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			c.UpstreamGoSumDB = append(c.UpstreamGoSumDB, OCIUpstream{Prefix: name, URL: strings.TrimRight(u, "/") + "/"})
		}
		return nil
	}})
	return s
}

// limitSettings are the abuse limits: slow bodies, connections per
// address, and where upstream data may send the edge.
func limitSettings() []setting {
	return []setting{
		{env: "MAX_CONNS_PER_IP", def: "1024", help: "open connections one client address may hold (0 = no cap; behind a proxy, every client shares its address)", parse: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("must be a number, 0 or more")
			}
			c.MaxConnsPerIP = n
			return nil
		}},
		{env: "MIN_BODY_RATE", def: "8", help: "slowest a request body may arrive, in KiB/s averaged over MIN_BODY_RATE_WINDOW (0 = no minimum)", parse: func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > 1<<20 {
				return errors.New("must be a number of KiB/s from 0 to 1048576")
			}
			c.MinBodyRate = n << 10
			if n == 0 {
				c.MinBodyRate = -1
			}
			return nil
		}},
		{env: "MIN_BODY_RATE_WINDOW", def: "30s", help: "window over which MIN_BODY_RATE is measured", parse: func(c *Config, v string) error {
			return seconds(v, &c.MinBodyRateWindow)
		}},
		{env: "ANONYMOUS_UPLOAD_TIMEOUT", def: "30s", help: "how long a request with a body but no credentials may take to arrive (with credentials: 1h)", parse: func(c *Config, v string) error {
			return seconds(v, &c.AnonymousUploadTimeout)
		}},
		{env: "UPSTREAM_ALLOWED_HOSTS", help: "comma-separated hosts (host, host:port, *.domain) that upstream URLs and redirects may point at besides each upstream's own host", parse: func(c *Config, v string) error {
			for _, f := range splitList(v) {
				if err := upstream.ParseAllowedHost(f); err != nil {
					return err
				}
				c.UpstreamAllowedHosts = append(c.UpstreamAllowedHosts, f)
			}
			return nil
		}},
	}
}

// seconds parses a duration of a second or more into d.
func seconds(v string, d *time.Duration) error {
	p, err := time.ParseDuration(v)
	if err != nil || p < time.Second {
		return errors.New("must be a duration of 1s or more, like 30s")
	}
	*d = p
	return nil
}

func checkUpstreamURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", v)
	}
	return nil
}

func boolErr(err error) error {
	if err != nil {
		return errors.New("must be true or false")
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func flagName(env string) string { return strings.ToLower(strings.ReplaceAll(env, "_", "-")) }

// ConfigError names the variable that is wrong; main prints it as one line.
type ConfigError struct {
	Var string
	Err error
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Err.Error() }

// loadConfig reads every setting from the environment, lets flags override
// it, and validates the result. flag.ErrHelp comes back when --help was
// asked for, after the usage was printed to out.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	ss := settings()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := make([]*string, len(ss))
	for i, s := range ss {
		v := s.def
		if e, ok := lookup(getenv, s.env); ok {
			v = e
		}
		vals[i] = fs.String(flagName(s.env), v, s.help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(out, ss)
			return nil, err
		}
		return nil, &ConfigError{Var: "arguments", Err: err}
	}
	if fs.NArg() > 0 {
		return nil, &ConfigError{Var: "arguments", Err: fmt.Errorf("unexpected %q", fs.Arg(0))}
	}
	c := &Config{Upstreams: map[string]string{}}
	for i, s := range ss {
		if err := s.parse(c, strings.TrimSpace(*vals[i])); err != nil {
			return nil, &ConfigError{Var: s.env, Err: err}
		}
	}
	if c.S3.Endpoint != "" && c.S3.Bucket == "" {
		return nil, &ConfigError{Var: "S3_BUCKET", Err: errors.New("must be set when S3_ENDPOINT is")}
	}
	if c.MongoURL != "" {
		// Several edges share one database: each must be given the same
		// secrets rather than invent its own.
		if c.JWTSecret == "" {
			return nil, &ConfigError{Var: "JWT_SECRET", Err: errors.New("must be set when MONGODB_URL is (every edge needs the same one)")}
		}
		if c.AuthEncryptionKey == "" {
			return nil, &ConfigError{Var: "AUTH_ENCRYPTION_KEY", Err: errors.New("must be set when MONGODB_URL is (every edge needs the same one)")}
		}
	}
	if c.JWTSecret != "" {
		if err := checkJWTSecret(c.JWTSecret); err != nil {
			return nil, &ConfigError{Var: "JWT_SECRET", Err: err}
		}
	}
	if c.AuthEncryptionKey != "" {
		if _, err := decodeKey(c.AuthEncryptionKey); err != nil {
			return nil, &ConfigError{Var: "AUTH_ENCRYPTION_KEY", Err: err}
		}
	}
	return c, nil
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func usage(out io.Writer, ss []setting) {
	fmt.Fprintf(out, "Usage: entrepot serve [--ephemeral] [flags]\n\nEvery setting is read from its environment variable; a flag overrides it.\n--ephemeral uses a temporary data directory, printed at start and deleted on exit.\n\n")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tFLAG\tDEFAULT\tMEANING")
	for _, s := range ss {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t--%s\t%s\t%s\n", s.env, flagName(s.env), def, s.help)
	}
	tw.Flush()
}

// parseSize reads a size in MiB ("256") or with a binary unit ("64MiB",
// "512KiB", "1GiB").
func parseSize(v string) (int64, error) {
	unit := int64(1 << 20)
	for _, u := range []struct {
		s string
		n int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(v, u.s); ok {
			v, unit = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<50/unit {
		return 0, errors.New("not a size")
	}
	return n * unit, nil
}

// parseBytes reads a number of bytes ("1048576") or a size with a binary
// unit as parseSize reads it ("64MiB", "1GiB", "2TiB"); "" is 0.
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, nil
	}
	if rest, ok := strings.CutSuffix(v, "TiB"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		if err != nil || n < 0 || n > 1<<20 {
			return 0, errors.New("not a size")
		}
		return n << 40, nil
	}
	if strings.HasSuffix(v, "B") {
		return parseSize(v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a size")
	}
	return n, nil
}
