package api

import (
	"sort"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted"
)

// protocolStats counts the hosted packages of one protocol.
type protocolStats struct {
	Protocol string `json:"protocol"`
	Packages int    `json:"packages"`
	Versions int    `json:"versions"` // live ones: deleted versions are not counted
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"` // the size of the versions' files
}

// statsView is the dashboard's overview of the catalog.
type statsView struct {
	PublicURL string          `json:"publicUrl"`
	Packages  int             `json:"packages"`
	Versions  int             `json:"versions"`
	Files     int             `json:"files"`
	Bytes     int64           `json:"bytes"`
	Protocols []protocolStats `json:"protocols"`
	// Partial is true when the catalog was larger than maxStatsPackages:
	// the counts cover the first packages only.
	Partial bool `json:"partial,omitempty"`
}

// maxStatsPackages bounds the packages one stats request reads (each
// costs a versions read).
const maxStatsPackages = 10000

// stats: GET /api/v1/stats — packages, versions and stored bytes per
// protocol, over the hosted packages the caller may read, and the
// server's public base URL (for client configuration).
func (h *Handler) stats(ctx *fasthttp.RequestCtx) error {
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	out := statsView{PublicURL: h.r.Base.For(ctx), Protocols: []protocolStats{}}
	per := map[string]*protocolStats{}
	rs := refs{h: h}
	after, seen := "", 0
	for {
		pkgs, next, err := h.r.Catalog.ListPackages(edge.Context(ctx), hosted.PackageFilter{}, after, h.opts.MaxPage)
		if err != nil {
			return err
		}
		for _, pk := range pkgs {
			if seen++; seen > maxStatsPackages {
				out.Partial = true
				break
			}
			ref, err := rs.of(edge.Context(ctx), pk)
			if err != nil {
				return err
			}
			if h.r.Auth.Authorize(edge.Context(ctx), p, ref, auth.Read) != nil {
				continue
			}
			vs, err := h.r.Catalog.Versions(edge.Context(ctx), pk.Protocol, pk.Name, false)
			if err != nil {
				return err
			}
			s := per[pk.Protocol]
			if s == nil {
				s = &protocolStats{Protocol: pk.Protocol}
				per[pk.Protocol] = s
			}
			s.Packages++
			for _, v := range vs {
				s.Versions++
				for _, f := range v.Files {
					s.Files++
					s.Bytes += f.Size
				}
			}
		}
		after = next
		if next == "" || out.Partial {
			break
		}
	}
	for _, s := range per {
		out.Protocols = append(out.Protocols, *s)
		out.Packages += s.Packages
		out.Versions += s.Versions
		out.Files += s.Files
		out.Bytes += s.Bytes
	}
	sort.Slice(out.Protocols, func(i, j int) bool { return out.Protocols[i].Protocol < out.Protocols[j].Protocol })
	return reply(ctx, fasthttp.StatusOK, out)
}
