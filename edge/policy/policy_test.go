package policy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/bolt"
	"entrepot/hosted/fault"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "left-pad", true},
		{"*", "@acme/x", true},
		{"@acme/*", "@acme/x", true},
		{"@acme/*", "@other/x", false},
		{"left-?ad", "left-pad", true},
		{"left-?ad", "left-ad", false},
		{"*-pad", "left-pad", true},
		{"*a*b*c", "xaybzc", true},
		{"*a*b*c", "xaybz", false},
		{"requests", "requests", true},
		{"requests", "requests2", false},
	} {
		if got := Glob(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		str  string
		bad  bool
	}{
		{in: "7d", want: 7 * 24 * time.Hour, str: "7d"},
		{in: "36h", want: 36 * time.Hour, str: "1d12h"},
		{in: "1d12h", want: 36 * time.Hour, str: "1d12h"},
		{in: "90m", want: 90 * time.Minute, str: "1h30m0s"},
		{in: "", bad: true},
		{in: "7", bad: true},
		{in: "7w", bad: true},
		{in: "d", bad: true},
	} {
		d, err := ParseDuration(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDuration(%q) = %v, want an error", tc.in, d)
			}
			continue
		}
		if err != nil || time.Duration(d) != tc.want || d.String() != tc.str {
			t.Errorf("ParseDuration(%q) = %v (%s), %v; want %v (%s)", tc.in, time.Duration(d), d, err, tc.want, tc.str)
		}
	}
}

func TestCheck(t *testing.T) {
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		r    Rule
		bad  string // in the error; "" for a valid rule
	}{
		{"gate", Rule{Scope: "platform", Protocol: "npm", Package: "*", MinAge: Duration(time.Hour)}, ""},
		{"deny", Rule{Scope: "org:acme", Protocol: "*", Package: "evil", Deny: "1.2.3 || 1.2.4", Reason: "malware"}, ""},
		{"exempt", Rule{Scope: "platform", Protocol: "npm", Package: "x", Exempt: "2.0.0", Expires: &exp}, ""},
		{"scope", Rule{Scope: "team:x", Protocol: "npm", Package: "*", MinAge: 1}, "scope"},
		{"protocol", Rule{Scope: "platform", Protocol: "gopher", Package: "*", MinAge: 1}, "unknown protocol"},
		{"none", Rule{Scope: "platform", Protocol: "npm", Package: "*"}, "exactly one"},
		{"two", Rule{Scope: "platform", Protocol: "npm", Package: "*", MinAge: 1, Deny: "*"}, "exactly one"},
		{"no expiry", Rule{Scope: "platform", Protocol: "npm", Package: "x", Exempt: "1.0.0"}, "expiry"},
		{"no package", Rule{Scope: "platform", Protocol: "npm", MinAge: 1}, "package"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Check([]string{"npm", "pypi"})
			switch {
			case tc.bad == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tc.bad != "" && (err == nil || !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.bad)):
				t.Fatalf("Check = %v, want Invalid mentioning %q", err, tc.bad)
			}
		})
	}
}

