package api_test

import (
	"testing"

	"entrepot/auth"
)

func TestRepositories(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	dev, devTok := e.user(admin, "dev")
	_, outTok := e.user(admin, "oscar")
	e.org(ownerTok, "acme")
	e.member(ownerTok, "acme", dev.ID, "member")
	priv := e.repo(ownerTok, "acme", "private-libs", "npm", "")
	pub := e.repo(ownerTok, "acme", "public-libs", "npm", "public")
	if priv.Visibility != auth.Private || pub.Visibility != auth.Public {
		t.Fatalf("visibilities %q %q", priv.Visibility, pub.Visibility)
	}
	full := e.repo(ownerTok, "acme", "full", "pypi", "private")
	e.publish(full, "widget", "1.0.0")

	run(t, e, []step{
		{"create: member", "POST", "/organizations/acme/repositories", devTok, map[string]string{"name": "x", "protocol": "npm"}, 403},
		{"create: outsider", "POST", "/organizations/acme/repositories", outTok, map[string]string{"name": "x", "protocol": "npm"}, 404},
		{"create: bad protocol", "POST", "/organizations/acme/repositories", ownerTok, map[string]string{"name": "x", "protocol": "gopher"}, 422},
		{"create: bad name", "POST", "/organizations/acme/repositories", ownerTok, map[string]string{"name": "-x", "protocol": "npm"}, 422},
		{"create: bad visibility", "POST", "/organizations/acme/repositories", ownerTok, map[string]string{"name": "x", "protocol": "npm", "visibility": "secret"}, 422},
		{"create: taken", "POST", "/organizations/acme/repositories", ownerTok, map[string]string{"name": "public-libs", "protocol": "npm"}, 409},
		{"create: same name, other protocol", "POST", "/organizations/acme/repositories", ownerTok, map[string]string{"name": "public-libs", "protocol": "cargo"}, 201},
		{"get: public, anonymous", "GET", "/repositories/" + pub.ID, "", nil, 200},
		{"get: private, anonymous", "GET", "/repositories/" + priv.ID, "", nil, 401},
		{"get: private, outsider", "GET", "/repositories/" + priv.ID, outTok, nil, 404},
		{"get: private, member without grant", "GET", "/repositories/" + priv.ID, devTok, nil, 404},
		{"get: private, owner", "GET", "/repositories/" + priv.ID, ownerTok, nil, 200},
		{"get: missing", "GET", "/repositories/nope", admin, nil, 404},
		{"update: reader of public", "PUT", "/repositories/" + pub.ID, outTok, map[string]string{"description": "x"}, 403},
		{"update: hidden", "PUT", "/repositories/" + priv.ID, outTok, map[string]string{"description": "x"}, 404},
		{"update: rename", "PUT", "/repositories/" + priv.ID, ownerTok, map[string]string{"name": "y"}, 422},
		{"update: visibility", "PUT", "/repositories/" + priv.ID, ownerTok, map[string]string{"visibility": "public", "description": "now open"}, 200},
		{"get: now public, outsider", "GET", "/repositories/" + priv.ID, outTok, nil, 200},
		{"update: back to private", "PUT", "/repositories/" + priv.ID, ownerTok, map[string]string{"visibility": "private"}, 200},
		{"perm: outsider lists", "GET", "/repositories/" + priv.ID + "/permissions", outTok, nil, 404},
		{"perm: bad role", "POST", "/repositories/" + priv.ID + "/permissions", ownerTok, map[string]string{"userId": "dev", "role": "god"}, 422},
		{"perm: give dev developer", "POST", "/repositories/" + priv.ID + "/permissions", ownerTok, map[string]string{"userId": "dev", "role": "developer"}, 200},
		{"perm: dev reads now", "GET", "/repositories/" + priv.ID, devTok, nil, 200},
		{"perm: developer cannot manage", "PUT", "/repositories/" + priv.ID, devTok, map[string]string{"description": "x"}, 403},
		{"perm: owner cannot grant an outsider", "POST", "/repositories/" + priv.ID + "/permissions", ownerTok, map[string]string{"userId": "oscar", "role": "admin"}, 404},
		{"perm: outsider gets admin from a platform admin", "POST", "/repositories/" + priv.ID + "/permissions", admin, map[string]string{"userId": "oscar", "role": "admin"}, 200},
		{"perm: repo admin manages", "PUT", "/repositories/" + priv.ID, outTok, map[string]string{"description": "by oscar"}, 200},
		{"perm: list", "GET", "/repositories/" + priv.ID + "/permissions", ownerTok, nil, 200},
		{"perm: remove", "DELETE", "/repositories/" + priv.ID + "/permissions/dev", ownerTok, nil, 204},
		{"perm: dev lost it", "GET", "/repositories/" + priv.ID, devTok, nil, 404},
		{"delete: holds packages", "DELETE", "/repositories/" + full.ID, ownerTok, nil, 409},
		{"delete: force, not platform admin", "DELETE", "/repositories/" + full.ID + "?force=true", ownerTok, nil, 403},
		{"delete: bad force", "DELETE", "/repositories/" + full.ID + "?force=maybe", admin, nil, 422},
		{"delete: force, platform admin", "DELETE", "/repositories/" + full.ID + "?force=true", admin, nil, 204},
		{"delete: the package went with it", "GET", pkgPath("pypi:widget"), admin, nil, 404},
		{"delete: empty repo", "DELETE", "/repositories/" + pub.ID, ownerTok, nil, 204},
		{"delete: gone", "DELETE", "/repositories/" + pub.ID, ownerTok, nil, 404},
	})

	// Lists show what the caller may read.
	var ownerList, outList page[auth.Repository]
	e.must(200, "GET", "/organizations/acme/repositories", ownerTok, nil, &ownerList)
	e.must(200, "GET", "/organizations/acme/repositories", outTok, nil, &outList)
	if len(ownerList.Items) != 2 || len(outList.Items) != 1 || outList.Items[0].ID != priv.ID {
		t.Fatalf("owner sees %d, oscar %d: %+v", len(ownerList.Items), len(outList.Items), outList.Items)
	}
}

func TestOrgDeleteWithPackages(t *testing.T) {
	e := newEnv(t)
	admin := e.adminToken()
	_, ownerTok := e.user(admin, "olga")
	e.org(ownerTok, "acme")
	repo := e.repo(ownerTok, "acme", "libs", "npm", "private")
	e.publish(repo, "@acme/widget", "1.0.0")
	e.org(ownerTok, "empty")
	e.repo(ownerTok, "empty", "libs", "npm", "private")

	run(t, e, []step{
		{"refused while it holds packages", "DELETE", "/organizations/acme", ownerTok, nil, 409},
		{"force takes a platform admin", "DELETE", "/organizations/acme?force=true", ownerTok, nil, 403},
		{"still there", "GET", "/organizations/acme", ownerTok, nil, 200},
		{"an empty org goes, repositories and all", "DELETE", "/organizations/empty", ownerTok, nil, 204},
		{"forced by a platform admin", "DELETE", "/organizations/acme?force=true", admin, nil, 204},
		{"gone", "GET", "/organizations/acme", admin, nil, 404},
		{"its repository too", "GET", "/repositories/" + repo.ID, admin, nil, 404},
		{"its package too", "GET", pkgPath("npm:@acme/widget"), admin, nil, 404},
	})
}
