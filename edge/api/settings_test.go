package api_test

import (
	"testing"

	"entrepot/edge/api"
)

func TestSettings(t *testing.T) {
	e := newEnvDefaults(t)
	admin := e.adminToken()
	_, bob := e.user(admin, "bob")

	var st api.Settings
	e.must(200, "GET", "/admin/auth/settings", admin, nil, &st)
	if !st.AnonymousMirrorReads || st.UserOrganizations || !e.reg.AnonymousMirrorReads() {
		t.Fatalf("defaults %+v", st)
	}
	e.must(200, "PUT", "/admin/auth/settings", admin, map[string]bool{"userOrganizations": true}, &st)
	if !st.UserOrganizations {
		t.Fatalf("defaults %+v", st)
	}
	run(t, e, []step{
		{"get: anonymous", "GET", "/admin/auth/settings", "", nil, 401},
		{"get: not admin", "GET", "/admin/auth/settings", bob, nil, 403},
		{"put: not admin", "PUT", "/admin/auth/settings", bob, map[string]bool{"anonymousMirrorReads": false}, 403},
		{"put: unknown field", "PUT", "/admin/auth/settings", admin, map[string]bool{"anonymousEverything": true}, 422},
		{"put: wrong type", "PUT", "/admin/auth/settings", admin, map[string]string{"anonymousMirrorReads": "no"}, 422},
	})

	e.must(200, "PUT", "/admin/auth/settings", admin, map[string]bool{"anonymousMirrorReads": false}, &st)
	if st.AnonymousMirrorReads || !st.UserOrganizations {
		t.Fatalf("after put %+v", st)
	}
	if e.reg.AnonymousMirrorReads() {
		t.Fatal("the registry still allows anonymous mirror reads")
	}
	// A new handler over the same store (a restart) loads them.
	e.reg.SetAnonymousMirror(true)
	api.New(e.reg, api.Options{})
	if e.reg.AnonymousMirrorReads() {
		t.Fatal("stored settings not applied at start")
	}
	e.must(200, "PUT", "/admin/auth/settings", admin, map[string]bool{"anonymousMirrorReads": true}, &st)
	if !e.reg.AnonymousMirrorReads() {
		t.Fatal("not turned back on")
	}
}
