package auth

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
	"unicode"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// User is an account. Email and Username are unique case-insensitively
// (the store's unique keys hold their lowercased forms); the password hash
// is never part of a User.
type User struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Username      string    `json:"username"`
	DisplayName   string    `json:"displayName,omitempty"`
	Active        bool      `json:"active"`
	PlatformAdmin bool      `json:"platformAdmin"`
	CreatedAt     time.Time `json:"createdAt"`
}

// userDoc is a user as stored.
type userDoc struct {
	User
	PasswordHash string `json:"passwordHash,omitempty"`
	// PasswordStamp is a random id SetPassword renews: a registry token
	// issued from a password carries it, and stops working once it
	// changes.
	PasswordStamp string `json:"passwordStamp,omitempty"`
}

func userKeys(u User) map[string]string {
	return map[string]string{"email": strings.ToLower(u.Email), "username": strings.ToLower(u.Username)}
}

// NewUser describes an account to create. An empty Password makes an
// account that cannot sign in with a password (an external identity, or
// one whose password an admin sets later).
type NewUser struct {
	Email         string
	Username      string
	DisplayName   string
	Password      string
	PlatformAdmin bool
}

const maxEmailLen = 254

func validEmail(op, email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(email) > maxEmailLen {
		return fault.Newf(op, fault.Invalid, "email %q is not an address", email)
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fault.Newf(op, fault.Invalid, "email %q is not an address", email)
		}
	}
	return nil
}

// validUsername accepts the name rules in either case; names are compared
// lowercased. Reserved words are allowed: user names are not mount points.
func validUsername(op, username string) error {
	return validChars(op, strings.ToLower(username))
}

// CreateUser creates an active account. Invalid for a bad email, username
// or password; Conflict when the email or username is taken (in any case).
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	const op = "auth.CreateUser"
	nu.Email = strings.TrimSpace(nu.Email)
	if err := validEmail(op, nu.Email); err != nil {
		return User{}, err
	}
	if err := validUsername(op, nu.Username); err != nil {
		return User{}, err
	}
	d := userDoc{User: User{
		ID: newID(), Email: nu.Email, Username: nu.Username, DisplayName: nu.DisplayName,
		Active: true, PlatformAdmin: nu.PlatformAdmin, CreatedAt: time.Now().UTC(),
	}}
	if nu.Password != "" {
		if err := checkPasswordPolicy(op, nu.Password); err != nil {
			return User{}, err
		}
		h, err := HashPassword(nu.Password, s.cfg.Password)
		if err != nil {
			return User{}, fault.Op(op, err)
		}
		d.PasswordHash = h
	}
	if _, err := hosted.CreateJSON(ctx, s.store, usersC, d.ID, userKeys(d.User), d); err != nil {
		if fault.Is(err, fault.Conflict) {
			return User{}, fault.WrapMsg(op, fault.Conflict, "email or username already taken", err)
		}
		return User{}, fault.Op(op, err)
	}
	return d.User, nil
}

// GetUser returns the user with id, or NotFound.
func (s *Service) GetUser(ctx context.Context, id string) (User, error) {
	var d userDoc
	if _, err := hosted.GetJSON(ctx, s.store, usersC, id, &d); err != nil {
		return User{}, fault.Op("auth.GetUser", err)
	}
	return d.User, nil
}

// UserByLogin returns the user whose email (when login holds an '@') or
// username is login, case-insensitively; NotFound otherwise.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	d, err := s.userDocByLogin(ctx, login)
	return d.User, err
}

func (s *Service) userDocByLogin(ctx context.Context, login string) (userDoc, error) {
	const op = "auth.UserByLogin"
	key := "username"
	if strings.Contains(login, "@") {
		key = "email"
	}
	recs, _, err := s.store.Query(ctx, usersC, hosted.Query{Key: key, Prefix: normLogin(login), Exact: true, Limit: 1})
	if err != nil {
		return userDoc{}, fault.Op(op, err)
	}
	if len(recs) == 0 {
		return userDoc{}, fault.New(op, fault.NotFound, "no such user")
	}
	var d userDoc
	if err := unmarshal(op, recs[0].Data, &d); err != nil {
		return userDoc{}, err
	}
	return d, nil
}

// ListUsers returns a page of users in username order.
func (s *Service) ListUsers(ctx context.Context, pg Page) ([]User, string, error) {
	recs, next, err := s.store.Query(ctx, usersC, hosted.Query{Key: "username", After: pg.Cursor, Limit: pg.Limit})
	if err != nil {
		return nil, "", fault.Op("auth.ListUsers", err)
	}
	out := make([]User, 0, len(recs))
	for _, r := range recs {
		var d userDoc
		if err := unmarshal("auth.ListUsers", r.Data, &d); err != nil {
			return nil, "", err
		}
		out = append(out, d.User)
	}
	return out, next, nil
}

