package hosted_test

import (
	"context"
	"slices"
	"testing"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// TestClaimKey: names a protocol's clients take for one package are one
// claim key; names they tell apart are not.
func TestClaimKey(t *testing.T) {
	for _, tc := range []struct {
		protocol, a, b string
		same           bool
	}{
		{"rubygems", "Acme-Gem", "acme_gem", true},
		{"rubygems", "acme.gem", "acme-gem", true},
		{"rubygems", "acme--gem", "acme_gem", true},
		{"rubygems", "acmegem", "acme_gem", false},
		{"pypi", "Foo.Bar", "foo-bar", true},
		{"pypi", "foo__bar", "foo-bar", true},
		{"pypi", "foobar", "foo-bar", false},
		{"cargo", "Foo-Bar", "foo_bar", true},
		{"cargo", "foo-bar", "foo_bar", true},
		{"cargo", "foobar", "foo_bar", false},
		{"maven", "com.Acme", "com.acme", true},
		{"maven", "com.acme-tools", "com.acme_tools", false},
		{"npm", "JSONStream", "jsonstream", true},
		{"npm", "@Acme", "@acme", true},
		{"npm", "foo-bar", "foo_bar", false},
		{"composer", "Acme", "acme", true},
		{"oci", "acme", "acme", true},
		{"unknown", "A", "a", false},
	} {
		t.Run(tc.protocol+" "+tc.a+" "+tc.b, func(t *testing.T) {
			ka, kb := hosted.ClaimKey(tc.protocol, tc.a), hosted.ClaimKey(tc.protocol, tc.b)
			if (ka == kb) != tc.same {
				t.Fatalf("%q → %q, %q → %q, want same=%v", tc.a, ka, tc.b, kb, tc.same)
			}
		})
	}
}

// TestFoldKeepsNormalForms: the names the protocols normalize already
// (stored claims are keyed by them) fold to themselves, without
// allocating.
func TestFoldKeepsNormalForms(t *testing.T) {
	for _, tc := range []struct{ protocol, ns string }{
		{"pypi", "foo-bar"}, {"cargo", "foo_bar"}, {"rubygems", "acme-gem"}, {"maven", "com.acme.tools"}, {"npm", "@acme"},
	} {
		if got := hosted.FoldClaim(tc.protocol, tc.ns); got != tc.ns {
			t.Errorf("%s %q folds to %q", tc.protocol, tc.ns, got)
		}
		if n := testing.AllocsPerRun(100, func() { hosted.FoldClaim(tc.protocol, tc.ns) }); n != 0 {
			t.Errorf("%s %q: %v allocations", tc.protocol, tc.ns, n)
		}
	}
}

func TestFirstClaimAllowed(t *testing.T) {
	for _, tc := range []struct {
		protocol, ns, org string
		ok                bool
	}{
		{"maven", "com", "acme", false},
		{"maven", "com.acme", "acme", true},
		{"maven", "com.Acme", "acme", true},
		{"maven", "io.acme", "acme", true},
		{"maven", "com.acme", "rival", false},
		{"maven", "com.example", "acme", false},
		{"maven", "com.acme.x", "rival", true},
		{"pypi", "x", "acme", true},
		{"rubygems", "x", "acme", true},
	} {
		if got := hosted.FirstClaimAllowed(tc.protocol, tc.ns, tc.org); got != tc.ok {
			t.Errorf("%s %s for %s: %v, want %v", tc.protocol, tc.ns, tc.org, got, tc.ok)
		}
	}
}

// TestClaimFree: a first claim is refused above and below another
// organization's claim (in any case), allowed beside it and around the
// organization's own; names differing in case or separators are one
// claim.
func TestClaimFree(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	for _, cl := range []hosted.Claim{
		{Protocol: "maven", Namespace: "com.acme.tools", OrgID: "acme"},
		{Protocol: "maven", Namespace: "org.rival", OrgID: "rival"},
		{Protocol: "rubygems", Namespace: "acme_gem", OrgID: "acme"},
	} {
		if _, err := c.ClaimFree(ctx, cl); err != nil {
			t.Fatalf("%+v: %v", cl, err)
		}
	}
	for _, tc := range []struct {
		name string
		cl   hosted.Claim
		ok   bool
	}{
		{"prefix of another's", hosted.Claim{Protocol: "maven", Namespace: "com.acme", OrgID: "rival"}, false},
		{"prefix of another's, other case", hosted.Claim{Protocol: "maven", Namespace: "com.Acme", OrgID: "rival"}, false},
		{"extension of another's", hosted.Claim{Protocol: "maven", Namespace: "com.acme.tools.x", OrgID: "rival"}, false},
		{"extension of another's, other case", hosted.Claim{Protocol: "maven", Namespace: "COM.ACME.TOOLS.X", OrgID: "rival"}, false},
		{"same name, other case", hosted.Claim{Protocol: "maven", Namespace: "com.acme.Tools", OrgID: "rival"}, false},
		{"prefix of one's own", hosted.Claim{Protocol: "maven", Namespace: "com.acme", OrgID: "acme"}, true},
		{"sibling", hosted.Claim{Protocol: "maven", Namespace: "com.acmex", OrgID: "rival"}, true},
		{"now a prefix of another's", hosted.Claim{Protocol: "maven", Namespace: "com", OrgID: "acme"}, false},
		{"below one's own", hosted.Claim{Protocol: "maven", Namespace: "org.rival.x", OrgID: "rival"}, true},
		{"gem variant", hosted.Claim{Protocol: "rubygems", Namespace: "Acme-Gem", OrgID: "rival"}, false},
		{"gem with a prefix name", hosted.Claim{Protocol: "rubygems", Namespace: "acme", OrgID: "rival"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ClaimFree(ctx, tc.cl)
			if tc.ok && err != nil || !tc.ok && !fault.Is(err, fault.Conflict) {
				t.Fatalf("%v, want ok=%v", err, tc.ok)
			}
		})
	}
	// The gem's variants resolve to its one claim.
	for _, ns := range []string{"Acme-Gem", "acme.gem", "ACME_GEM"} {
		if cl, err := c.ClaimOf(ctx, "rubygems", ns); err != nil || cl.OrgID != "acme" {
			t.Fatalf("%s: %+v %v", ns, cl, err)
		}
	}
	// An administrator's explicit claim (Claim) may still overlap.
	if _, err := c.Claim(ctx, hosted.Claim{Protocol: "maven", Namespace: "com.acme.tools.rival", OrgID: "rival"}); err != nil {
		t.Fatal(err)
	}
}

// TestRekeyClaims: a claim stored under its name as written, before
// names were folded, moves to its folded key and is found by every
// spelling; a second run moves nothing.
func TestRekeyClaims(t *testing.T) {
	ctx := context.Background()
	c := newCatalog(t)
	legacy := hosted.Collection{Name: "claims", Index: []string{"org"}}
	rec := hosted.Record{ID: "rubygems:Acme-Gem", Keys: map[string]string{"org": "acme"},
		Data: []byte(`{"protocol":"rubygems","namespace":"Acme-Gem","orgId":"acme","repoId":"r"}`)}
	if _, err := c.Store().Create(ctx, legacy, rec); err != nil {
		t.Fatal(err)
	}
	if n, err := c.RekeyClaims(ctx); n != 1 || err != nil {
		t.Fatalf("moved %d, %v", n, err)
	}
	if cl, err := c.ClaimOf(ctx, "rubygems", "acme_gem"); err != nil || cl.Namespace != "Acme-Gem" || cl.OrgID != "acme" {
		t.Fatalf("%+v %v", cl, err)
	}
	if n, err := c.RekeyClaims(ctx); n != 0 || err != nil {
		t.Fatalf("second run moved %d, %v", n, err)
	}
	if cls, err := c.Claims(ctx, "acme"); err != nil || len(cls) != 1 {
		t.Fatalf("claims %+v %v", cls, err)
	}
}

// TestSpellings: the spellings a first publish asks the upstream about
// are each one name to the claim (one ClaimKey), the likeliest first,
// without repeats, and bounded.
func TestSpellings(t *testing.T) {
	for _, tc := range []struct {
		protocol, namespace string
		want                []string
	}{
		{"npm", "left-pad", []string{"left-pad"}},
		{"npm", "JSONStream", []string{"JSONStream", "jsonstream"}},
		{"maven", "com.Rival.Mixed", []string{"com.Rival.Mixed", "com.rival.mixed"}},
		{"composer", "acme", []string{"acme"}},
		{"pypi", "My_Project", []string{"my-project"}},
		{"rubygems", "Rails_HTML", []string{"Rails_HTML", "rails_html", "rails-html"}},
		{"rubygems", "rack", []string{"rack"}},
		{"cargo", "serde_json", []string{"serde_json", "serde-json"}},
		{"cargo", "a-b_c", []string{"a-b_c", "a-b-c", "a_b-c", "a_b_c"}},
		{"cargo", "a-b-c-d-e-f", []string{"a-b-c-d-e-f", "a_b_c_d_e_f"}},
		{"unknown", "Name", []string{"Name"}},
	} {
		got := hosted.Spellings(tc.protocol, tc.namespace)
		if !slices.Equal(got, tc.want) {
			t.Errorf("hosted.Spellings(%s, %q) = %q, want %q", tc.protocol, tc.namespace, got, tc.want)
		}
		for _, s := range got {
			if hosted.ClaimKey(tc.protocol, s) != hosted.ClaimKey(tc.protocol, tc.namespace) {
				t.Errorf("%s: %q is not one name with %q", tc.protocol, s, tc.namespace)
			}
		}
		if len(got) > 16 {
			t.Errorf("%s %q: %d spellings", tc.protocol, tc.namespace, len(got))
		}
	}
	if n := len(hosted.Spellings("cargo", "a-b-c-d-e")); n != 16 {
		t.Errorf("a crate name with 4 separators has %d spellings, want 16", n)
	}
}
