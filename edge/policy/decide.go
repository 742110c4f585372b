package policy

import (
	"time"
)

// Subject is the version a decision is about, and who asks.
type Subject struct {
	Protocol string
	Package  string // normalized as the protocol does
	Version  string
	// Owner is the organization name hosting the package, "" for a
	// mirrored one.
	Owner string
	// CallerOrgs are the organizations the caller is a member of: an
	// org-scoped rule binds their requests, and their own organization's
	// hosted packages pass the gates.
	CallerOrgs []string
}

// Times are what is known of when a version appeared.
type Times struct {
	// Published is the time the upstream (or, hosted, the catalog) states;
	// zero when none is stated.
	Published time.Time
	// FirstSeen is when this registry first saw the version (FirstSeen
	// records); zero when never recorded. Ignored for hosted packages,
	// whose Published is the registry's own.
	FirstSeen time.Time
}

// released is the time a version's age counts from: the later of the
// stated and the first-seen time, so that an upstream cannot make a new
// version look old by forging its date. Zero when neither is known.
func (t Times) released(hosted bool) time.Time {
	if hosted {
		return t.Published
	}
	if t.FirstSeen.After(t.Published) {
		return t.FirstSeen
	}
	if t.FirstSeen.IsZero() {
		// A mirrored version never recorded as seen has no trustworthy
		// time: the upstream's date alone could be forged.
		return time.Time{}
	}
	return t.Published
}

// Outcome is what a decision says.
type Outcome string

// Decisions' outcomes, the label values of entrepot_policy_decisions_total.
const (
	Allow    Outcome = "allow"
	Exempted Outcome = "exempt" // a gate would hold it back; an exemption lets it through
	Hold     Outcome = "hold"   // younger than a gate
	Deny     Outcome = "deny"   // in a block rule's range
)

// Decision is the policy's answer for one version.
type Decision struct {
	Outcome Outcome
	// Rule is the rule that held the version back, denied or exempted it.
	Rule *Rule
	// Until is when a held version becomes available (zero for a
	// version without a trustworthy time: it becomes available a gate's
	// age after it is first seen).
	Until time.Time
}

// Allowed reports whether the version may be listed and served.
func (d Decision) Allowed() bool { return d.Outcome == Allow || d.Outcome == Exempted }

// Message is the client's explanation of a refusal, naming the rule and,
// for a gate, when the version becomes available.
func (d Decision) Message(s Subject) string {
	if d.Allowed() || d.Rule == nil {
		return ""
	}
	what := s.Package + "@" + s.Version
	r := d.Rule
	if d.Outcome == Deny {
		msg := what + " is blocked by policy " + r.ID + " (" + r.Scope + ", deny " + r.Deny + ")"
		if r.Reason != "" {
			msg += ": " + r.Reason
		}
		return msg
	}
	msg := what + " is held back by policy " + r.ID + " (" + r.Scope + ", minimum release age " + r.MinAge.String() + ")"
	if d.Until.IsZero() {
		msg += ": its release time is unknown; it becomes available " + r.MinAge.String() + " after this registry first sees it"
	} else {
		msg += ": available from " + d.Until.UTC().Format(time.RFC3339)
	}
	if r.Reason != "" {
		msg += " (" + r.Reason + ")"
	}
	return msg
}

// decide applies rules to s at now. Denials win over everything; then the
// strictest binding gate (the latest availability) holds the version back
// unless an unexpired exemption covers it or the caller's own
// organization hosts it. A deny range that cannot be evaluated for s's
// version (semver cannot read it) refuses: fail closed.
func decide(rules []*Rule, s Subject, t Times, now time.Time) Decision {
	var gate *Rule
	var until time.Time
	unknown := false
	var exempt *Rule
	hosted := s.Owner != ""
	released := t.released(hosted)
	for _, r := range rules {
		if !r.binds(s) {
			continue
		}
		switch r.Kind() {
		case KindDeny:
			if in, known := r.rng.contains(s.Version); in || !known {
				return Decision{Outcome: Deny, Rule: r}
			}
		case KindExempt:
			if r.Expires != nil && now.Before(*r.Expires) {
				if in, known := r.rng.contains(s.Version); in && known {
					exempt = r
				}
			}
		case KindGate:
			if released.IsZero() {
				if !unknown || gate == nil || r.MinAge > gate.MinAge {
					gate, unknown, until = r, true, time.Time{}
				}
				continue
			}
			u := released.Add(time.Duration(r.MinAge))
			if !now.Before(u) || unknown {
				continue
			}
			if gate == nil || u.After(until) {
				gate, until = r, u
			}
		}
	}
	if gate == nil {
		return Decision{Outcome: Allow}
	}
	if hosted && has(s.CallerOrgs, s.Owner) {
		return Decision{Outcome: Allow} // one's own organization's packages: exempt by default
	}
	if exempt != nil {
		return Decision{Outcome: Exempted, Rule: exempt}
	}
	return Decision{Outcome: Hold, Rule: gate, Until: until}
}
