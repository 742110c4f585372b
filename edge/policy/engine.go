package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

var rulesC = hosted.Collection{Name: "policy_rules", Index: []string{"scope"}}

// MaxRules bounds the rules a store holds: every decision walks them all.
const MaxRules = 1000

// Options configure an Engine.
type Options struct {
	// Protocols are the names a rule's protocol may take besides "*"; nil
	// takes any.
	Protocols []string
	// Notify tells the other edges that the rules changed (the registry's
	// change feed); nil tells no one.
	Notify func(context.Context, hosted.Change)
	// Audit is told of every artifact refusal (Admit); nil records none.
	Audit func(ctx context.Context, s Subject, d Decision)
	// Metrics registers entrepot_policy_decisions_total; nil registers
	// nothing.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Engine keeps the rules in the store and in memory and decides with
// them. It is safe for concurrent use.
type Engine struct {
	meta      hosted.Store
	opts      Options
	rules     atomic.Pointer[[]*Rule] // nil until the first load succeeds: everything is refused then
	reloadMu  sync.Mutex
	decisions *prometheus.CounterVec
	FirstSeen *FirstSeen
}

// New returns an Engine over meta. Call Load before serving.
func New(meta hosted.Store, opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{meta: meta, opts: opts, FirstSeen: NewFirstSeen(meta, opts.Now)}
	e.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "entrepot_policy_decisions_total",
		Help: "Supply-chain policy decisions, by protocol, what was decided on (listing or artifact) and outcome (allow, exempt, hold, deny, error).",
	}, []string{"protocol", "on", "outcome"})
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(e.decisions)
	}
	return e
}

