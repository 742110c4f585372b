package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// AdminPassword is the password Start gives the bootstrap admin
// ("admin", admin@localhost).
const AdminPassword = "testkit-admin-password-7f3a9c"

// API calls the management API (/api/v1) with a bearer token ("" for
// none), sending body as JSON when it is not nil, and decodes the answer
// into out when it is not nil. It returns the status and the raw body.
func (s *Server) API(method, path, token string, body, out any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"/api/v1"+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, raw
}

// must fails the test unless status is 2xx.
func (s *Server) must(what string, status int, raw []byte) {
	s.t.Helper()
	if status < 200 || status >= 300 {
		s.t.Fatalf("%s: %d %s", what, status, raw)
	}
}

// AdminToken signs in as the bootstrap admin and returns an access token.
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	var out struct{ AccessToken string }
	st, raw := s.API("POST", "/auth/login", "", map[string]string{"email": "admin", "password": AdminPassword}, &out)
	s.must("login", st, raw)
	return out.AccessToken
}

// CreateOrg creates an organization and returns its id.
func (s *Server) CreateOrg(t testing.TB, token, name string) string {
	t.Helper()
	var out struct{ ID string }
	st, raw := s.API("POST", "/organizations", token, map[string]string{"name": name}, &out)
	s.must("create organization "+name, st, raw)
	return out.ID
}

// CreateUser creates a user with a password and returns its id.
func (s *Server) CreateUser(t testing.TB, token, username, password string) string {
	t.Helper()
	var out struct{ ID string }
	st, raw := s.API("POST", "/users", token, map[string]string{
		"username": username, "email": username + "@example.test", "password": password,
	}, &out)
	s.must("create user "+username, st, raw)
	return out.ID
}

// AddMember adds a user to an organization with a role (owner, admin,
// member).
func (s *Server) AddMember(t testing.TB, token, org, userID, role string) {
	t.Helper()
	st, raw := s.API("POST", "/organizations/"+org+"/members", token, map[string]string{"userId": userID, "role": role}, nil)
	s.must(fmt.Sprintf("add %s to %s", userID, org), st, raw)
}

// Token creates an API token for the caller of bearer with the given
// scopes (nil fields place no restriction) and returns the srg_ secret.
func (s *Server) Token(t testing.TB, bearer string, protocols, actions, orgs []string) string {
	t.Helper()
	body := map[string]any{"name": "test"}
	if protocols != nil {
		body["protocols"] = protocols
	}
	if actions != nil {
		body["actions"] = actions
	}
	if orgs != nil {
		body["organizations"] = orgs
	}
	var out struct{ Token string }
	st, raw := s.API("POST", "/tokens", bearer, body, &out)
	s.must("create token", st, raw)
	return out.Token
}

// Login signs in a user and returns an access token.
func (s *Server) Login(t testing.TB, login, password string) string {
	t.Helper()
	var out struct{ AccessToken string }
	st, raw := s.API("POST", "/auth/login", "", map[string]string{"email": login, "password": password}, &out)
	s.must("login "+login, st, raw)
	return out.AccessToken
}

// OrgMember has the bootstrap admin create the organization org and the
// user username with password, and make the user a member of org with
// role (owner, admin, member). It returns the user's access token, as
// after a login: Token turns it into the scoped API token a client uses.
func (s *Server) OrgMember(t testing.TB, org, username, password, role string) string {
	t.Helper()
	admin := s.AdminToken(t)
	s.CreateOrg(t, admin, org)
	uid := s.CreateUser(t, admin, username, password)
	s.AddMember(t, admin, org, uid, role)
	return s.Login(t, username, password)
}
