package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"entrepot/edge/policy"
)

func TestPolicies(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, bob := e.user(admin, "bob")
	_, carol := e.user(admin, "carol")
	acme := e.org(bob, "acme")
	_ = acme

	gate := map[string]any{"scope": "platform", "protocol": "npm", "package": "*", "minAge": "7d"}
	orgDeny := map[string]any{"scope": "org:acme", "protocol": "*", "package": "evil-*", "deny": ">=1.0.0 <2.0.0", "reason": "compromised release"}
	run(t, e, []step{
		{"list: anonymous", "GET", "/policies", "", nil, 401},
		{"create: anonymous", "POST", "/policies", "", gate, 401},
		{"create platform: not admin", "POST", "/policies", bob, gate, 403},
		{"create org: not a member", "POST", "/policies", carol, orgDeny, 404},
		{"create: bad duration", "POST", "/policies", admin, map[string]any{"scope": "platform", "protocol": "npm", "package": "*", "minAge": "7w"}, 422},
		{"create: bad scope", "POST", "/policies", admin, map[string]any{"scope": "team:x", "protocol": "npm", "package": "*", "minAge": "7d"}, 422},
		{"create: unknown protocol", "POST", "/policies", admin, map[string]any{"scope": "platform", "protocol": "gopher", "package": "*", "minAge": "7d"}, 422},
		{"create: gate and deny", "POST", "/policies", admin, map[string]any{"scope": "platform", "protocol": "npm", "package": "*", "minAge": "7d", "deny": "*"}, 422},
		{"create: exemption without expiry", "POST", "/policies", admin, map[string]any{"scope": "platform", "protocol": "npm", "package": "x", "exempt": "1.0.0"}, 422},
		{"create: unknown field", "POST", "/policies", admin, map[string]any{"scope": "platform", "protocol": "npm", "package": "*", "maxAge": "7d"}, 422},
		{"dry run platform: not admin", "POST", "/policies/dry-run", bob, gate, 403},
	})

	var g, d policy.Rule
	e.must(201, "POST", "/policies", admin, gate, &g)
	if g.ID == "" || g.MinAge.String() != "7d" || g.Kind() != policy.KindGate {
		t.Fatalf("created %+v", g)
	}
	e.must(201, "POST", "/policies", bob, orgDeny, &d)
	if len(e.policy.Rules()) != 2 {
		t.Fatalf("rules in force %+v", e.policy.Rules())
	}

	var page struct{ Items []policy.Rule }
	e.must(200, "GET", "/policies", carol, nil, &page)
	if len(page.Items) != 1 || page.Items[0].ID != g.ID {
		t.Fatalf("carol sees %+v, want the platform rule only", page.Items)
	}
	e.must(200, "GET", "/policies?scope=org:acme", bob, nil, &page)
	if len(page.Items) != 1 || page.Items[0].ID != d.ID {
		t.Fatalf("bob's org rules %+v", page.Items)
	}
	run(t, e, []step{
		{"get org rule: not a member", "GET", "/policies/" + d.ID, carol, nil, 404},
		{"get org rule: member", "GET", "/policies/" + d.ID, bob, nil, 200},
		{"get: missing", "GET", "/policies/pol_nope", admin, nil, 404},
		{"replace platform: not admin", "PUT", "/policies/" + g.ID, bob, gate, 403},
		{"delete org rule: not a member", "DELETE", "/policies/" + d.ID, carol, nil, 404},
	})

	// Dry run over the first-seen records: a young version is held, an
	// old one is not.
	ctx := context.Background()
	now := time.Now()
	if _, err := e.policy.FirstSeen.Record(ctx, "npm", "left-pad", []string{"1.0.0"}, nil); err != nil {
		t.Fatal(err)
	}
	var rep policy.DryRunReport
	e.must(200, "POST", "/policies/dry-run", admin, gate, &rep)
	if rep.Count != 1 || rep.Held[0].Package != "left-pad" || rep.Held[0].Until.Before(now.Add(6*24*time.Hour)) {
		t.Fatalf("dry run %+v", rep)
	}
	e.must(200, "POST", "/policies/dry-run", admin, map[string]any{"scope": "platform", "protocol": "npm", "package": "left-pad", "minAge": "1h"}, &rep)
	if rep.Count != 1 {
		t.Fatalf("dry run 1h %+v", rep)
	}
	e.must(200, "POST", "/policies/dry-run", admin, map[string]any{"scope": "platform", "protocol": "pypi", "package": "*", "minAge": "1h"}, &rep)
	if rep.Count != 0 || rep.Scanned != 0 {
		t.Fatalf("dry run pypi %+v", rep)
	}

	var up policy.Rule
	e.must(200, "PUT", "/policies/"+g.ID, admin, map[string]any{"scope": "platform", "protocol": "npm", "package": "*", "minAge": "36h"}, &up)
	if up.ID != g.ID || up.MinAge.String() != "1d12h" {
		t.Fatalf("replaced %+v", up)
	}
	e.must(204, "DELETE", "/policies/"+d.ID, bob, nil, nil)
	e.must(204, "DELETE", "/policies/"+g.ID, admin, nil, nil)
	if len(e.policy.Rules()) != 0 {
		t.Fatalf("rules left %+v", e.policy.Rules())
	}
	e.flush()
	entries, _, err := e.audit.Query(ctx, authFilter("policy.create"), authPage())
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, en := range entries {
		if en.Outcome == "success" {
			ok = append(ok, en.Detail)
		}
	}
	if len(ok) != 2 || !strings.Contains(strings.Join(ok, " "), "minAge 7d") {
		t.Fatalf("audited creations %q", ok)
	}
}
