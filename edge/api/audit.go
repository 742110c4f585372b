package api

import (
	"context"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/fault"
)

// note is what a handler tells the audit record of its request: what it
// acted on, in which organization, and (for sign-ins, before there is a
// principal) who. adapt writes the record once the handler returns, with
// the outcome its error gives.
type note struct {
	actor  string // user id, when no principal is known (sign-in)
	target string
	org    string
	detail string
	skip   bool // nothing worth recording happened
}

const noteKey = "api.note"

// noteOf returns the request's note, creating it.
func noteOf(ctx *fasthttp.RequestCtx) *note {
	if n, ok := ctx.UserValue(noteKey).(*note); ok {
		return n
	}
	n := &note{}
	ctx.SetUserValue(noteKey, n)
	return n
}

// takenNote returns the request's note when one was taken (pathOrg and
// teamFor take one once the caller is known), else a note that is
// recorded nowhere: a request refused before anyone was identified
// leaves no record.
func takenNote(ctx *fasthttp.RequestCtx) *note {
	if n, ok := ctx.UserValue(noteKey).(*note); ok {
		return n
	}
	return &note{}
}

// audit records the state change a route made, or tried: "success",
// "denied" when refused for want of permission or while throttled,
// "failure" otherwise (bad credentials included).
// Requests refused before anyone was identified are not recorded, except
// sign-ins (their handler always takes a note).
func (h *Handler) audit(ctx *fasthttp.RequestCtx, action string, err error) {
	if h.r.Audit == nil {
		return
	}
	n, _ := ctx.UserValue(noteKey).(*note)
	p, _ := ctx.UserValue(principalKey).(auth.Principal)
	if n == nil {
		if p.Anonymous() {
			return
		}
		n = &note{}
	}
	if n.skip {
		return
	}
	outcome := "success"
	switch {
	case err == nil:
	case fault.Is(err, fault.Forbidden), fault.Is(err, fault.RateLimited):
		outcome = "denied"
	default:
		outcome = "failure"
	}
	target := n.target
	if target == "" {
		target = strings.TrimPrefix(string(ctx.Path()), Prefix)
	}
	detail := n.detail
	if err != nil && detail == "" {
		detail = fault.Message(err)
	}
	e := auth.Entry{
		ActorUserID:  p.UserID,
		ActorTokenID: p.TokenID,
		ClientIP:     h.clientIP(ctx),
		UserAgent:    strings.ToValidUTF8(string(ctx.UserAgent()), ""),
		Action:       action,
		Target:       target,
		OrgID:        n.org,
		Outcome:      outcome,
		Detail:       detail,
	}
	if e.ActorUserID == "" {
		e.ActorUserID = n.actor
	}
	h.r.Audit.Record(e)
}

// auditLog: GET /api/v1/audit?actor=&org=&action=&from=&to= — platform
// admins see every entry; organization owners and admins their
// organization's (org is then required unless they manage exactly one).
func (h *Handler) auditLog(ctx *fasthttp.RequestCtx) error {
	p, err := h.manager(ctx)
	if err != nil {
		return err
	}
	pg, err := h.pageOf(ctx)
	if err != nil {
		return err
	}
	if h.r.Audit == nil {
		return fault.New("api", fault.Unavailable, "the audit log is not configured")
	}
	f := auth.AuditFilter{Action: query(ctx, "action")}
	if f.From, err = timeArg(ctx, "from", false); err != nil {
		return err
	}
	if f.To, err = timeArg(ctx, "to", true); err != nil {
		return err
	}
	if a := query(ctx, "actor"); a != "" {
		f.Actor = a
		// A username or an email names the user; ids (of users and of
		// tokens) are taken as they are.
		if _, err := h.r.Auth.GetUser(edge.Context(ctx), a); fault.Is(err, fault.NotFound) {
			if u, err := h.r.Auth.UserByLogin(edge.Context(ctx), a); err == nil {
				f.Actor = u.ID
			}
		}
	}
	o := query(ctx, "org")
	if o == "" && p.TokenID != "" && len(p.Scopes.Organizations) == 1 {
		o = p.Scopes.Organizations[0]
	}
	if o != "" {
		org, err := h.orgFor(edge.Context(ctx), p, o, needManage)
		if err != nil {
			return err
		}
		f.Org = org.ID
	} else if p.TokenID != "" {
		return invalid("org is required: the token manages several organizations")
	} else if !p.PlatformAdmin {
		managed, err := h.managedOrgs(edge.Context(ctx), p, 2)
		if err != nil {
			return err
		}
		switch len(managed) {
		case 0:
			return forbidden("the audit log is for platform administrators and organization owners and admins")
		case 1:
			f.Org = managed[0]
		default:
			return invalid("org is required: you manage several organizations")
		}
	}
	entries, next, err := h.r.Audit.Query(edge.Context(ctx), f, pg)
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, page(entries, next))
}

// timeArg parses an RFC 3339 time or a date (UTC): its first instant, or
// its last one for the end of a range.
func timeArg(ctx *fasthttp.RequestCtx, name string, end bool) (time.Time, error) {
	s := query(ctx, name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if end {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	return time.Time{}, invalid("%s must be an RFC 3339 time or a date (2006-01-02)", name)
}

// managedOrgs returns up to max ids of organizations p owns or
// administers.
func (h *Handler) managedOrgs(ctx context.Context, p auth.Principal, max int) ([]string, error) {
	var out []string
	pg := auth.Page{Limit: h.opts.MaxPage}
	for {
		ms, next, err := h.r.Auth.UserOrgs(ctx, p.UserID, pg)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.Role == auth.OrgOwner || m.Role == auth.OrgAdmin {
				out = append(out, m.OrgID)
				if len(out) == max {
					return out, nil
				}
			}
		}
		if next == "" {
			return out, nil
		}
		pg.Cursor = next
	}
}
