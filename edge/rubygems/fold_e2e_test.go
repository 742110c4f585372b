package rubygems

import (
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestE2ENameVariantsAreOneClaim: gem names that differ only in case or in
// '-', '_' and '.' are one name for claiming, as RubyGems tells them
// apart: with acme_gem held by acme, rival's `gem push` of Acme-Gem is
// refused, and every spelling resolves against acme's hosted gem, never
// the upstream.
func TestE2ENameVariantsAreOneClaim(t *testing.T) {
	gemBin := testkit.RequireTool(t, "gem")
	up := testkit.NewUpstream(t)
	s := testkit.Start(t, "UPSTREAM_RUBYGEMS="+up.URL+"/", "ENABLE_UPSTREAM_CACHE=false")
	acme := s.Token(t, s.OrgMember(t, "acme", "dev", "dev-password-123456", "owner"), nil, nil, nil)
	rival := s.Token(t, s.OrgMember(t, "rival", "eve", "eve-password-123456", "owner"), nil, nil, nil)
	host := s.URL + "/rubygems"
	dir := t.TempDir()

	if out := testkit.MustRun(t, dir, rubyEnv(t, "GEM_HOST_API_KEY="+acme), gemBin, "push", buildGem(t, dir, "acme_gem", "1.0.0", nil, 0), "--host", host); !strings.Contains(out, "Successfully registered gem") {
		t.Fatalf("gem push acme_gem: %s", out)
	}
	for _, name := range []string{"Acme-Gem", "acme.gem"} {
		out, err := testkit.Run(t, dir, rubyEnv(t, "GEM_HOST_API_KEY="+rival), gemBin, "push", buildGem(t, dir, name, "2.0.0", nil, 0), "--host", host)
		if err == nil || !strings.Contains(out, "another organization") {
			t.Fatalf("rival's gem push %s: err %v\n%s", name, err, out)
		}
	}
	// The upstream has an Acme-Gem; the claim hides it from everyone.
	// (acme's first push asked the upstream about acme_gem.)
	before := up.TotalHits()
	up.Handle("/info/Acme-Gem", []byte("---\n9.9.9 |checksum:"+strings.Repeat("0", 64)+"\n"))
	for _, name := range []string{"Acme-Gem", "ACME_GEM", "acme.gem"} {
		if st, body := s.Get("/rubygems/info/" + name); st == 200 || strings.Contains(string(body), "9.9.9") {
			t.Fatalf("/info/%s resolved upstream: %d %s", name, st, body)
		}
	}
	if n := up.TotalHits() - before; n != 0 {
		t.Fatalf("claimed name variants went upstream %d times", n)
	}
}
