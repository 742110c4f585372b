// Package claimtest is the conformance suite of what a first publish may
// claim (edge.Registry.ClaimForPublish), run by every protocol (OCI,
// whose first path segment is an organization's and whose mirrors sit
// under their own prefixes, runs the cases that need no upstream name:
// Protocol.Unmirrored; its mirror prefixes are tested in its
// claim_test.go): a first publish never takes a name the
// upstream serves (under any spelling its clients take for that name), an
// upstream that cannot tell refuses the publish, a failed publish claims
// nothing, a publish into an organization the caller does not belong to
// creates nothing there, and an administrator's claim made on purpose
// lets the publish through and keeps the upstream out of it.
//
// The suite drives the wire only: an in-process edge serving the
// protocol and the management API, mirroring a fake upstream. A protocol
// supplies an adapter (Protocol): how to publish, how to read, how the
// upstream serves a name and what a name's spellings are. Cases that do
// not generalise (npm scopes, Maven's groupId hierarchy, OCI's mirror
// prefixes) stay in the protocol's own tests.
package claimtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"entrepot/deploy/testkit"
	"entrepot/edge"
	"entrepot/edge/api"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Protocol is what a protocol tells the suite.
type Protocol struct {
	// Name is the protocol as hosted and auth spell it ("npm").
	Name string
	// Mount mounts the protocol's handler on m, mirroring up. The suite
	// mounts the management API itself.
	Mount func(t *testing.T, r *edge.Registry, m *edge.Mux, up *testkit.Upstream)
	// Claim is the protocol's rule for claims made through the API.
	Claim api.ClaimRule
	// MetadataTTL is the edge's; zero keeps the default.
	MetadataTTL time.Duration

	// Publish publishes a valid package name@version as token and returns
	// the status and the message the protocol's error format carries (""
	// on success); it fails the test on an answer outside that format.
	Publish func(t *testing.T, e *Env, token, name, version string) (int, string)
	// Published is the status of a publish that succeeds (200 or 201).
	Published int
	// Bad are publishes that fail the protocol's checks (400).
	Bad []Bad

	// Serve has the upstream serve name at version.
	Serve func(up *testkit.Upstream, name, version string)
	// Lookup is the upstream path the edge asks about name: the suite
	// makes it fail, and counts the requests it sees.
	Lookup func(name string) string
	// Versions reads name's document through the edge as token ("":
	// anonymously) and returns the status and the versions it lists.
	Versions func(t *testing.T, e *Env, token, name string) (int, []string)
	// AuthenticatedReads makes the suite read as the rival instead of
	// anonymously (cargo's index asks for credentials).
	AuthenticatedReads bool

	// Spell writes the package base in org's namespace ("vendor/base" in
	// Composer); nil: base, for protocols whose names are flat. The suite
	// spells every name it makes, Free and Taken included.
	Spell func(org, base string) string
	// OrgNamespaces says a namespace named like an organization is that
	// organization's and never resolves upstream (Composer's vendors):
	// where the suite would read the upstream's copy of such a name, it
	// checks that nothing answers instead.
	OrgNamespaces bool
	// Unmirrored says no name the protocol publishes resolves upstream
	// (OCI: mirrors sit under prefixes of their own): the cases about
	// names the upstream serves, or cannot tell about, are skipped, and
	// Serve and Lookup may do nothing. It implies OrgNamespaces.
	Unmirrored bool
	// Key is the name under which the catalog records a package, and
	// Namespace what a first publish of a name claims; nil: the name.
	Key, Namespace func(name string) string

	// Free is a name nobody has; Taken one the upstream serves, and
	// ClaimAs the spelling an administrator claims Taken under ("":
	// Taken), each before Spell.
	Free, Taken, ClaimAs string
	// Spellings are pairs {published, served}: names the protocol's
	// clients take for one, so that serving the second refuses the first.
	Spellings [][2]string
}

// Bad is a publish that fails the protocol's checks.
type Bad struct {
	Case string
	// Publish sends the faulty publish of name as token.
	Publish func(t *testing.T, e *Env, token, name string) (int, string)
	// Says is part of the error message ("": anything).
	Says string
}

// Env is one case's edge: the organization "acme" is the platform
// admin's, and "rival" is eve's: eve is a member of rival only.
type Env struct {
	*testkit.Edge
	Up       *testkit.Upstream
	Rival    testkit.Rival
	RivalOrg string // rival's id
	p        *Protocol
	calls    *storeCalls
}