// UserUpdate lists the fields to change; nil leaves a field as it is.
type UserUpdate struct {
	Email         *string
	Username      *string
	DisplayName   *string
	Active        *bool
	PlatformAdmin *bool
}

// UpdateUser applies u to the user id and returns the result. NotFound,
// Invalid, or Conflict when the new email or username is taken. Cached
// credentials are invalidated at once, so deactivating a user or taking
// away platform admin takes effect on the next request. Deactivating ends
// every session of the user (EndSessions): reactivating revives none.
func (s *Service) UpdateUser(ctx context.Context, id string, u UserUpdate) (User, error) {
	const op = "auth.UpdateUser"
	if u.Email != nil {
		e := strings.TrimSpace(*u.Email)
		if err := validEmail(op, e); err != nil {
			return User{}, err
		}
		u.Email = &e
	}
	if u.Username != nil {
		if err := validUsername(op, *u.Username); err != nil {
			return User{}, err
		}
	}
	d, err := hosted.Update(ctx, s.store, usersC, id, func(d *userDoc, keys map[string]string) error {
		if u.Email != nil {
			d.Email = *u.Email
		}
		if u.Username != nil {
			d.Username = *u.Username
		}
		if u.DisplayName != nil {
			d.DisplayName = *u.DisplayName
		}
		if u.Active != nil {
			if d.Active && !*u.Active {
				// What was signed with the password before the
				// deactivation (an OCI registry token) must stay dead
				// after a reactivation, as the sessions ended below do.
				d.PasswordStamp = newID()
			}
			d.Active = *u.Active
		}
		if u.PlatformAdmin != nil {
			d.PlatformAdmin = *u.PlatformAdmin
		}
		for k, v := range userKeys(d.User) {
			keys[k] = v
		}
		return nil
	})
	s.userChanged(ctx)
	if err != nil {
		if fault.Is(err, fault.Conflict) {
			return User{}, fault.WrapMsg(op, fault.Conflict, "email or username already taken", err)
		}
		return User{}, fault.Op(op, err)
	}
	if !d.Active {
		if _, err := s.EndSessions(ctx, id, ""); err != nil {
			return User{}, fault.Op(op, err)
		}
	}
	return d.User, nil
}

// SetPassword replaces the password of user id (empty: no password
// sign-in). Cached Basic credentials of the old password stop working at
// once, and every session of the user but keepSession ("" for none: an
// admin's reset) ends, refresh tokens included: whoever knew the old
// password is signed out.
func (s *Service) SetPassword(ctx context.Context, id, password, keepSession string) error {
	const op = "auth.SetPassword"
	var h string
	if password != "" {
		if err := checkPasswordPolicy(op, password); err != nil {
			return err
		}
		var err error
		if h, err = HashPassword(password, s.cfg.Password); err != nil {
			return fault.Op(op, err)
		}
	}
	stamp := newID()
	_, err := hosted.Update(ctx, s.store, usersC, id, func(d *userDoc, _ map[string]string) error {
		d.PasswordHash, d.PasswordStamp = h, stamp
		return nil
	})
	s.userChanged(ctx)
	if err != nil {
		return fault.Op(op, err)
	}
	_, err = s.EndSessions(ctx, id, keepSession)
	return fault.Op(op, err)
}

// DeleteUser deletes the account id; deleting a missing one is not an
// error. Its tokens and sessions stop authenticating at once (their owner
// is gone); memberships naming it are left behind and grant nothing, since
// ids are never reused.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	err := s.store.Delete(ctx, usersC, id)
	s.userChanged(ctx)
	return fault.Op("auth.DeleteUser", err)
}

// BootstrapUsername is the username of the account Bootstrap creates.
const BootstrapUsername = "admin"

// Bootstrap creates a platform admin named BootstrapUsername with email
// when no user exists at all, and does nothing otherwise. An empty password
// makes it generate a strong random one and return it: the caller shows it
// once (to stderr) and never stores it. Concurrent bootstraps from several
// processes create one admin: the username's unique key decides.
func (s *Service) Bootstrap(ctx context.Context, email, password string) (generatedPassword string, err error) {
	const op = "auth.Bootstrap"
	recs, _, err := s.store.Query(ctx, usersC, hosted.Query{Limit: 1})
	if err != nil {
		return "", fault.Op(op, err)
	}
	if len(recs) > 0 {
		return "", nil
	}
	if password == "" {
		password = rand.Text() + rand.Text() // 52 base32 characters, 260 bits
		generatedPassword = password
	}
	_, err = s.CreateUser(ctx, NewUser{Email: email, Username: BootstrapUsername, DisplayName: "Administrator", Password: password, PlatformAdmin: true})
	if fault.Is(err, fault.Conflict) {
		return "", nil // another process bootstrapped first
	}
	if err != nil {
		return "", fault.Op(op, err)
	}
	return generatedPassword, nil
}

func normLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }
