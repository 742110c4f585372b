package api

import (
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/edge/policy"
	"entrepot/hosted/fault"
)

// policyRequest is the body of POST /policies, PUT /policies/{policyId}
// and POST /policies/dry-run.
type policyRequest struct {
	Scope    string          `json:"scope"`
	Protocol string          `json:"protocol"`
	Package  string          `json:"package"`
	MinAge   policy.Duration `json:"minAge,omitempty"`
	Deny     string          `json:"deny,omitempty"`
	Exempt   string          `json:"exempt,omitempty"`
	Expires  *time.Time      `json:"expires,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

func (q policyRequest) rule() policy.Rule {
	return policy.Rule{Scope: q.Scope, Protocol: q.Protocol, Package: q.Package, MinAge: q.MinAge,
		Deny: q.Deny, Exempt: q.Exempt, Expires: q.Expires, Reason: q.Reason}
}

// policyEngine is the engine, or an error saying there is none.
func (h *Handler) policyEngine() (*policy.Engine, error) {
	if h.opts.Policy == nil {
		return nil, fault.New("api", fault.Unavailable, "supply-chain policies are not enabled on this server")
	}
	return h.opts.Policy, nil
}

// mayScope checks that p may act on rules of scope: a platform admin on
// every scope; an organization's owners and admins on "org:<name>" to
// change them (need needManage), its members to read them (needView).
func (h *Handler) mayScope(ctx *fasthttp.RequestCtx, p auth.Principal, scope string, need orgNeed) error {
	if scope == policy.PlatformScope || len(scope) <= len("org:") || scope[:4] != "org:" {
		if need == needView && scope == policy.PlatformScope {
			return nil // platform rules bind everyone: everyone signed in may read them
		}
		if !p.PlatformAdmin {
			return forbidden("platform rules are platform administrators' only")
		}
		return nil
	}
	o, err := h.orgFor(edge.Context(ctx), p, scope[4:], need)
	noteOf(ctx).org = o.ID
	return err
}

// listPolicies: GET /api/v1/policies[?scope=] — the rules the caller may
// read: the platform's and those of the caller's organizations.
func (h *Handler) listPolicies(ctx *fasthttp.RequestCtx) error {
	e, err := h.policyEngine()
	if err != nil {
		return err
	}
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	want := query(ctx, "scope")
	out := []policy.Rule{}
	allowed := map[string]bool{}
	for _, r := range e.Rules() {
		if want != "" && r.Scope != want {
			continue
		}
		ok, seen := allowed[r.Scope]
		if !seen {
			ok = h.mayScope(ctx, p, r.Scope, needView) == nil
			allowed[r.Scope] = ok
		}
		if ok {
			out = append(out, r)
		}
	}
	noteOf(ctx).org = ""
	return reply(ctx, fasthttp.StatusOK, page(out, ""))
}

// getPolicy: GET /api/v1/policies/{policyId}.
func (h *Handler) getPolicy(ctx *fasthttp.RequestCtx) error {
	e, err := h.policyEngine()
	if err != nil {
		return err
	}
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	r, err := e.Get(edge.Context(ctx), param(ctx, "policyId"))
	if err == nil && h.mayScope(ctx, p, r.Scope, needView) != nil {
		err = notFound("policy " + param(ctx, "policyId")) // as for one that does not exist
	}
	if fault.Is(err, fault.NotFound) {
		return notFound("policy " + param(ctx, "policyId"))
	}
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, r)
}

// createPolicy: POST /api/v1/policies — a gate {"minAge": "7d"}, a block
// {"deny": "<range>", "reason"} or an exemption {"exempt": "<range>",
// "expires"}, in force on every edge within a second.
func (h *Handler) createPolicy(ctx *fasthttp.RequestCtx) error {
	e, err := h.policyEngine()
	if err != nil {
		return err
	}
	p, err := h.manager(ctx)
	if err != nil {
		return err
	}
	var req policyRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if err := h.mayScope(ctx, p, req.Scope, needManage); err != nil {
		return err
	}
	r, err := e.Create(edge.Context(ctx), req.rule(), p.UserID)
	if err != nil {
		return err
	}
	noteOf(ctx).detail = describeRule(r)
	return reply(ctx, fasthttp.StatusCreated, r)
}

// replacePolicy: PUT /api/v1/policies/{policyId}. Moving a rule to
// another scope needs the right to manage both.
func (h *Handler) replacePolicy(ctx *fasthttp.RequestCtx) error {
	e, err := h.policyEngine()
	if err != nil {
		return err
	}
	p, err := h.manager(ctx)
	if err != nil {
		return err
	}
	id := param(ctx, "policyId")
	old, err := e.Get(edge.Context(ctx), id)
	if err == nil && h.mayScope(ctx, p, old.Scope, needView) != nil {
		err = notFound("policy " + id)
	}
	if err != nil {
		return err
	}
	if err := h.mayScope(ctx, p, old.Scope, needManage); err != nil {
		return err
	}
	var req policyRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if err := h.mayScope(ctx, p, req.Scope, needManage); err != nil {
		return err
	}
	r, err := e.Replace(edge.Context(ctx), id, req.rule(), p.UserID)
	if err != nil {
		return err
	}
	noteOf(ctx).detail = describeRule(r)
	return reply(ctx, fasthttp.StatusOK, r)
}

// deletePolicy: DELETE /api/v1/policies/{policyId}.
func (h *Handler) deletePolicy(ctx *fasthttp.RequestCtx) error {
	e, err := h.policyEngine()
	if err != nil {
		return err
	}
	p, err := h.manager(ctx)
	if err != nil {
		return err
	}
	id := param(ctx, "policyId")
	old, err := e.Get(edge.Context(ctx), id)
	if err == nil && h.mayScope(ctx, p, old.Scope, needView) != nil {
		err = notFound("policy " + id)
	}
	if err != nil {
		return err
	}
	if err := h.mayScope(ctx, p, old.Scope, needManage); err != nil {
		return err
	}
	noteOf(ctx).detail = describeRule(old)
	if err := e.Delete(edge.Context(ctx), id); err != nil {
		return err
	}
	return noContent(ctx)
}

// dryRunPolicy: POST /api/v1/policies/dry-run — which mirrored versions
// this registry has seen the rule in the body would hold back or deny
// today; nothing is stored. Scanning every first-seen record is for the
// platform's admins; an organization's members dry-run its rules.
func (h *Handler) dryRunPolicy(ctx *fasthttp.RequestCtx) error {
	e, err := h.policyEngine()
	if err != nil {
		return err
	}
	p, err := h.user(ctx)
	if err != nil {
		return err
	}
	var req policyRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	need := needView
	if req.Scope == policy.PlatformScope {
		need = needManage // platform: admins only (mayScope)
	}
	if err := h.mayScope(ctx, p, req.Scope, need); err != nil {
		return err
	}
	rep, err := e.DryRun(edge.Context(ctx), req.rule())
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, rep)
}

// describeRule is a rule as the audit record's detail tells it.
func describeRule(r policy.Rule) string {
	s := r.ID + " " + r.Scope + " " + r.Protocol + " " + r.Package
	switch r.Kind() {
	case policy.KindDeny:
		return s + " deny " + r.Deny
	case policy.KindExempt:
		return s + " exempt " + r.Exempt + " until " + r.Expires.UTC().Format(time.RFC3339)
	default:
		return s + " minAge " + r.MinAge.String()
	}
}