// Run runs every case against a fresh edge serving p.
func Run(t *testing.T, p Protocol) {
	cases := []struct {
		name string
		fn   func(t *testing.T, e *Env)
	}{
		{"SquattingRefused", testSquattingRefused},
		{"SpellingsRefused", testSpellingsRefused},
		{"UpstreamCannotTell", testUpstreamCannotTell},
		{"FreeNameClaimed", testFreeNameClaimed},
		{"ClaimedOnPurpose", testClaimedOnPurpose},
		{"FailedPublishClaimsNothing", testFailedPublish},
		{"NonMemberRefused", testNonMember},
		{"StoreCallsCarryTheRequest", testRequestContext},
	}
	upstreamCases := map[string]bool{"SquattingRefused": true, "SpellingsRefused": true, "UpstreamCannotTell": true}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if p.Unmirrored && upstreamCases[c.name] {
				t.Skip("no name of the protocol's resolves upstream")
			}
			t.Parallel()
			c.fn(t, NewEnv(t, p))
		})
	}
}

// NewEnv starts a case's edge serving p, for a protocol's own cases.
func NewEnv(t *testing.T, p Protocol) *Env {
	t.Helper()
	up := testkit.NewUpstream(t)
	calls := &storeCalls{}
	opts := testkit.EdgeOptions{MetadataTTL: p.MetadataTTL, WrapStore: calls.wrap}
	e := testkit.StartEdge(t, opts, func(r *edge.Registry, m *edge.Mux) {
		p.Mount(t, r, m, up)
		api.New(r, api.Options{Claims: map[string]api.ClaimRule{p.Name: p.Claim}}).Mount(m.Group(api.Prefix))
	})
	env := &Env{Edge: e, Up: up, Rival: e.Rival(t, "eve", "rival"), p: &p, calls: calls}
	org, err := e.Auth.GetOrg(t.Context(), "rival")
	if err != nil {
		t.Fatal(err)
	}
	env.RivalOrg = org.ID
	return env
}

// NewHotEnv is an Env for allocation guards and benchmarks of the hot
// read path: metadata is cached for the edge's default time (p's
// MetadataTTL is dropped), the upstream serves mirrored at 1.0.0, and
// acme holds hosted at 1.0.0, published by its owner (Env.Token).
func NewHotEnv(t *testing.T, p Protocol, mirrored, hosted string) *Env {
	t.Helper()
	p.MetadataTTL = 0
	e := NewEnv(t, p)
	p.Serve(e.Up, mirrored, "1.0.0")
	if st, msg := p.Publish(t, e, e.Token, hosted, "1.0.0"); st != p.Published {
		t.Fatalf("publish of %s: %d %q", hosted, st, msg)
	}
	return e
}

// spell writes base in org's namespace.
func (e *Env) spell(org, base string) string {
	if e.p.Spell == nil {
		return base
	}
	return e.p.Spell(org, base)
}

func (e *Env) key(name string) string {
	if e.p.Key == nil {
		return name
	}
	return e.p.Key(name)
}

func (e *Env) namespace(name string) string {
	if e.p.Namespace == nil {
		return name
	}
	return e.p.Namespace(name)
}

// readToken is who the suite reads as.
func (e *Env) readToken() string {
	if e.p.AuthenticatedReads {
		return e.Rival.Token
	}
	return ""
}

// unclaimed fails the test when name's namespace is claimed or name has
// a hosted package.
func (e *Env) unclaimed(t *testing.T, name string) {
	t.Helper()
	ctx := t.Context()
	if cl, err := e.Registry.Catalog.ClaimOf(ctx, e.p.Name, e.namespace(name)); !fault.Is(err, fault.NotFound) {
		t.Fatalf("%s is claimed (%+v, %v)", e.namespace(name), cl, err)
	}
	if _, err := e.Registry.Catalog.Package(ctx, e.p.Name, e.key(name)); !fault.Is(err, fault.NotFound) {
		t.Fatalf("a package %s was recorded (%v)", name, err)
	}
}

// resolvesUpstream fails the test unless name's document lists exactly
// the upstream's version (nothing, under OrgNamespaces).
func (e *Env) resolvesUpstream(t *testing.T, name, version string) {
	t.Helper()
	st, vs := e.p.Versions(t, e, e.readToken(), name)
	if e.p.OrgNamespaces || e.p.Unmirrored {
		if st != http.StatusNotFound {
			t.Fatalf("%s in an organization's namespace: %d %v, want 404", name, st, vs)
		}
		return
	}
	if st != http.StatusOK || !slices.Equal(vs, []string{version}) {
		t.Fatalf("%s does not resolve upstream: %d %v, want %s", name, st, vs, version)
	}
}

// refused checks a publish refused because the upstream has the name.
func (e *Env) refused(t *testing.T, st int, msg, says string) {
	t.Helper()
	claim := "POST /api/v1/organizations/rival/claims"
	if st != http.StatusConflict || !strings.Contains(msg, says) || !strings.Contains(msg, claim) {
		t.Fatalf("publish of a name the upstream has: %d %q; want 409 saying %q and %q", st, msg, says, claim)
	}
}

// testSquattingRefused: a first publish of a name the upstream serves is
// refused, saying how an administrator claims it; nothing is claimed or
// recorded, and the name still resolves upstream.
func testSquattingRefused(t *testing.T, e *Env) {
	name := e.spell("rival", e.p.Taken)
	e.p.Serve(e.Up, name, "7.0.0")
	st, msg := e.p.Publish(t, e, e.Rival.Token, name, "99.0.0")
	e.refused(t, st, msg, e.namespace(name)+" exists on the upstream registry")
	e.unclaimed(t, name)
	e.resolvesUpstream(t, name, "7.0.0")
}

// testSpellingsRefused: the upstream serving one spelling of a name
// refuses a first publish of every other.
func testSpellingsRefused(t *testing.T, e *Env) {
	if len(e.p.Spellings) == 0 {
		t.Skip("the protocol's names have one spelling")
	}
	for _, sp := range e.p.Spellings {
		t.Run(sp[0], func(t *testing.T) {
			published, served := sp[0], sp[1]
			e.p.Serve(e.Up, served, "7.0.0")
			st, msg := e.p.Publish(t, e, e.Rival.Token, published, "99.0.0")
			e.refused(t, st, msg, "exists on the upstream registry")
			e.unclaimed(t, served)
			e.resolvesUpstream(t, served, "7.0.0")
		})
	}
}

// testUpstreamCannotTell: while the upstream fails, a first publish is
// refused with 503 rather than taken as free.
func testUpstreamCannotTell(t *testing.T, e *Env) {
	name := e.spell("rival", "flaky")
	e.Up.Set(e.p.Lookup(name), testkit.Route{Status: http.StatusInternalServerError})
	st, msg := e.p.Publish(t, e, e.Rival.Token, name, "1.0.0")
	if says := "cannot tell whether " + e.namespace(name) + " exists on the upstream registry"; st != http.StatusServiceUnavailable || !strings.Contains(msg, says) {
		t.Fatalf("publish while the upstream fails: %d %q; want 503 saying %q", st, msg, says)
	}
	e.unclaimed(t, name)
}

// testFreeNameClaimed: a first publish of a name the upstream lacks goes
// through and claims it for the publisher's organization.
func testFreeNameClaimed(t *testing.T, e *Env) {
	name := e.spell("rival", e.p.Free)
	if st, msg := e.p.Publish(t, e, e.Rival.Token, name, "1.0.0"); st != e.p.Published {
		t.Fatalf("publish of a free name: %d %q, want %d", st, msg, e.p.Published)
	}
	cl, err := e.Registry.Catalog.ClaimOf(t.Context(), e.p.Name, e.namespace(name))
	if err != nil {
		t.Fatalf("the first publish claimed nothing: %v", err)
	}
	if cl.OrgID != e.RivalOrg {
		t.Fatalf("claimed by %s, not rival", cl.OrgID)
	}
}

// testClaimedOnPurpose: a platform admin claims a name the upstream has
// for the rival, as the refusal says; then the publish goes through, the
// name is hosted, and the upstream is no longer asked about it.
func testClaimedOnPurpose(t *testing.T, e *Env) {
	name := e.spell("rival", e.p.Taken)
	e.p.Serve(e.Up, name, "7.0.0")
	admin, err := e.Auth.Login(t.Context(), "admin", testkit.AdminPassword, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	as := name
	if e.p.ClaimAs != "" {
		as = e.spell("rival", e.p.ClaimAs)
	}
	body := fmt.Sprintf(`{"protocol":%q,"namespace":%q}`, e.p.Name, e.namespace(as))
	var claim struct{ Namespace string }
	resp, raw := e.Do(t, "POST", "/api/v1/organizations/rival/claims", []byte(body),
		"Authorization", "Bearer "+admin.AccessToken, "Content-Type", "application/json")
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &claim) != nil || claim.Namespace != hosted.FoldClaim(e.p.Name, e.namespace(name)) {
		t.Fatalf("admin claim: %d %s", resp.StatusCode, raw)
	}
	hits := e.Up.Hits(e.p.Lookup(name))
	if st, msg := e.p.Publish(t, e, e.Rival.Token, name, "99.0.0"); st != e.p.Published {
		t.Fatalf("publish after the admin's claim: %d %q", st, msg)
	}
	if st, vs := e.p.Versions(t, e, e.Rival.Token, name); st != http.StatusOK || !slices.Equal(vs, []string{"99.0.0"}) {
		t.Fatalf("the claimed name: %d %v, want the hosted 99.0.0 only", st, vs)
	}
	if n := e.Up.Hits(e.p.Lookup(name)); n != hits {
		t.Fatalf("the upstream saw %d requests for the claimed name", n-hits)
	}
}

