package edge

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestAccessLogLikeSlog: the access log's lines are the lines slog's text
// and JSON handlers write for the same request, so that what reads the
// log sees one format.
func TestAccessLogLikeSlog(t *testing.T) {
	now := time.Date(2026, 12, 7, 13, 4, 5, 678_000_000, time.UTC)
	for _, c := range []struct{ path, err string }{
		{"/npm/left-pad", ""},
		{"/npm/has space/x=y\"q", "boom"},
		{"/npm/caf\u00e9", ""},
		{"", ""},
		{"/npm/\xff\x01<&>\\", ""},
		{"/npm/\u2028x", ""},
		{"/npm/a\nb\tc\rd", ""},
	} {
		e := accessEntry{id: "ab12-3", method: []byte("GET"), path: []byte(c.path), status: 200, size: 2880,
			elapsed: 1234567 * time.Nanosecond, protocol: "npm", route: "packument", remote: netip.MustParseAddr("10.0.0.7"), err: c.err, now: now}
		attrs := []slog.Attr{
			slog.String("request_id", e.id), slog.String("method", "GET"), slog.String("path", c.path),
			slog.Int("status", 200), slog.Int("bytes", 2880), slog.Duration("duration", e.elapsed),
			slog.String("protocol", "npm"), slog.String("route", "packument"), slog.String("remote", "10.0.0.7"),
		}
		if c.err != "" {
			attrs = append(attrs, slog.String("error", c.err))
		}
		for _, json := range []bool{false, true} {
			var got, want bytes.Buffer
			NewAccessLog(&got, json).write(&e)
			var h slog.Handler = slog.NewTextHandler(&want, nil)
			if json {
				h = slog.NewJSONHandler(&want, nil)
			}
			r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
			r.AddAttrs(attrs...)
			h.Handle(context.Background(), r)
			if got.String() != want.String() {
				t.Errorf("json=%v path %q:\n got %s\nwant %s", json, c.path, strings.TrimSpace(got.String()), strings.TrimSpace(want.String()))
			}
		}
	}
}

// TestAccessLogRedacts: a path no route took is foreign text and is
// redacted before it is logged (a token of DELETE /-/user/token/{token}
// asked with GET), in the access log and through slog alike.
func TestAccessLogRedacts(t *testing.T) {
	for _, fast := range []bool{true, false} {
		var buf bytes.Buffer
		cfg := Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
		if fast {
			cfg.AccessLog = NewAccessLog(&buf, false)
		}
		s := New(cfg)
		s.Mux().Handle("DELETE", "/-/user/token/{token}", Route{Protocol: "npm", Name: "logout", Redact: true}, func(*fasthttp.RequestCtx) error { return nil })
		for _, m := range []string{"GET", "DELETE"} {
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			req.Header.SetMethod(m)
			req.SetRequestURI("/-/user/token/srg_0123456789abcdef0123456789abcdef")
			ctx.Init(&req, nil, nil)
			s.srv.Handler(&ctx)
		}
		if strings.Contains(buf.String(), "0123456789abcdef") || strings.Count(buf.String(), "msg=request") != 2 {
			t.Errorf("fast=%v: the log holds the token or misses a line:\n%s", fast, buf.String())
		}
	}
}
