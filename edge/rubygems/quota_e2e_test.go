package rubygems

import (
	"strings"
	"testing"

	"entrepot/deploy/testkit"
)

// TestE2EQuota: with a platform quota of 16 KiB, `gem push` of a small
// gem succeeds and of one whose bytes go past the quota is refused, the
// reason shown by gem; the refused version is nowhere in the index.
func TestE2EQuota(t *testing.T) {
	gemBin := testkit.RequireTool(t, "gem")
	s := testkit.Start(t, "QUOTA=16KiB")
	token := s.Token(t, s.OrgMember(t, "acme", "dev", "dev-password-123456", "admin"), nil, nil, nil)
	host := s.URL + "/rubygems"
	dir := t.TempDir()
	small := buildGem(t, dir, "quotagem", "1.0.0", nil, 0)
	big := buildGem(t, dir, "quotagem", "1.1.0", nil, 24<<10)
	env := rubyEnv(t, "GEM_HOST_API_KEY="+token)
	if out := testkit.MustRun(t, dir, env, gemBin, "push", small, "--host", host); !strings.Contains(out, "Successfully registered gem") {
		t.Fatalf("gem push: %s", out)
	}
	out, err := testkit.Run(t, dir, env, gemBin, "push", big, "--host", host)
	if err == nil && strings.Contains(out, "Successfully registered") || !strings.Contains(out, "storage quota is exceeded") {
		t.Fatalf("gem push over the quota: err=%v\n%s", err, out)
	}
	if st, body := s.Get("/rubygems/info/quotagem"); strings.Contains(string(body), "1.1.0") {
		t.Fatalf("/info lists the refused version: %d %s", st, body)
	}
}