func mustRule(t *testing.T, r Rule) *Rule {
	t.Helper()
	if r.ID == "" {
		r.ID = "pol_" + r.Package
	}
	if err := r.Check(nil); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	future := now.Add(day)
	past := now.Add(-day)
	gate := Rule{ID: "g7", Scope: "platform", Protocol: "npm", Package: "*", MinAge: Duration(7 * day)}
	gate3 := Rule{ID: "g3", Scope: "platform", Protocol: "*", Package: "*", MinAge: Duration(3 * day)}
	orgGate := Rule{ID: "go", Scope: "org:acme", Protocol: "npm", Package: "*", MinAge: Duration(60 * day)}
	deny := Rule{ID: "d", Scope: "platform", Protocol: "npm", Package: "evil", Deny: ">=1.0.0 <1.4.2", Reason: "compromised"}
	exempt := Rule{ID: "e", Scope: "platform", Protocol: "npm", Package: "left-pad", Exempt: "2.0.0", Expires: &future}
	expired := Rule{ID: "x", Scope: "platform", Protocol: "npm", Package: "left-pad", Exempt: "2.0.0", Expires: &past}
	old := Times{Published: now.Add(-30 * day), FirstSeen: now.Add(-30 * day)}
	young := Times{Published: now.Add(-day), FirstSeen: now.Add(-day)}
	forged := Times{Published: now.Add(-365 * day), FirstSeen: now.Add(-time.Hour)}
	for _, tc := range []struct {
		name    string
		rules   []Rule
		s       Subject
		t       Times
		want    Outcome
		rule    string
		until   time.Time
		message string
	}{
		{name: "no rules", s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, t: young, want: Allow},
		{name: "old enough", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, t: old, want: Allow},
		{name: "young", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, t: young, want: Hold, rule: "g7",
			until: now.Add(6 * day), message: "available from 2026-12-13T12:00:00Z"},
		{name: "strictest gate wins", rules: []Rule{gate3, gate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, t: young, want: Hold, rule: "g7"},
		{name: "other protocol", rules: []Rule{gate}, s: Subject{Protocol: "pypi", Package: "a", Version: "1.0.0"}, t: young, want: Allow},
		{name: "first seen beats a forged date", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, t: forged, want: Hold,
			until: now.Add(-time.Hour + 7*day)},
		{name: "never seen is new", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, t: Times{Published: now.Add(-365 * day)}, want: Hold,
			message: "release time is unknown"},
		{name: "deny in range", rules: []Rule{deny}, s: Subject{Protocol: "npm", Package: "evil", Version: "1.3.0"}, t: old, want: Deny, rule: "d", message: "compromised"},
		{name: "deny out of range", rules: []Rule{deny}, s: Subject{Protocol: "npm", Package: "evil", Version: "1.4.2"}, t: old, want: Allow},
		{name: "deny unreadable version fails closed", rules: []Rule{deny}, s: Subject{Protocol: "npm", Package: "evil", Version: "not-a-version"}, t: old, want: Deny},
		{name: "exempt", rules: []Rule{gate, exempt}, s: Subject{Protocol: "npm", Package: "left-pad", Version: "2.0.0"}, t: young, want: Exempted, rule: "e"},
		{name: "exempt other version", rules: []Rule{gate, exempt}, s: Subject{Protocol: "npm", Package: "left-pad", Version: "2.0.1"}, t: young, want: Hold},
		{name: "exemption expired", rules: []Rule{gate, expired}, s: Subject{Protocol: "npm", Package: "left-pad", Version: "2.0.0"}, t: young, want: Hold},
		{name: "exemption does not lift a deny", rules: []Rule{exempt, {ID: "d2", Scope: "platform", Protocol: "npm", Package: "left-pad", Deny: "*"}},
			s: Subject{Protocol: "npm", Package: "left-pad", Version: "2.0.0"}, t: young, want: Deny},
		{name: "org rule binds members", rules: []Rule{orgGate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0", CallerOrgs: []string{"acme"}}, t: old, want: Hold, rule: "go"},
		{name: "org rule spares others", rules: []Rule{orgGate}, s: Subject{Protocol: "npm", Package: "a", Version: "1.0.0", CallerOrgs: []string{"other"}}, t: old, want: Allow},
		{name: "own hosted package exempt", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "@acme/x", Version: "1.0.0", Owner: "acme", CallerOrgs: []string{"acme"}},
			t: Times{Published: now.Add(-time.Hour)}, want: Allow},
		{name: "someone else's hosted package held", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "@acme/x", Version: "1.0.0", Owner: "acme"},
			t: Times{Published: now.Add(-time.Hour)}, want: Hold},
		{name: "hosted age from its own time", rules: []Rule{gate}, s: Subject{Protocol: "npm", Package: "@acme/x", Version: "1.0.0", Owner: "acme"},
			t: Times{Published: now.Add(-8 * day)}, want: Allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rules []*Rule
			for _, r := range tc.rules {
				rules = append(rules, mustRule(t, r))
			}
			d := decide(rules, tc.s, tc.t, now)
			if d.Outcome != tc.want {
				t.Fatalf("outcome %s, want %s (%+v)", d.Outcome, tc.want, d)
			}
			if tc.rule != "" && (d.Rule == nil || d.Rule.ID != tc.rule) {
				t.Fatalf("rule %+v, want %s", d.Rule, tc.rule)
			}
			if !tc.until.IsZero() && !d.Until.Equal(tc.until) {
				t.Fatalf("until %v, want %v", d.Until, tc.until)
			}
			if msg := d.Message(tc.s); !strings.Contains(msg, tc.message) {
				t.Fatalf("message %q, want it to contain %q", msg, tc.message)
			}
		})
	}
}

