package edge

import (
	"bytes"
	"net/url"

	"github.com/valyala/fasthttp"

	"entrepot/hosted/fault"
)

// refuseCrossSite refuses a state-changing request that a browser sent on
// behalf of another site. Browsers replay credentials on their own (Basic
// credentials they have cached, cookies), and a form or a text/plain POST
// needs no CORS preflight, so another site's page could otherwise publish,
// yank or delete in the name of a visitor who once signed in here.
// Package clients send neither Sec-Fetch-Site nor Origin, and the
// dashboard is same-origin, so neither is affected.
//
// Sec-Fetch-Site, which every current browser sends and a page cannot
// forge, decides when present: only same-origin and none (typed by the
// user) may change anything. Without it, an Origin naming another host
// than the request's refuses the request.
func refuseCrossSite(ctx *fasthttp.RequestCtx) error {
	if safeMethod(ctx.Method()) {
		return nil
	}
	h := &ctx.Request.Header
	if site := h.Peek("Sec-Fetch-Site"); len(site) > 0 {
		if bytes.Equal(site, []byte("same-origin")) || bytes.Equal(site, []byte("none")) {
			return nil
		}
		return errCrossSite
	}
	origin := h.Peek("Origin")
	if len(origin) == 0 {
		return nil
	}
	u, err := url.Parse(string(origin))
	if err != nil || u.Host == "" {
		return errCrossSite // "null" (a sandboxed or file page) included
	}
	if u.Host == string(h.Host()) {
		return nil
	}
	if fwd := h.Peek("X-Forwarded-Host"); len(fwd) > 0 && u.Host == string(fwd) {
		return nil
	}
	return errCrossSite
}

var errCrossSite = fault.New("edge.refuseCrossSite", fault.Forbidden, "a request from another site's page may not change anything here")

func safeMethod(m []byte) bool {
	return bytes.Equal(m, []byte("GET")) || bytes.Equal(m, []byte("HEAD")) || bytes.Equal(m, []byte("OPTIONS"))
}
