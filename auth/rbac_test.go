package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"entrepot/hosted/fault"
)

type world struct {
	s        *Service
	users    map[string]Principal
	acme     Org
	priv     Repository
	pub      Repository
	betaRepo Repository
}

// newWorld builds one organization with a private and a public npm
// repository, a principal per role, and a second organization.
func newWorld(t testing.TB) *world {
	t.Helper()
	s, _ := newService(t)
	ctx := context.Background()
	w := &world{s: s, users: map[string]Principal{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	user := func(name string, admin bool) User {
		u := mustUser(t, s, name, admin)
		w.users[name] = Principal{UserID: u.ID, Username: u.Username, PlatformAdmin: admin}
		return u
	}
	user("padmin", true)
	owner := user("owner", false)
	var err error
	w.acme, err = s.CreateOrg(ctx, Org{Name: "acme"}, owner.ID)
	must(err)
	beta, err := s.CreateOrg(ctx, Org{Name: "beta"}, "")
	must(err)
	w.priv, err = s.CreateRepo(ctx, Repository{OrgID: w.acme.ID, Name: "internal", Protocol: "npm"})
	must(err)
	w.pub, err = s.CreateRepo(ctx, Repository{OrgID: w.acme.ID, Name: "oss", Protocol: "npm", Visibility: Public})
	must(err)
	w.betaRepo, err = s.CreateRepo(ctx, Repository{OrgID: beta.ID, Name: "internal", Protocol: "npm"})
	must(err)
	must(s.SetOrgMember(ctx, w.acme.ID, user("oadmin", false).ID, OrgAdmin))
	must(s.SetOrgMember(ctx, w.acme.ID, user("omember", false).ID, OrgMember))
	team, err := s.CreateTeam(ctx, Team{OrgID: w.acme.ID, Name: "devs"})
	must(err)
	idle, err := s.CreateTeam(ctx, Team{OrgID: w.acme.ID, Name: "idle"})
	must(err)
	must(s.SetTeamMember(ctx, team.ID, user("tmaint", false).ID, TeamMaintainer))
	must(s.SetTeamMember(ctx, team.ID, user("tmember", false).ID, TeamMember))
	must(s.SetTeamMember(ctx, idle.ID, user("tidle", false).ID, TeamMaintainer))
	for _, r := range []Repository{w.priv, w.pub} {
		must(s.GrantTeamRepo(ctx, team.ID, r.ID))
	}
	for _, role := range []RepoRole{RepoReader, RepoDeveloper, RepoMaintainer, RepoAdmin} {
		u := user("r"+string(role), false)
		for _, r := range []Repository{w.priv, w.pub} {
			must(s.SetRepoPermission(ctx, r.ID, u.ID, role))
		}
	}
	user("outsider", false)
	w.users["anonymous"] = Principal{}
	return w
}

func TestAuthorizeRoles(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	all := Read | Write | Delete | Manage
	want := map[string]Action{ // on the private repository; public adds Read
		"padmin": all, "owner": all, "oadmin": all, "omember": 0,
		"tmaint": Read | Write | Delete, "tmember": Read | Write, "tidle": 0,
		"rreader": Read, "rdeveloper": Read | Write, "rmaintainer": Read | Write | Delete, "radmin": all,
		"outsider": 0, "anonymous": 0,
	}
	for who, grants := range want {
		for _, repo := range []Repository{w.priv, w.pub} {
			for _, a := range []Action{Read, Write, Delete, Manage} {
				p := w.users[who]
				expect := grants
				if repo.Visibility == Public {
					expect |= Read
				}
				t.Run(fmt.Sprintf("%s/%s/%s", who, repo.Visibility, a), func(t *testing.T) {
					for range 2 { // cold, then from the decision cache
						err := w.s.Authorize(ctx, p, repo.Ref(), a)
						switch {
						case expect&a != 0:
							if err != nil {
								t.Fatalf("refused: %v", err)
							}
						case who == "anonymous":
							wantKind(t, err, fault.Unauthorized)
						default:
							wantKind(t, err, fault.Forbidden)
						}
					}
				})
			}
		}
	}
	// Roles in acme give nothing in beta; the platform admin has it all.
	for _, who := range []string{"owner", "oadmin", "tmaint", "radmin"} {
		wantKind(t, w.s.Authorize(ctx, w.users[who], w.betaRepo.Ref(), Read), fault.Forbidden)
	}
	if err := w.s.Authorize(ctx, w.users["padmin"], w.betaRepo.Ref(), Manage); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorizeTokenScopes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rw := Read | Write | Delete
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	cases := []struct {
		name   string
		who    string
		scopes Scopes
		repo   Repository
		action Action
		want   fault.Kind // Internal means allowed
	}{
		{"unscoped read", "owner", Scopes{Actions: rw}, w.priv, Read, fault.Internal},
		{"unscoped delete", "owner", Scopes{Actions: rw}, w.priv, Delete, fault.Internal},
		{"never manage", "owner", Scopes{Actions: rw}, w.priv, Manage, fault.Forbidden},
		{"protocol match", "owner", Scopes{Actions: rw, Protocols: []string{"npm"}}, w.priv, Write, fault.Internal},
		{"protocol mismatch", "owner", Scopes{Actions: rw, Protocols: []string{"pypi"}}, w.priv, Read, fault.Forbidden},
		{"action read only: read", "owner", Scopes{Actions: Read}, w.priv, Read, fault.Internal},
		{"action read only: write", "owner", Scopes{Actions: Read}, w.priv, Write, fault.Forbidden},
		{"org match", "owner", Scopes{Actions: rw, Organizations: []string{w.acme.ID}}, w.priv, Write, fault.Internal},
		{"org mismatch", "owner", Scopes{Actions: rw, Organizations: []string{w.betaRepo.OrgID}}, w.priv, Read, fault.Forbidden},
		{"org scope, admin owner elsewhere", "padmin", Scopes{Actions: rw, Organizations: []string{w.acme.ID}}, w.betaRepo, Read, fault.Forbidden},
		{"not expired", "owner", Scopes{Actions: rw, ExpiresAt: future}, w.priv, Read, fault.Internal},
		{"expired", "owner", Scopes{Actions: rw, ExpiresAt: past}, w.priv, Read, fault.Unauthorized},
		{"expired on public", "outsider", Scopes{Actions: rw, ExpiresAt: past}, w.pub, Read, fault.Unauthorized},
		{"scope wider than owner: reader writes", "rreader", Scopes{Actions: rw}, w.priv, Write, fault.Forbidden},
		{"scope wider than owner: outsider reads", "outsider", Scopes{Actions: rw}, w.priv, Read, fault.Forbidden},
		{"public read with read scope", "outsider", Scopes{Actions: Read}, w.pub, Read, fault.Internal},
		{"public write denied", "outsider", Scopes{Actions: rw}, w.pub, Write, fault.Forbidden},
		{"developer within scope", "rdeveloper", Scopes{Actions: Read | Write, Protocols: []string{"npm"}, Organizations: []string{w.acme.ID}}, w.priv, Write, fault.Internal},
		{"proxy content passes org scope", "outsider", Scopes{Actions: Read, Organizations: []string{w.acme.ID}}, Repository{Protocol: "npm", Visibility: Public}, Read, fault.Internal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := w.users[c.who]
			sc := c.scopes
			p.TokenID, p.Scopes = "tok", &sc
			err := w.s.Authorize(ctx, p, c.repo.Ref(), c.action)
			if c.want == fault.Internal {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantKind(t, err, c.want)
		})
	}
}

// TestTokenEndToEnd goes through CreateToken and Authenticate rather than a
// hand-made Principal.
func TestTokenEndToEnd(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	dev := w.users["rdeveloper"]
	_, secret, err := w.s.CreateToken(ctx, dev.UserID, NewToken{Name: "ci", Protocols: []string{"npm"}, Actions: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.s.Authenticate(ctx, ParseCredentials(secret))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.s.Authorize(ctx, p, w.priv.Ref(), Read); err != nil {
		t.Fatal(err)
	}
	wantKind(t, w.s.Authorize(ctx, p, w.priv.Ref(), Write), fault.Forbidden)
}

func TestAuthorizeInvalidatedOnChange(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.users["outsider"]
	wantKind(t, w.s.Authorize(ctx, p, w.priv.Ref(), Read), fault.Forbidden)
	if err := w.s.SetRepoPermission(ctx, w.priv.ID, p.UserID, RepoReader); err != nil {
		t.Fatal(err)
	}
	if err := w.s.Authorize(ctx, p, w.priv.Ref(), Read); err != nil {
		t.Fatalf("grant not seen at once: %v", err)
	}
	if err := w.s.RemoveRepoPermission(ctx, w.priv.ID, p.UserID); err != nil {
		t.Fatal(err)
	}
	wantKind(t, w.s.Authorize(ctx, p, w.priv.Ref(), Read), fault.Forbidden)

	m := w.users["tmember"]
	if err := w.s.Authorize(ctx, m, w.priv.Ref(), Write); err != nil {
		t.Fatal(err)
	}
	if err := w.s.RemoveOrgMember(ctx, w.acme.ID, m.UserID); err != nil {
		t.Fatal(err)
	}
	wantKind(t, w.s.Authorize(ctx, m, w.priv.Ref(), Write), fault.Forbidden)
}

func TestOrgLifecycle(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	s := w.s
	_, err := s.CreateOrg(ctx, Org{Name: "acme"}, "")
	wantKind(t, err, fault.Conflict)
	_, err = s.CreateOrg(ctx, Org{Name: "api"}, "")
	wantKind(t, err, fault.Invalid)
	_, err = s.CreateRepo(ctx, Repository{OrgID: w.acme.ID, Name: "internal", Protocol: "npm"})
	wantKind(t, err, fault.Conflict)
	if _, err := s.CreateRepo(ctx, Repository{OrgID: w.acme.ID, Name: "internal", Protocol: "pypi"}); err != nil {
		t.Fatalf("same name, other protocol: %v", err)
	}
	if got, err := s.GetOrg(ctx, "acme"); err != nil || got.ID != w.acme.ID {
		t.Fatalf("GetOrg by name = %v, %v", got, err)
	}
	if got, err := s.RepoByName(ctx, w.acme.ID, "npm", "oss"); err != nil || got.ID != w.pub.ID || got.Visibility != Public {
		t.Fatalf("RepoByName = %v, %v", got, err)
	}
	if w.priv.Visibility != Private {
		t.Fatalf("default visibility %q", w.priv.Visibility)
	}
	wantKind(t, s.DeleteOrg(ctx, w.acme.ID, false), fault.Conflict)
	if err := s.DeleteOrg(ctx, w.acme.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetOrg(ctx, w.acme.ID)
	wantKind(t, err, fault.NotFound)
	wantKind(t, s.Authorize(ctx, w.users["owner"], w.priv.Ref(), Read), fault.Forbidden)
	if members, _, _ := s.ListRepoPermissions(ctx, w.priv.ID, Page{}); len(members) != 0 {
		t.Fatalf("permissions outlived their repository: %v", members)
	}
}
