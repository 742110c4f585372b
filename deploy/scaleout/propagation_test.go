package scaleout_test

import (
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"entrepot/deploy/testkit"
)

// TestPropagation makes each kind of change that another edge may hold in
// a cache on edge 0, after every edge has used the old state, and measures
// how long each other edge takes to act on it, polling them directly:
// revocations, membership, settings, publishes and deletions. Each must
// happen within the bound; the latencies and their p99 are logged.
func TestPropagation(t *testing.T) {
	up := testkit.NewUpstream(t)
	up.Handle("/mirrored", []byte(`{"name":"mirrored","dist-tags":{},"versions":{}}`), func(r *testkit.Route) { r.ContentType = "application/json" })
	f := newFixture(t, "UPSTREAM_NPM="+up.URL+"/")
	e0 := f.c.Edges[0]
	var lat latencies
	defer lat.report(t)

	// propagate checks that before holds on every edge, runs act on edge 0
	// and waits until after holds on every other edge.
	propagate := func(t *testing.T, kind string, before, after func(e *testkit.Server) bool, act func()) bool {
		t.Helper()
		for i := range f.c.Edges {
			if !before(f.c.Edge(t, i)) {
				t.Fatalf("%s: edge %d does not show the state before the change (or another step failed)", kind, i)
			}
		}
		act()
		var late atomic.Bool
		onEdges(f, 0, func(i int, _ *testkit.Server) {
			e := f.c.Edge(t, i)
			d, done := until(func() bool { return after(e) })
			if !done {
				t.Errorf("%s on edge 0: edge %d still acts on the old state after %s", kind, i, d.Round(time.Millisecond))
				late.Store(true)
				return
			}
			lat.add(kind, d)
		})
		return !late.Load()
	}
	me := func(token string) func(e *testkit.Server) int {
		return func(e *testkit.Server) int { st, _ := e.API("GET", "/auth/me", token, nil, nil); return st }
	}
	const reps = 3

	t.Run("token revoked", func(t *testing.T) {
		for range reps {
			var tok struct{ ID, Token string }
			if st, raw := f.lb.API("POST", "/tokens", f.dev, map[string]string{"name": "revoked"}, &tok); st != 201 {
				t.Fatalf("token: %d %s", st, raw)
			}
			get := me(tok.Token)
			if !propagate(t, "token revoked",
				func(e *testkit.Server) bool { return get(e) == 200 },
				func(e *testkit.Server) bool { return get(e) == 401 },
				func() { mustAPI(t, f.c.Edge(t, 0), "DELETE", "/tokens/"+tok.ID, f.dev, nil) }) {
				return
			}
		}
	})
	t.Run("session ended", func(t *testing.T) {
		for range reps {
			s := f.lb.Login(t, "dev", devPassword)
			get := me(s)
			if !propagate(t, "session ended",
				func(e *testkit.Server) bool { return get(e) == 200 },
				func(e *testkit.Server) bool { return get(e) == 401 },
				func() { mustAPI(t, f.c.Edge(t, 0), "POST", "/auth/logout", s, nil) }) {
				return
			}
		}
	})
	t.Run("user deleted", func(t *testing.T) {
		for i := range 2 {
			name := fmt.Sprintf("gone%d", i)
			id := f.lb.CreateUser(t, f.admin, name, devPassword)
			s := f.lb.Login(t, name, devPassword)
			tok := f.lb.Token(t, s, nil, nil, nil)
			bySession, byToken := me(s), me(tok)
			if !propagate(t, "user deleted",
				func(e *testkit.Server) bool { return bySession(e) == 200 && byToken(e) == 200 },
				func(e *testkit.Server) bool { return bySession(e) == 401 && byToken(e) == 401 },
				func() { mustAPI(t, f.c.Edge(t, 0), "DELETE", "/users/"+id, f.admin, nil) }) {
				return
			}
		}
	})
	t.Run("member removed", func(t *testing.T) {
		if st, b := publish(t, f.c.URL, f.token, "@acme/private", "1.0.0", "", 1<<10); st != 200 && st != 201 {
			t.Fatalf("publish: %d %s", st, b)
		}
		read := func(token string) func(e *testkit.Server) int {
			return func(e *testkit.Server) int { _, st := getPackument(t, e.URL, token, "@acme/private"); return st }
		}
		if _, st := getPackument(t, f.c.URL, "", "@acme/private"); st == 200 {
			t.Fatal("@acme/private is readable anonymously: the test needs a private package")
		}
		for i := range 2 {
			name := fmt.Sprintf("member%d", i)
			id := f.lb.CreateUser(t, f.admin, name, devPassword)
			f.lb.AddMember(t, f.admin, f.orgID, id, "admin") // a plain member reads nothing without a team
			get := read(f.lb.Token(t, f.lb.Login(t, name, devPassword), nil, nil, nil))
			if !propagate(t, "member removed",
				func(e *testkit.Server) bool { return get(e) == 200 },
				func(e *testkit.Server) bool { return get(e) != 200 },
				func() { mustAPI(t, f.c.Edge(t, 0), "DELETE", "/organizations/acme/members/"+id, f.admin, nil) }) {
				return
			}
		}
	})
	t.Run("anonymous mirror reads", func(t *testing.T) {
		anon := func(e *testkit.Server) int { _, st := getPackument(t, e.URL, "", "mirrored"); return st }
		set := func(on bool) func() {
			return func() {
				mustAPI(t, f.c.Edge(t, 0), "PUT", "/admin/auth/settings", f.admin, map[string]bool{"anonymousMirrorReads": on})
			}
		}
		for range 2 {
			if !propagate(t, "setting off",
				func(e *testkit.Server) bool { return anon(e) == 200 },
				func(e *testkit.Server) bool { return anon(e) == 401 },
				set(false)) {
				return
			}
			if !propagate(t, "setting on",
				func(e *testkit.Server) bool { return anon(e) == 401 },
				func(e *testkit.Server) bool { return anon(e) == 200 },
				set(true)) {
				return
			}
		}
	})
	t.Run("version published", func(t *testing.T) {
		const name = "@acme/visible"
		if st, b := publish(t, e0.URL, f.token, name, "1.0.0", "", 1<<10); st != 200 && st != 201 {
			t.Fatalf("publish: %d %s", st, b)
		}
		has := func(v string) func(e *testkit.Server) bool {
			return func(e *testkit.Server) bool {
				p, _ := getPackument(t, e.URL, f.token, name)
				_, ok := p.Versions[v]
				return ok
			}
		}
		if !everywhere(t, f, has("1.0.0")) {
			t.Fatal("the first version never showed on every edge")
		}
		for i := 1; i <= reps; i++ {
			prev, v := fmt.Sprintf("1.0.%d", i-1), fmt.Sprintf("1.0.%d", i)
			if !propagate(t, "version published", has(prev), has(v), func() {
				if st, b := publish(t, e0.URL, f.token, name, v, "", 1<<10); st != 200 && st != 201 {
					t.Fatalf("publish %s: %d %s", v, st, b)
				}
			}) {
				return
			}
		}
	})
	t.Run("version deleted", func(t *testing.T) {
		const name = "@acme/deleted"
		for i := range reps {
			v := fmt.Sprintf("1.0.%d", i)
			if st, b := publish(t, e0.URL, f.token, name, v, "", 8<<10); st != 200 && st != 201 {
				t.Fatalf("publish %s: %d %s", v, st, b)
			}
			var path string
			if _, ok := until(func() bool {
				p, _ := getPackument(t, e0.URL, f.token, name)
				u, err := url.Parse(p.Versions[v].Dist.Tarball)
				path = u.EscapedPath()
				return err == nil && path != ""
			}); !ok {
				t.Fatalf("no tarball URL for %s", v)
			}
			tarball := func(e *testkit.Server) int {
				resp, _ := testkit.Request(t, "GET", e.URL+path, nil, "Authorization", bearer(f.token))
				return resp.StatusCode
			}
			// Every edge serves it (and may cache it) before the delete.
			if !everywhere(t, f, func(e *testkit.Server) bool { return tarball(e) == 200 }) {
				t.Fatalf("the tarball of %s never showed on every edge", v)
			}
			if !propagate(t, "tarball deleted",
				func(e *testkit.Server) bool { return tarball(e) == 200 },
				func(e *testkit.Server) bool { return tarball(e) != 200 },
				func() {
					mustAPI(t, f.c.Edge(t, 0), "DELETE", "/packages/"+url.PathEscape("npm:"+name)+"/versions/"+v, f.token, nil)
				}) {
				return
			}
		}
	})
}

// everywhere waits until check holds on every edge.
func everywhere(t *testing.T, f *fixture, check func(e *testkit.Server) bool) bool {
	_, ok := until(func() bool {
		for i := range f.c.Edges {
			if !check(f.c.Edge(t, i)) {
				return false
			}
		}
		return true
	})
	return ok
}

// mustAPI calls the management API on s and fails the test unless the
// answer is 2xx.
func mustAPI(t *testing.T, s *testkit.Server, method, path, token string, body any) {
	t.Helper()
	if st, raw := s.API(method, path, token, body, nil); st < 200 || st > 299 {
		t.Fatalf("%s %s: %d %s", method, path, st, raw)
	}
}