func openStore(t *testing.T) hosted.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

func TestEngine(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var notified []hosted.Change
	e := New(st, Options{Now: clock, Notify: func(_ context.Context, c hosted.Change) { notified = append(notified, c) }})

	if _, err := e.Decide(Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, Times{}); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("Decide before Load = %v, want Unavailable (fail closed)", err)
	}
	if err := e.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := e.Decide(Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, Times{}); err != nil || !d.Allowed() {
		t.Fatalf("no rules: %+v, %v", d, err)
	}
	r, err := e.Create(ctx, Rule{Scope: "platform", Protocol: "npm", Package: "*", MinAge: Duration(7 * 24 * time.Hour)}, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(notified) != 1 || notified[0].Kind != hosted.ChangePolicy {
		t.Fatalf("notified %v", notified)
	}
	if got := e.Rules(); len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("rules in force %+v", got)
	}

	// Another edge over the same store sees the rule once told.
	other := New(st, Options{Now: clock})
	if err := other.Load(ctx); err != nil || len(other.Rules()) != 1 {
		t.Fatalf("other edge: %v %+v", err, other.Rules())
	}

	// First seen: recorded once; a later record keeps the first time.
	seen, err := e.FirstSeen.Record(ctx, "npm", "a", []string{"1.0.0", "2.0.0"}, map[string]time.Time{"1.0.0": now.Add(-400 * 24 * time.Hour)})
	if err != nil || !seen["1.0.0"].Equal(now) || !seen["2.0.0"].Equal(now) {
		t.Fatalf("Record: %v %v", seen, err)
	}
	later := now.Add(24 * time.Hour)
	fs2 := NewFirstSeen(st, func() time.Time { return later })
	seen2, err := fs2.Record(ctx, "npm", "a", []string{"1.0.0", "3.0.0"}, nil)
	if err != nil || !seen2["1.0.0"].Equal(now) || !seen2["3.0.0"].Equal(later) || !seen2["2.0.0"].Equal(now) {
		t.Fatalf("second Record: %v %v", seen2, err)
	}

	d, err := e.Decide(Subject{Protocol: "npm", Package: "a", Version: "1.0.0"}, Times{Published: now.Add(-400 * 24 * time.Hour), FirstSeen: seen["1.0.0"]})
	if err != nil || d.Outcome != Hold {
		t.Fatalf("forged old date: %+v %v, want hold", d, err)
	}

	rep, err := e.DryRun(ctx, Rule{Scope: "platform", Protocol: "npm", Package: "a", MinAge: Duration(48 * time.Hour)})
	if err != nil || rep.Scanned != 3 || rep.Count != 3 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	rep, err = e.DryRun(ctx, Rule{Scope: "platform", Protocol: "npm", Package: "a", Deny: "2.0.0"})
	if err != nil || rep.Count != 1 || rep.Held[0].Version != "2.0.0" || rep.Held[0].Outcome != Deny {
		t.Fatalf("dry run deny: %+v %v", rep, err)
	}

	up, err := e.Replace(ctx, r.ID, Rule{Scope: "platform", Protocol: "npm", Package: "b", MinAge: Duration(time.Hour)}, "u2")
	if err != nil || up.ID != r.ID || up.Package != "b" || up.UpdatedBy != "u2" || !up.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("Replace: %+v %v", up, err)
	}
	if err := e.Delete(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(ctx, r.ID); !fault.Is(err, fault.NotFound) {
		t.Fatalf("second Delete = %v, want NotFound", err)
	}
	if len(e.Rules()) != 0 {
		t.Fatalf("rules after delete %+v", e.Rules())
	}
	other.Changed(hosted.Change{Kind: hosted.ChangePolicy})
	deadline := time.Now().Add(5 * time.Second)
	for len(other.Rules()) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(other.Rules()) != 0 {
		t.Fatal("the other edge kept a deleted rule after a change")
	}
}