// testFailedPublish: a first publish that fails its checks claims and
// records nothing, whether or not the upstream has the name; a name the
// upstream has (or gains afterwards) still resolves there.
func testFailedPublish(t *testing.T, e *Env) {
	for i, bad := range e.p.Bad {
		t.Run(bad.Case, func(t *testing.T) {
			for _, onUpstream := range []bool{false, true} {
				name := e.spell("rival", fmt.Sprintf("bad-%d", i))
				if onUpstream {
					name = e.spell("rival", fmt.Sprintf("public-%d", i))
					e.p.Serve(e.Up, name, "3.0.0")
				}
				st, msg := bad.Publish(t, e, e.Rival.Token, name)
				if st != http.StatusBadRequest || !strings.Contains(msg, bad.Says) {
					t.Fatalf("%s: %d %q; want 400 saying %q", name, st, msg, bad.Says)
				}
				e.unclaimed(t, name)
				if _, err := e.Auth.RepoByName(t.Context(), e.RivalOrg, e.p.Name, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
					t.Fatalf("rival has a %s repository after a failed publish (%v)", e.p.Name, err)
				}
				e.p.Serve(e.Up, name, "3.0.0")
				e.resolvesUpstream(t, name, "3.0.0")
			}
		})
	}
}

// testNonMember: a publish with a token scoped to an organization its
// user does not belong to is refused (403) and creates nothing there,
// whether or not the upstream has the name, without asking the upstream
// anything; the organization's own publishes are unaffected.
func testNonMember(t *testing.T, e *Env) {
	ctx := t.Context()
	free, taken := e.spell("acme", e.p.Free), e.spell("acme", e.p.Taken)
	e.p.Serve(e.Up, taken, "7.0.0")
	for _, name := range []string{free, taken} {
		t.Run(name, func(t *testing.T) {
			hits := e.Up.Hits(e.p.Lookup(name))
			st, msg := e.p.Publish(t, e, e.Rival.IntoAcme, name, "1.0.0")
			if st != http.StatusForbidden || !strings.Contains(msg, `not a member of the organization "acme"`) {
				t.Fatalf("publish into acme by a non-member: %d %q", st, msg)
			}
			if n := e.Up.Hits(e.p.Lookup(name)) - hits; n != 0 {
				t.Fatalf("a non-member's publish asked the upstream about %s %d times", name, n)
			}
			e.unclaimed(t, name)
			if _, err := e.Auth.RepoByName(ctx, e.OrgID, e.p.Name, edge.DefaultRepo); !fault.Is(err, fault.NotFound) {
				t.Fatalf("acme has a %s repository after the refused publish (%v)", e.p.Name, err)
			}
		})
	}
	if st, msg := e.p.Publish(t, e, e.Token, e.spell("acme", "acme-"+e.p.Free), "1.0.0"); st != e.p.Published {
		t.Fatalf("publish by acme's owner: %d %q", st, msg)
	}
	if _, err := e.Auth.RepoByName(ctx, e.OrgID, e.p.Name, edge.DefaultRepo); err != nil {
		t.Fatalf("acme's repository after its publish: %v", err)
	}
}

// CheckClaimRule fails t unless rule, asked by org for namespace, either
// refuses with Invalid or answers a namespace it answers again unchanged
// and that the claim layer (hosted.FoldClaim) takes for the name asked:
// what a fuzz target of a protocol's NormalizeClaim asserts.
func CheckClaimRule(t *testing.T, protocol string, rule api.ClaimRule, org, namespace string) {
	t.Helper()
	n, err := rule(org, namespace)
	if err != nil {
		if !fault.Is(err, fault.Invalid) {
			t.Fatalf("NormalizeClaim(%q, %q): error of kind %v: %v", org, namespace, fault.KindOf(err), err)
		}
		return
	}
	if again, err := rule(org, n); err != nil || again != n {
		t.Fatalf("NormalizeClaim(%q, %q) = %q, which normalizes to %q, %v", org, namespace, n, again, err)
	}
	if f, asked := hosted.FoldClaim(protocol, n), hosted.FoldClaim(protocol, namespace); f != asked {
		t.Fatalf("NormalizeClaim(%q, %q) = %q, another name to the claim layer (%q, not %q)", org, namespace, n, f, asked)
	}
}