// Load reads every rule from the store and puts them in force. On error
// the rules in force stay (none before the first success, and then every
// decision fails closed).
func (e *Engine) Load(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	var rules []*Rule
	after := ""
	for {
		recs, next, err := e.meta.Query(ctx, rulesC, hosted.Query{After: after})
		if err != nil {
			return fault.Op("policy.Load", err)
		}
		for _, rec := range recs {
			var r Rule
			if err := json.Unmarshal(rec.Data, &r); err != nil {
				return fault.Wrap("policy.Load", fault.Internal, err)
			}
			if err := r.Check(nil); err != nil {
				// A rule stored by a newer or older edge that this one
				// cannot read: refuse rather than ignore it.
				return fault.Wrap("policy.Load", fault.Internal, err)
			}
			rules = append(rules, &r)
		}
		if next == "" || len(rules) >= MaxRules {
			break
		}
		after = next
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	e.rules.Store(&rules)
	return nil
}

// Changed reloads the rules when the change feed reports a policy change
// (or could not be read): the registry's OnChange subscriber. The store
// read runs apart from the feed's dispatch.
func (e *Engine) Changed(c hosted.Change) {
	if c.Kind != hosted.ChangePolicy && c.Kind != hosted.ChangeAll {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // no request: the feed's
		defer cancel()
		if err := e.Load(ctx); err != nil {
			e.opts.Logger.Warn("policy rules unreadable; those in force stay", "error", err)
		}
	}()
}

// Rules returns the rules in force, by id; nil before the first Load.
func (e *Engine) Rules() []Rule {
	p := e.rules.Load()
	if p == nil {
		return nil
	}
	out := make([]Rule, len(*p))
	for i, r := range *p {
		out[i] = *r
	}
	return out
}

// errUnloaded is the fail-closed answer while no rules could be read.
func errUnloaded(op string) error {
	return fault.New(op, fault.Unavailable, "the supply-chain policy could not be read; nothing is served until it can")
}

// Decide applies the rules in force to s for a listing (a packument, a
// simple page, an index line): the caller hides what is not Allowed.
// Unavailable until the first Load succeeded: fail closed.
func (e *Engine) Decide(s Subject, t Times) (Decision, error) {
	return e.decide("listing", s, t)
}

// Admit applies the rules to an artifact request (a tarball, a wheel, a
// crate): a refusal is audited. The caller answers a refused Decision
// with its protocol's Forbidden error carrying Decision.Message.
func (e *Engine) Admit(ctx context.Context, s Subject, t Times) (Decision, error) {
	d, err := e.decide("artifact", s, t)
	if err == nil && !d.Allowed() && e.opts.Audit != nil {
		e.opts.Audit(ctx, s, d)
	}
	return d, err
}

func (e *Engine) decide(on string, s Subject, t Times) (Decision, error) {
	p := e.rules.Load()
	if p == nil {
		e.decisions.WithLabelValues(s.Protocol, on, "error").Inc()
		return Decision{}, errUnloaded("policy.Decide")
	}
	if len(*p) == 0 {
		return Decision{Outcome: Allow}, nil // no policy: not counted, the common case costs nothing
	}
	d := decide(*p, s, t, e.opts.Now())
	e.decisions.WithLabelValues(s.Protocol, on, string(d.Outcome)).Inc()
	return d, nil
}

// Active reports whether any rule binds protocol: when none does, a
// protocol skips the policy's look-ups (first-seen times) altogether.
// True before the first Load (fail closed).
func (e *Engine) Active(protocol string) bool {
	p := e.rules.Load()
	if p == nil {
		return true
	}
	for _, r := range *p {
		if r.Protocol == AnyProtocol || r.Protocol == protocol {
			return true
		}
	}
	return false
}

// Get returns rule id: NotFound when there is none.
func (e *Engine) Get(ctx context.Context, id string) (Rule, error) {
	var r Rule
	if _, err := hosted.GetJSON(ctx, e.meta, rulesC, id, &r); err != nil {
		return Rule{}, fault.Op("policy.Get", err)
	}
	return r, nil
}

// Create checks r, gives it an id and stores it; the rule is in force on
// every edge within the change feed's delay (on this one at once).
func (e *Engine) Create(ctx context.Context, r Rule, by string) (Rule, error) {
	const op = "policy.Create"
	if err := r.Check(e.opts.Protocols); err != nil {
		return Rule{}, err
	}
	if n := len(e.Rules()); n >= MaxRules {
		return Rule{}, fault.Newf(op, fault.Conflict, "at most %d policy rules", MaxRules)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	r.ID = "pol_" + hex.EncodeToString(b[:])
	now := e.opts.Now().UTC()
	r.CreatedAt, r.UpdatedAt, r.UpdatedBy = now, now, by
	if _, err := hosted.CreateJSON(ctx, e.meta, rulesC, r.ID, map[string]string{"scope": r.Scope}, r); err != nil {
		return Rule{}, fault.Op(op, err)
	}
	e.changed(ctx)
	return r, nil
}

// Replace replaces rule id by r (its id and creation kept): NotFound when
// there is none.
func (e *Engine) Replace(ctx context.Context, id string, r Rule, by string) (Rule, error) {
	const op = "policy.Replace"
	if err := r.Check(e.opts.Protocols); err != nil {
		return Rule{}, err
	}
	out, err := hosted.Update(ctx, e.meta, rulesC, id, func(v *Rule, keys map[string]string) error {
		r.ID, r.CreatedAt = v.ID, v.CreatedAt
		r.UpdatedAt, r.UpdatedBy = e.opts.Now().UTC(), by
		*v = r
		keys["scope"] = r.Scope
		return nil
	})
	if err != nil {
		return Rule{}, fault.Op(op, err)
	}
	e.changed(ctx)
	return out, nil
}

// Delete removes rule id: NotFound when there is none.
func (e *Engine) Delete(ctx context.Context, id string) error {
	const op = "policy.Delete"
	if _, err := e.Get(ctx, id); err != nil {
		return fault.Op(op, err)
	}
	if err := e.meta.Delete(ctx, rulesC, id); err != nil {
		return fault.Op(op, err)
	}
	e.changed(ctx)
	return nil
}

// changed puts a change in force here at once and tells the other edges.
func (e *Engine) changed(ctx context.Context) {
	if err := e.Load(ctx); err != nil {
		e.opts.Logger.Warn("policy rules unreadable after a change", "error", err)
	}
	if e.opts.Notify != nil {
		e.opts.Notify(context.WithoutCancel(ctx), hosted.Change{Kind: hosted.ChangePolicy})
	}
}

// Held is one version a dry run found the rule would hold back or deny.
type Held struct {
	Protocol  string    `json:"protocol"`
	Package   string    `json:"package"`
	Version   string    `json:"version"`
	Outcome   Outcome   `json:"outcome"`
	FirstSeen time.Time `json:"firstSeen"`
	Published time.Time `json:"published,omitzero"`
	Until     time.Time `json:"until,omitzero"`
}

// DryRunReport is what a rule would hide today.
type DryRunReport struct {
	Rule    Rule   `json:"rule"`
	Scanned int    `json:"scanned"` // first-seen records looked at
	Count   int    `json:"count"`
	Held    []Held `json:"held"` // the first maxDryRun of them
	// Truncated says the scan stopped at maxDryScan records.
	Truncated bool `json:"truncated,omitempty"`
}

const (
	maxDryScan = 20 * hosted.MaxPage
	maxDryRun  = 500
)

// DryRun reports which mirrored versions this registry has seen that r
// would hold back or deny now, alone (other rules and exemptions aside).
// An org-scoped rule is judged as for a member of the organization.
// Hosted versions are not scanned.
func (e *Engine) DryRun(ctx context.Context, r Rule) (DryRunReport, error) {
	const op = "policy.DryRun"
	if err := r.Check(e.opts.Protocols); err != nil {
		return DryRunReport{}, err
	}
	if r.ID == "" {
		r.ID = "dry-run"
	}
	rep := DryRunReport{Rule: r, Held: []Held{}}
	now := e.opts.Now()
	var orgs []string
	if r.Scope != PlatformScope {
		orgs = []string{r.Org()}
	}
	err := e.FirstSeen.scan(ctx, r.Protocol, func(fs seenRecord) bool {
		rep.Scanned++
		s := Subject{Protocol: fs.Protocol, Package: fs.Package, Version: fs.Version, CallerOrgs: orgs}
		d := decide([]*Rule{&r}, s, Times{Published: fs.Published, FirstSeen: fs.FirstSeen}, now)
		if !d.Allowed() {
			rep.Count++
			if len(rep.Held) < maxDryRun {
				rep.Held = append(rep.Held, Held{Protocol: fs.Protocol, Package: fs.Package, Version: fs.Version,
					Outcome: d.Outcome, FirstSeen: fs.FirstSeen, Published: fs.Published, Until: d.Until})
			}
		}
		if rep.Scanned >= maxDryScan {
			rep.Truncated = true
			return false
		}
		return true
	})
	if err != nil {
		return DryRunReport{}, fault.Op(op, err)
	}
	return rep, nil
}
