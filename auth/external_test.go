package auth

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"entrepot/auth/ldap"
	"entrepot/auth/oidc"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

var testEncKey = bytes.Repeat([]byte{7}, 32)

func newExtService(t *testing.T) (*Service, hosted.Store) {
	t.Helper()
	st := newStore(t)
	s, err := New(st, Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), Password: cheap, EncryptionKey: testEncKey})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestSeal(t *testing.T) {
	s, _ := newExtService(t)
	sealed, err := s.Seal("a", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open("a", sealed); err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	other, _ := s.Seal("a", []byte("secret"))
	if other == sealed {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	for name, c := range map[string]struct{ aad, v string }{
		"other aad":   {"b", sealed},
		"flipped":     {"a", sealed[:len(sealed)-2] + "AA"},
		"short":       {"a", "AAAA"},
		"not base64":  {"a", "!!!"},
		"empty value": {"a", ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Open(c.aad, c.v)
			wantKind(t, err, fault.Unauthorized)
		})
	}
	nokey, _ := newService(t)
	_, err = nokey.Seal("a", []byte("x"))
	wantKind(t, err, fault.Unavailable)
	_, err = New(newStore(t), Config{SigningKey: []byte("0123456789abcdef0123456789abcdef"), EncryptionKey: []byte("short")})
	wantKind(t, err, fault.Invalid)
}

func TestProviderSecretsSealed(t *testing.T) {
	s, st := newExtService(t)
	ctx := context.Background()
	p, err := s.CreateProvider(ctx, Provider{Name: "dir", Type: ProviderLDAP, Enabled: true, LDAP: &ldap.Config{
		URL: "ldap://127.0.0.1:1", BaseDN: "dc=x", BindDN: "cn=svc,dc=x", BindPassword: "bind-secret-1",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if p.LDAP.BindPassword != "" || !p.SecretSet {
		t.Fatalf("create answered %+v", p.LDAP)
	}
	rec, err := st.Get(ctx, providersC, p.ID)
	if err != nil || bytes.Contains(rec.Data, []byte("bind-secret-1")) {
		t.Fatalf("stored in clear: %s %v", rec.Data, err)
	}
	// An empty secret on update keeps the stored one; a new one replaces it.
	upd := Provider{Name: "dir", Type: ProviderLDAP, Enabled: true, LDAP: &ldap.Config{URL: "ldap://127.0.0.1:2", BaseDN: "dc=x", BindDN: "cn=svc,dc=x"}}
	if _, err := s.UpdateProvider(ctx, p.ID, upd); err != nil {
		t.Fatal(err)
	}
	full, err := s.activeProvider(ctx, "t", p.ID, ProviderLDAP)
	if err != nil || full.LDAP.BindPassword != "bind-secret-1" || full.LDAP.URL != "ldap://127.0.0.1:2" {
		t.Fatalf("after update: %+v %v", full.LDAP, err)
	}
	upd.LDAP.BindPassword = "bind-secret-2"
	s.UpdateProvider(ctx, p.ID, upd)
	full, _ = s.activeProvider(ctx, "t", p.ID, ProviderLDAP)
	if full.LDAP.BindPassword != "bind-secret-2" {
		t.Fatalf("secret not replaced: %q", full.LDAP.BindPassword)
	}
	list, _ := s.ListProviders(ctx)
	if len(list) != 1 || list[0].LDAP.BindPassword != "" {
		t.Fatalf("list: %+v", list)
	}
	upd.Type = ProviderOIDC
	upd.OIDC = &oidc.Config{Issuer: "https://idp.example", ClientID: "c"}
	_, err = s.UpdateProvider(ctx, p.ID, upd)
	wantKind(t, err, fault.Invalid)
	// Disabled: no longer usable.
	if _, err := s.DisableProvider(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.activeProvider(ctx, "t", p.ID, ProviderLDAP)
	wantKind(t, err, fault.NotFound)
	// Without a key, a secret cannot be stored.
	nokey, _ := newService(t)
	_, err = nokey.CreateProvider(ctx, Provider{Name: "d", Type: ProviderOIDC, OIDC: &oidc.Config{Issuer: "https://i.example", ClientID: "c", ClientSecret: "s"}})
	wantKind(t, err, fault.Unavailable)
}

func TestProviderValidation(t *testing.T) {
	s, _ := newExtService(t)
	ldapOK := func() *ldap.Config { return &ldap.Config{URL: "ldap://h", BaseDN: "dc=x"} }
	cases := map[string]Provider{
		"no name":                   {Type: ProviderLDAP, LDAP: ldapOK()},
		"unknown type":              {Name: "a", Type: "saml"},
		"ldap without ldap":         {Name: "a", Type: ProviderLDAP},
		"bad url":                   {Name: "a", Type: ProviderLDAP, LDAP: &ldap.Config{URL: "http://h", BaseDN: "dc=x"}},
		"ldaps and starttls":        {Name: "a", Type: ProviderLDAP, LDAP: &ldap.Config{URL: "ldaps://h", BaseDN: "dc=x", StartTLS: true}},
		"filter without {username}": {Name: "a", Type: ProviderLDAP, LDAP: &ldap.Config{URL: "ldap://h", BaseDN: "dc=x", UserFilter: "(uid=x)"}},
		"bad filter":                {Name: "a", Type: ProviderLDAP, LDAP: &ldap.Config{URL: "ldap://h", BaseDN: "dc=x", UserFilter: "(uid={username}"}},
		"oidc without client":       {Name: "a", Type: ProviderOIDC, OIDC: &oidc.Config{Issuer: "https://i"}},
		"rule without org":          {Name: "a", Type: ProviderLDAP, LDAP: ldapOK(), Mapping: []MappingRule{{Group: "cn=g"}}},
		"ldap rule with claim":      {Name: "a", Type: ProviderLDAP, LDAP: ldapOK(), Mapping: []MappingRule{{Claim: "groups", Organization: "o"}}},
		"bad role":                  {Name: "a", Type: ProviderLDAP, LDAP: ldapOK(), Mapping: []MappingRule{{Group: "cn=g", Organization: "o", Role: "god"}}},
		"bad team role":             {Name: "a", Type: ProviderLDAP, LDAP: ldapOK(), Mapping: []MappingRule{{Group: "cn=g", Organization: "o", Team: "t", TeamRole: "owner"}}},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := s.CreateProvider(context.Background(), p)
			wantKind(t, err, fault.Invalid)
		})
	}
}

// TestSignInExternal covers provisioning, linking and the mapping's
// re-application, table by table of sign-ins.
func TestSignInExternal(t *testing.T) {
	s, _ := newExtService(t)
	ctx := context.Background()
	acme, err := s.CreateOrg(ctx, Org{Name: "acme"}, "")
	if err != nil {
		t.Fatal(err)
	}
	backend, _ := s.CreateTeam(ctx, Team{OrgID: acme.ID, Name: "backend"})
	ops, _ := s.CreateOrg(ctx, Org{Name: "ops"}, "")
	p, err := s.CreateProvider(ctx, Provider{Name: "Corp SSO", Type: ProviderOIDC, Enabled: true,
		OIDC: &oidc.Config{Issuer: "https://idp.example", ClientID: "c"},
		Mapping: []MappingRule{
			{Claim: "groups", Value: "devs", Organization: "acme", Team: "backend"},
			{Claim: "groups", Value: "leads", Organization: "acme", Role: "admin", Team: "backend", TeamRole: "maintainer"},
			{Claim: "ops", Organization: "ops"}, // any true value
			{Claim: "groups", Value: "ghosts", Organization: "nowhere"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	id := func(groups ...any) ExternalIdentity {
		return ExternalIdentity{Subject: "sub-1", Username: "Dana.S", Email: "dana@example.test", EmailVerified: true,
			Claims: map[string]any{"groups": groups}}
	}
	orgRole := func(orgID, userID string) string {
		m, err := s.OrgMember(ctx, orgID, userID)
		if err != nil {
			return ""
		}
		return string(m.Role)
	}
	teamRole := func(teamID, userID string) string {
		var m TeamMembership
		if _, err := hosted.GetJSON(ctx, s.store, teamMembersC, orgKey(teamID, userID), &m); err != nil {
			return ""
		}
		return string(m.Role)
	}

	first, err := s.SignInExternal(ctx, p, id("devs", "ghosts"))
	if err != nil || !first.Provisioned || first.User.Username != "dana.s" || len(first.Skipped) != 1 {
		t.Fatalf("first: %+v %v", first, err)
	}
	uid := first.User.ID
	steps := []struct {
		name              string
		ident             ExternalIdentity
		acme, team, opsRl string
	}{
		{"devs", id("devs"), "member", "member", ""},
		{"promoted to leads", id("devs", "leads"), "admin", "maintainer", ""},
		{"ops flag", func() ExternalIdentity { i := id("devs"); i.Claims["ops"] = true; return i }(), "member", "member", "member"},
		{"left every group", id(), "", "", ""},
		{"back in devs", id("devs"), "member", "member", ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r, err := s.SignInExternal(ctx, p, st.ident)
			if err != nil || r.User.ID != uid || r.Provisioned {
				t.Fatalf("%+v %v", r, err)
			}
			if got := orgRole(acme.ID, uid); got != st.acme {
				t.Errorf("acme role %q, want %q", got, st.acme)
			}
			if got := teamRole(backend.ID, uid); got != st.team {
				t.Errorf("backend role %q, want %q", got, st.team)
			}
			if got := orgRole(ops.ID, uid); got != st.opsRl {
				t.Errorf("ops role %q, want %q", got, st.opsRl)
			}
		})
	}

	t.Run("memberships made by hand stay", func(t *testing.T) {
		if err := s.SetOrgMember(ctx, ops.ID, uid, OrgOwner); err != nil {
			t.Fatal(err)
		}
		i := id("devs")
		i.Claims["ops"] = true
		s.SignInExternal(ctx, p, i) // the rule would make a member
		s.SignInExternal(ctx, p, id("devs"))
		if got := orgRole(ops.ID, uid); got != "owner" {
			t.Fatalf("hand-made ownership became %q", got)
		}
	})

	t.Run("linking", func(t *testing.T) {
		local := mustUser(t, s, "erin", false) // erin@example.com
		unverified := ExternalIdentity{Subject: "sub-erin", Username: "erin", Email: "erin@example.com"}
		_, err := s.SignInExternal(ctx, p, unverified)
		wantKind(t, err, fault.Conflict)
		unverified.EmailVerified = true
		r, err := s.SignInExternal(ctx, p, unverified)
		if err != nil || !r.Linked || r.User.ID != local.ID {
			t.Fatalf("verified link: %+v %v", r, err)
		}
	})

	t.Run("username taken, no email", func(t *testing.T) {
		r, err := s.SignInExternal(ctx, p, ExternalIdentity{Subject: "sub-other-dana", Username: "dana.s"})
		if err != nil || !r.Provisioned || r.User.Username == "dana.s" || !strings.HasSuffix(r.User.Email, ".invalid") {
			t.Fatalf("%+v %v", r, err)
		}
	})

	t.Run("deactivated user", func(t *testing.T) {
		off := false
		s.UpdateUser(ctx, uid, UserUpdate{Active: &off})
		_, err := s.SignInExternal(ctx, p, id("devs"))
		wantKind(t, err, fault.Unauthorized)
		_, err = s.OpenSession(ctx, uid, "")
		wantKind(t, err, fault.Unauthorized)
	})
}

func TestClaimHas(t *testing.T) {
	cases := []struct {
		v    any
		want string
		ok   bool
	}{
		{"devs", "devs", true}, {"devs", "ops", false}, {[]any{"a", "devs"}, "devs", true}, {[]any{}, "devs", false},
		{true, "", true}, {false, "", false}, {true, "true", true}, {float64(3), "3", true}, {nil, "", false}, {"", "", false},
	}
	for _, c := range cases {
		if got := claimHas(c.v, c.want); got != c.ok {
			t.Errorf("claimHas(%v, %q) = %v", c.v, c.want, got)
		}
	}
	if normDN("CN=Devs, OU=Groups,dc=x") != normDN("cn=devs,ou=groups, dc=x") {
		t.Error("normDN")
	}
}
