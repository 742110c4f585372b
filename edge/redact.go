package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"regexp"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/fault"
)

// redactions are the credential shapes Redact removes, in order. Each
// keeps what names the secret (a header name, a scheme, a prefix) and
// drops the secret itself, so that a log line still says what was there.
var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	// Request dumps: fasthttp quotes the raw header block ("...\r\n...")
	// after "contents: " and cuts it into a head and a tail, so a secret
	// may be split where no pattern below could recognize its halves.
	// Nothing after it is kept.
	{regexp.MustCompile(`(contents: ).*`), `${1}[request withheld]`},
	// Header values that are quoted alone, without their name.
	{regexp.MustCompile(`(invalid (?:header|trailer) (?:key|value) )"(?:[^"\\]|\\.)*"`), `${1}[withheld]`},
	// Credential headers, raw or inside a quoted dump (where a line ends
	// with the two characters \r or \n): everything to the end of the line.
	{regexp.MustCompile(`(?i)((?:proxy-)?authorization|(?:set-)?cookie|[\w-]*(?:api-?key|token|otp|secret|password|passwd)[\w-]*)(\s*:\s*)(?:[^\r\n\\]|\\[^rn])+`), `${1}${2}[redacted]`},
	// Settings and JSON fields: npm's _auth, _authToken and _password,
	// and anything named like a token, secret or password.
	{regexp.MustCompile(`(?i)(_auth\w*|[\w.-]*(?:token|secret|password|passwd|api-?key)[\w.-]*)("?\s*[:=]\s*"?)[^\s"'&,;}]+`), `${1}${2}[redacted]`},
	// user:password@ in URLs.
	{regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@"']+@`), `${1}[redacted]@`},
	// Query parameters that carry secrets.
	{regexp.MustCompile(`(?i)([?&;][\w.-]*(?:token|key|secret|password|passwd|auth|signature|sig|credential|code)[\w.-]*=)[^&\s"'#]+`), `${1}[redacted]`},
	// Our own API tokens, wherever they are.
	{regexp.MustCompile(`srg_[A-Za-z0-9_-]+`), `srg_[redacted]`},
	// JWTs (a session's access token, an OCI registry token, an OIDC id
	// token): header.payload.signature, the header always starting {"
	// in base64url.
	{regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`), `[redacted jwt]`},
	// Basic and Bearer credentials outside a header line ("Basic dXNlcjpw").
	{regexp.MustCompile(`(?i)\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}`), `${1} [redacted]`},
}

// Redact removes credentials from text meant for a log: the values of
// Authorization, Proxy-Authorization, Cookie, Set-Cookie and any header
// or setting named like a key, token, secret, password or one-time
// password (npm-otp, X-Api-Key, _authToken), passwords in URLs, secret
// query parameters, srg_ tokens, JWTs and Basic or Bearer credentials
// anywhere, and fasthttp's dumps of raw requests. It over-redacts rather
// than miss: a log line is for finding a problem, not for replaying it.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}

// slogPrinter routes fasthttp's own messages into the structured log.
// They quote what the client sent (a malformed request's headers, its
// request line), so every message is redacted first.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Warn("fasthttp", "message", withholdQuoted(Redact(fmt.Sprintf(format, args...))))
}

// quoted is a Go-quoted string, as fasthttp's %q prints what it read.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// withholdQuoted replaces the longer quoted parts of a fasthttp message,
// which are pieces of the request (a header line without its name, a
// request line), with their length: a credential there has no name that
// Redact could recognize. Short values ("-1", a method) and addresses
// stay, for the message to keep its meaning.
func withholdQuoted(s string) string {
	return quoted.ReplaceAllStringFunc(s, func(q string) string {
		if len(q) <= 18 {
			return q
		}
		if _, err := netip.ParseAddrPort(q[1 : len(q)-1]); err == nil {
			return q
		}
		return fmt.Sprintf("[%d bytes withheld]", len(q)-2)
	})
}

// parseError answers a request fasthttp could not read or parse (a bad
// header, a duplicate or negative Content-Length, a bad chunk, a header
// block over the buffer, a read timeout). It replaces fasthttp's default
// so that the answer is the edge's JSON error format and never echoes the
// request. The error itself reaches the log through slogPrinter.
func parseError(ctx *fasthttp.RequestCtx, err error) {
	status, kind, msg := fasthttp.StatusBadRequest, fault.Invalid, "the request could not be parsed"
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		status, kind, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, fault.TooLarge, "the request's headers are too large"
	case errors.As(err, &ne) && ne.Timeout():
		status, msg = fasthttp.StatusRequestTimeout, "the request was not received in time"
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	secure(&ctx.Response.Header)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	RenderJSON(ctx, fault.New("edge.parse", kind, msg))
}

// RedactWarnings wraps h so that every record at Warn level or above has
// its message and string values (errors included) passed through Redact.
// Warnings and errors are where foreign text lands (fasthttp's messages,
// error chains that quote a URL or a header, panics); the access log at
// Info carries only what the edge chose to write, and stays off the
// redaction's cost.
func RedactWarnings(h slog.Handler) slog.Handler { return redactHandler{h} }

type redactHandler struct{ slog.Handler }

func (r redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level < slog.LevelWarn {
		return r.Handler.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.Handler.Handle(ctx, out)
}

// WithAttrs redacts attributes given once for every later record, at any
// level: they are few and written once.
func (r redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redactHandler{r.Handler.WithAttrs(red)}
}

func (r redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{r.Handler.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redactAttr(ga)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, Redact(err.Error()))
		}
		return slog.String(a.Key, Redact(fmt.Sprint(v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
