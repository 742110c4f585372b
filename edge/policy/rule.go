// Package policy is the supply-chain policy of the edge: release-age gates
// (minAge), block rules (deny) and their exemptions, decided for one
// version of one package at a time.
//
// Rules are records of the catalog's store (bbolt or MongoDB), held in
// memory by an Engine and reloaded on every edge when the change feed
// reports a hosted.ChangePolicy. First-seen times of mirrored versions are
// records of the same store (FirstSeen), written once, on first fill.
//
// See README.md for where the policy sits in the request path and why it
// fails closed.
package policy

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"entrepot/hosted/fault"
)

// Scope names whom a rule binds: "platform" (every request) or
// "org:<name>" (the organization's hosted packages and the requests of
// its members).
const PlatformScope = "platform"

// AnyProtocol is the Protocol of a rule for every protocol.
const AnyProtocol = "*"

// Kind is what a rule does.
type Kind string

// The kinds of rule, told apart by which of MinAge, Deny and Exempt is set.
const (
	KindGate   Kind = "gate"   // MinAge: versions younger than it are held back
	KindDeny   Kind = "deny"   // Deny: versions in the range are refused
	KindExempt Kind = "exempt" // Exempt: versions in the range pass the gates (not the denials) until Expires
)

// Rule is one policy rule, as /api/v1/policies reads and writes it.
type Rule struct {
	ID       string `json:"id"`
	Scope    string `json:"scope"`    // "platform" | "org:<name>"
	Protocol string `json:"protocol"` // "npm", "pypi", ... or "*"
	// Package is a glob over the package's name as the protocol normalizes
	// it: '*' matches any run of characters ('/' included, so "@acme/*"
	// and "*" work), '?' one character; case is ignored.
	Package string `json:"package"`
	// MinAge makes the rule a release-age gate.
	MinAge Duration `json:"minAge,omitempty"`
	// Deny makes it a block rule: a version range ("*", "1.2.3",
	// ">=1.0.0 <1.4.2", "1.2.3 || 1.2.4").
	Deny string `json:"deny,omitempty"`
	// Exempt makes it an exemption from the gates for the versions in the
	// range, until Expires (required).
	Exempt  string     `json:"exempt,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
	Reason  string     `json:"reason,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	UpdatedBy string    `json:"updatedBy,omitempty"`

	rng *versionRange // of Deny or Exempt, compiled by Check
}

// Kind says what r does; Check has made sure exactly one applies.
func (r *Rule) Kind() Kind {
	switch {
	case r.Deny != "":
		return KindDeny
	case r.Exempt != "":
		return KindExempt
	default:
		return KindGate
	}
}

// Org is the organization name of an "org:<name>" scope, "" for the
// platform.
func (r *Rule) Org() string { return strings.TrimPrefix(r.Scope, "org:") }

// maxRuleText bounds a rule's patterns and reason.
const maxRuleText = 512

// Check validates r and compiles its range; the error is Invalid and says
// what is wrong. protocols, when not nil, are the names Protocol may take
// besides "*".
func (r *Rule) Check(protocols []string) error {
	const op = "policy.Check"
	bad := func(format string, args ...any) error { return fault.Newf(op, fault.Invalid, format, args...) }
	switch {
	case r.Scope == PlatformScope:
	case strings.HasPrefix(r.Scope, "org:") && len(r.Scope) > 4:
	default:
		return bad(`scope must be "platform" or "org:<name>", not %q`, r.Scope)
	}
	if r.Protocol == "" {
		return bad(`protocol is required: a protocol name or "*"`)
	}
	if r.Protocol != AnyProtocol && protocols != nil && !has(protocols, r.Protocol) {
		return bad("unknown protocol %q (one of %s, or *)", r.Protocol, strings.Join(protocols, ", "))
	}
	if r.Package == "" {
		return bad(`package is required: a name or a glob ("*", "@acme/*")`)
	}
	for _, s := range []string{r.Package, r.Deny, r.Exempt, r.Reason} {
		if len(s) > maxRuleText {
			return bad("a rule's fields are at most %d bytes", maxRuleText)
		}
	}
	n := 0
	if r.MinAge > 0 {
		n++
	}
	if r.Deny != "" {
		n++
	}
	if r.Exempt != "" {
		n++
	}
	if n != 1 {
		return bad(`a rule is exactly one of a gate ("minAge": "7d"), a block ("deny": "<version range>") or an exemption ("exempt": "<version range>", "expires": "<time>")`)
	}
	if r.MinAge < 0 {
		return bad("minAge must be positive")
	}
	switch r.Kind() {
	case KindExempt:
		if r.Expires == nil || r.Expires.IsZero() {
			return bad("an exemption needs an expiry (expires, RFC 3339)")
		}
		rg, err := parseRange(r.Exempt)
		if err != nil {
			return bad("exempt: %v", err)
		}
		r.rng = rg
	case KindDeny:
		rg, err := parseRange(r.Deny)
		if err != nil {
			return bad("deny: %v", err)
		}
		r.rng = rg
		r.Expires = nil
	default:
		r.Expires = nil
	}
	return nil
}

