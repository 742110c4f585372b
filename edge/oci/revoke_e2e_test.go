package oci_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"

	"entrepot/deploy/testkit"
)

// TestE2ERegistryTokenEndsWithItsSource drives the binary: a /v2/token
// bearer pushes and deletes only while what it was issued from is still
// good. Revoking the srg_ token, logging out the session, deactivating the
// user, resetting the password it was issued for or taking away platform
// admin stops it on the next request, long before its 5-minute life ends.
func TestE2ERegistryTokenEndsWithItsSource(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	s := testkit.Start(t)
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, "acme")
	const pw = "bob-password-revoke-1"

	type source struct {
		auth string // Authorization of the /v2/token request
		end  func()
	}
	newUser := func(t *testing.T, name string, platformAdmin bool) (id, bearer string) {
		id = s.CreateUser(t, admin, name, pw)
		if platformAdmin {
			if st, raw := s.API("PUT", "/users/"+id, admin, map[string]bool{"platformAdmin": true}, nil); st != 200 {
				t.Fatalf("promote: %d %s", st, raw)
			}
		} else {
			s.AddMember(t, admin, "acme", id, "admin")
		}
		return id, s.Login(t, name, pw)
	}
	cases := []struct {
		name   string
		source func(t *testing.T) source
	}{
		{"srg token revoked", func(t *testing.T) source {
			_, bearer := newUser(t, "tokenuser", false)
			var tok struct{ ID, Token string }
			if st, raw := s.API("POST", "/tokens", bearer, map[string]any{"name": "ci", "protocols": []string{"oci"}}, &tok); st != 201 {
				t.Fatalf("token: %d %s", st, raw)
			}
			return source{testkit.Basic("tokenuser", tok.Token), func() {
				if st, raw := s.API("DELETE", "/tokens/"+tok.ID, bearer, nil, nil); st != 204 {
					t.Fatalf("revoke: %d %s", st, raw)
				}
			}}
		}},
		{"session logged out", func(t *testing.T) source {
			_, bearer := newUser(t, "sessionuser", false)
			return source{"Bearer " + bearer, func() {
				if st, raw := s.API("POST", "/auth/logout", bearer, nil, nil); st != 204 {
					t.Fatalf("logout: %d %s", st, raw)
				}
			}}
		}},
		{"user deactivated", func(t *testing.T) source {
			id, _ := newUser(t, "leaver", false)
			return source{testkit.Basic("leaver", pw), func() {
				if st, raw := s.API("PUT", "/users/"+id, admin, map[string]bool{"active": false}, nil); st != 200 {
					t.Fatalf("deactivate: %d %s", st, raw)
				}
			}}
		}},
		{"user deactivated, then reactivated", func(t *testing.T) source {
			id, _ := newUser(t, "returner", false)
			return source{testkit.Basic("returner", pw), func() {
				for _, active := range []bool{false, true} {
					if st, raw := s.API("PUT", "/users/"+id, admin, map[string]bool{"active": active}, nil); st != 200 {
						t.Fatalf("active=%v: %d %s", active, st, raw)
					}
				}
			}}
		}},
		{"password reset", func(t *testing.T) source {
			id, _ := newUser(t, "resetuser", false)
			return source{testkit.Basic("resetuser", pw), func() {
				if st, raw := s.API("PUT", "/users/"+id, admin, map[string]string{"password": "a-new-password-after-reset"}, nil); st != 200 {
					t.Fatalf("reset: %d %s", st, raw)
				}
			}}
		}},
		{"platform admin demoted", func(t *testing.T) source {
			id, _ := newUser(t, "exadmin", true)
			return source{testkit.Basic("exadmin", pw), func() {
				if st, raw := s.API("PUT", "/users/"+id, admin, map[string]bool{"platformAdmin": false}, nil); st != 200 {
					t.Fatalf("demote: %d %s", st, raw)
				}
			}}
		}},
	}
	adminBasic := testkit.Basic("admin", testkit.AdminPassword)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repo := "acme/app" + string(rune('a'+i))
			src := c.source(t)
			resp, raw := testkit.Request(t, "GET", s.URL+"/v2/token?service="+s.Host()+"&scope=repository:"+repo+":pull,push,delete", nil, "Authorization", src.auth)
			var tok struct{ Token string }
			if resp.StatusCode != 200 || json.Unmarshal(raw, &tok) != nil || tok.Token == "" {
				t.Fatalf("/v2/token: %d %s", resp.StatusCode, raw)
			}
			bearer := "Bearer " + tok.Token
			push := func(content string) (int, string) {
				sum := sha256.Sum256([]byte(content))
				digest := "sha256:" + hex.EncodeToString(sum[:])
				resp, _ := testkit.Request(t, "POST", s.URL+"/v2/"+repo+"/blobs/uploads/?digest="+digest, []byte(content),
					"Authorization", bearer, "Content-Type", "application/octet-stream")
				return resp.StatusCode, digest
			}
			st, digest := push("first layer of " + repo)
			if st != http.StatusCreated {
				t.Fatalf("push while good: %d", st)
			}

			src.end()

			if st, _ := push("second layer of " + repo); st != http.StatusUnauthorized && st != http.StatusForbidden {
				t.Errorf("push after the source ended: %d, want 401 or 403", st)
			}
			resp, _ = testkit.Request(t, "DELETE", s.URL+"/v2/"+repo+"/blobs/"+digest, nil, "Authorization", bearer)
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				t.Errorf("delete after the source ended: %d, want 401 or 403", resp.StatusCode)
			}
			if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("a 401 without the token challenge")
			}
			if resp, _ := testkit.Request(t, "HEAD", s.URL+"/v2/"+repo+"/blobs/"+digest, nil, "Authorization", adminBasic); resp.StatusCode != 200 {
				t.Errorf("the blob is gone: HEAD %d", resp.StatusCode)
			}
		})
	}
}
