package edge

import (
	"bytes"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// RootRule serves some of a protocol's paths at the root of the server as
// well as under its mount point, so that clients configured for a
// registry that serves its protocols at the root (npm's
// "registry=http://host:3000") work unchanged.
//
// A root request is rewritten before routing to the path it has under the
// mount point, so that it takes the very same route, pipeline, checks and
// caches as the prefixed form; only the links the protocol writes into its
// answers differ: Mounted.For and Mounted.Path leave the prefix out for a
// request that came in at the root, so a client goes on using the form it
// was configured with.
type RootRule struct {
	// Prefix is the mount point that serves the rule's requests ("/pypi").
	Prefix string
	// Segments are first path segments taken whole: /simple/... is
	// Prefix+/simple/....
	Segments []string
	// Match, when set, takes other root paths whose first segment is
	// MatchSegment: it returns the path under Prefix, and false for a
	// path it does not take. Tried before Segments and before Fallback.
	MatchSegment string
	Match        func(path string) (under string, ok bool)
}

// rootPaths is the Mux's set of RootRules.
type rootPaths struct {
	rules    []RootRule
	segments map[string]int // first segment → index in rules
	matched  map[string]bool
	// fallback is the mount point of every other root path whose first
	// segment no route and no rule holds (npm's names), "" for none.
	fallback string
	// reserved are the first segments the root routes hold (/v2, /api,
	// /assets, /health, ...), which fallback never takes.
	reserved map[string]bool
}

// rootKey is the user value holding the mount point a root request was
// rewritten to.
const rootKey = "edge.root"

// RootPaths installs root rules, and fallback (a mount point, "" for
// none) for every root path that neither a rule nor a route registered at
// the root holds. Call it after every route is registered and before
// serving; it returns the first segments fallback does not take, sorted,
// for documentation.
func (m *Mux) RootPaths(fallback string, rules ...RootRule) []string {
	rp := &rootPaths{rules: rules, segments: map[string]int{}, matched: map[string]bool{}, fallback: fallback, reserved: map[string]bool{}}
	for _, seg := range m.rootSegments {
		rp.reserved[seg] = true
	}
	for i, r := range rules {
		if r.Match != nil {
			rp.matched[r.MatchSegment] = true
		}
		for _, s := range r.Segments {
			rp.segments[s] = i
			rp.reserved[s] = true
		}
	}
	m.root = rp
	out := make([]string, 0, len(rp.reserved))
	for s := range rp.reserved {
		if s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// noteRoute records the first segment of a route registered at the root:
// such a path is never a fallback name.
func (m *Mux) noteRoute(path string) {
	seg := firstSegment(path)
	if strings.HasPrefix(seg, "{") {
		return
	}
	for _, s := range m.rootSegments {
		if s == seg {
			return
		}
	}
	m.rootSegments = append(m.rootSegments, seg)
}

// rewrite maps a root request onto its mount point, before routing.
// A request in the prefixed form costs two map lookups and allocates
// nothing.
func (rp *rootPaths) rewrite(ctx *fasthttp.RequestCtx) {
	raw := ctx.Path()
	seg := raw[min(1, len(raw)):]
	if i := bytes.IndexByte(seg, '/'); i >= 0 {
		seg = seg[:i]
	}
	prefix, under := "", ""
	if rp.matched[string(seg)] {
		path := string(raw)
		for _, r := range rp.rules {
			if r.Match == nil || r.MatchSegment != string(seg) {
				continue
			}
			if u, ok := r.Match(path); ok {
				prefix, under = r.Prefix, u
				break
			}
		}
	}
	if prefix == "" {
		if i, ok := rp.segments[string(seg)]; ok {
			prefix = rp.rules[i].Prefix
		} else if rp.fallback != "" && len(seg) > 0 && !rp.reserved[string(seg)] {
			prefix = rp.fallback
		} else {
			return
		}
	}
	// The original path keeps its escapes (an npm scope's %2f): the
	// router sees what it would have seen for the prefixed form.
	if orig := string(ctx.Request.URI().PathOriginal()); under == "" && strings.HasPrefix(orig, "/") {
		ctx.Request.URI().SetPath(prefix + orig)
	} else {
		if under == "" {
			under = string(raw)
		}
		ctx.Request.URI().SetPath(prefix + under)
	}
	ctx.SetUserValue(rootKey, prefix)
}

// atRoot reports whether the request came in at the root of prefix.
func atRoot(ctx *fasthttp.RequestCtx, prefix string) bool {
	p, ok := ctx.UserValue(rootKey).(string)
	return ok && p == prefix
}

func firstSegment(path string) string {
	path = strings.TrimPrefix(path, "/")
	seg, _, _ := strings.Cut(path, "/")
	return seg
}