// binds reports whether r applies to s (scope, protocol, package).
func (r *Rule) binds(s Subject) bool {
	if r.Protocol != AnyProtocol && r.Protocol != s.Protocol {
		return false
	}
	if r.Scope != PlatformScope {
		org := r.Org()
		if s.Owner != org && !has(s.CallerOrgs, org) {
			return false
		}
	}
	return Glob(strings.ToLower(r.Package), strings.ToLower(s.Package))
}

// Glob reports whether name matches pattern: '*' is any run of
// characters, '?' exactly one; no other character is special.
func Glob(pattern, name string) bool {
	// Iterative matching with one backtrack point: linear enough for
	// short patterns and never exponential.
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// versionRange is a compiled Deny or Exempt: "*", a semver constraint,
// or, for versions semver cannot read, exact names ("a || b").
type versionRange struct {
	any   bool
	c     *semver.Constraints // nil when the text is not a semver range
	exact []string
}

func parseRange(s string) (*versionRange, error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return &versionRange{any: true}, nil
	}
	vr := &versionRange{}
	for _, part := range strings.Split(s, "||") {
		if p := strings.TrimSpace(part); p != "" {
			vr.exact = append(vr.exact, p)
		}
	}
	if len(vr.exact) == 0 {
		return nil, fmt.Errorf("empty version range")
	}
	if c, err := semver.NewConstraint(s); err == nil {
		vr.c = c
	}
	return vr, nil
}

// contains reports whether version is in the range; known says whether
// that could be decided: a range of semver constraints over a version
// semver cannot read (a Maven "1.0.Final", a PEP 440 "1.0.post1") cannot,
// unless the version is one of the range's exact names.
func (vr *versionRange) contains(version string) (in, known bool) {
	if vr.any {
		return true, true
	}
	for _, e := range vr.exact {
		if e == version || strings.TrimPrefix(e, "=") == version {
			return true, true
		}
	}
	if vr.c == nil {
		return false, true // exact names only, none matched
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return false, false
	}
	return vr.c.Check(v), true
}

// Duration is a rule's age: JSON "7d", "36h", "1d12h" (units d and h;
// Go's own units, "90m", are read too).
type Duration time.Duration

// ParseDuration reads "7d", "36h", "1d12h" or a Go duration.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			break
		}
		n, err := strconv.ParseInt(rest[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %v", s, err)
		}
		unit := time.Duration(0)
		switch rest[i] {
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		}
		if unit == 0 {
			break
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if rest == "" {
		return Duration(total), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`duration %q: write it as "7d", "36h" or "1d12h"`, s)
	}
	return Duration(d), nil
}

// String writes d in days and hours when it is a whole number of hours.
func (d Duration) String() string {
	t := time.Duration(d)
	if t <= 0 {
		return "0h"
	}
	if t%time.Hour != 0 {
		return t.String()
	}
	h := int64(t / time.Hour)
	var b strings.Builder
	if h >= 24 {
		b.WriteString(strconv.FormatInt(h/24, 10) + "d")
		h %= 24
	}
	if h > 0 || b.Len() == 0 {
		b.WriteString(strconv.FormatInt(h, 10) + "h")
	}
	return b.String()
}

// MarshalJSON writes d as String does.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a string as ParseDuration does.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf(`a duration is a string such as "7d" or "36h"`)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
