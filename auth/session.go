package auth

import (
	"context"
	"crypto/subtle"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Session is one sign-in. Its id is the "sid" claim of every token issued
// for it; RefreshID is the id ("jti") of the one refresh token that may be
// exchanged next. A revoked or expired session authenticates nothing.
type Session struct {
	ID        string    `json:"id"`
	UserID    string    `json:"userId"`
	ClientIP  string    `json:"clientIp,omitempty"`
	UserAgent string    `json:"userAgent,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// LastUsedAt is the last sign-in or refresh: an access token lives
	// minutes, so a session in use refreshes at least that often, and
	// requests themselves write nothing.
	LastUsedAt time.Time `json:"lastUsedAt,omitzero"`
	ExpiresAt  time.Time `json:"expiresAt"`
	RefreshID  string    `json:"refreshId"`
	Revoked    bool      `json:"revoked,omitempty"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
}

type userAgentKey struct{}

// WithUserAgent returns ctx carrying the client's User-Agent, which a
// session opened under it (Login, external sign-in) records for
// ListSessions.
func WithUserAgent(ctx context.Context, ua string) context.Context {
	if len(ua) > 256 {
		ua = strings.ToValidUTF8(ua[:256], "")
	}
	return context.WithValue(ctx, userAgentKey{}, ua)
}

// Tokens is what a sign-in or a refresh answers.
type Tokens struct {
	AccessToken      string
	RefreshToken     string
	ExpiresIn        time.Duration // of the access token
	RefreshExpiresAt time.Time
	SessionID        string
	User             User
}

// claims are the JWT claims of both token types: sub is the user id, jti
// the token id, sid the session id and typ "access" or "refresh".
type claims struct {
	jwt.RegisteredClaims
	SID string `json:"sid"`
	Typ string `json:"typ"`
}

const (
	typAccess  = "access"
	typRefresh = "refresh"
)

func errBadCredentials(op string) error {
	return fault.New(op, fault.Unauthorized, "invalid credentials")
}

// Login signs in with an email or username and a password and opens a
// session. Failures are all the same Unauthorized "invalid credentials",
// whether the account is unknown, inactive, has no password or the
// password is wrong, and take the same time (an unknown account is checked
// against a dummy hash). Repeated failures are throttled per client
// address, and per account only for addresses that have been failing
// (Throttle.Allow): the error is then a *ThrottleError
// (fault.RateLimited) carrying the wait.
func (s *Service) Login(ctx context.Context, login, password, clientIP string) (Tokens, error) {
	const op = "auth.Login"
	if err := s.throttle.Allow(login, clientIP); err != nil {
		return Tokens{}, fault.Op(op, err)
	}
	d, err := s.checkPassword(ctx, op, login, password)
	if err != nil {
		if fault.Is(err, fault.Unauthorized) {
			s.throttle.Failed(login, clientIP)
		}
		return Tokens{}, err
	}
	s.throttle.Succeeded(login, clientIP)
	return s.openSession(ctx, d.User, clientIP)
}

// checkPassword finds the account and verifies password in constant time;
// it upgrades an outdated hash on success.
func (s *Service) checkPassword(ctx context.Context, op, login, password string) (userDoc, error) {
	if len(password) > maxPassword {
		return userDoc{}, errBadCredentials(op)
	}
	d, err := s.userDocByLogin(ctx, login)
	if fault.Is(err, fault.NotFound) {
		VerifyPassword(password, s.dummy, s.cfg.Password)
		return userDoc{}, errBadCredentials(op)
	}
	if err != nil {
		return userDoc{}, fault.Op(op, err)
	}
	hash := d.PasswordHash
	if hash == "" {
		hash = s.dummy
	}
	ok, rehash, err := VerifyPassword(password, hash, s.cfg.Password)
	if err != nil {
		return userDoc{}, fault.Op(op, err)
	}
	if !ok || !d.Active || d.PasswordHash == "" {
		return userDoc{}, errBadCredentials(op)
	}
	if rehash {
		s.rehash(ctx, d.ID, d.PasswordHash, password)
	}
	return d, nil
}

// rehash replaces old with a hash under the current parameters, unless the
// password changed meanwhile. It is best effort: a failure leaves the old
// hash, which still verifies.
func (s *Service) rehash(ctx context.Context, id, old, password string) {
	h, err := HashPassword(password, s.cfg.Password)
	if err != nil {
		return
	}
	hosted.Update(ctx, s.store, usersC, id, func(d *userDoc, _ map[string]string) error {
		if d.PasswordHash != old {
			return fault.New("auth.rehash", fault.Conflict, "password changed")
		}
		d.PasswordHash = h
		return nil
	})
}

func (s *Service) openSession(ctx context.Context, u User, clientIP string) (Tokens, error) {
	const op = "auth.Login"
	now := time.Now().UTC()
	ua, _ := ctx.Value(userAgentKey{}).(string)
	sess := Session{
		ID: newID(), UserID: u.ID, ClientIP: clientIP, UserAgent: ua, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(s.cfg.RefreshTTL), RefreshID: newID(),
	}
	if _, err := hosted.CreateJSON(ctx, s.store, sessionsC, sess.ID, map[string]string{"user": u.ID}, sess); err != nil {
		return Tokens{}, fault.Op(op, err)
	}
	return s.issue(op, u, sess, now)
}

// issue signs an access token and the session's current refresh token.
func (s *Service) issue(op string, u User, sess Session, now time.Time) (Tokens, error) {
	access, err := s.sign(u.ID, sess.ID, newID(), typAccess, now, now.Add(s.cfg.AccessTTL))
	if err != nil {
		return Tokens{}, fault.Wrap(op, fault.Internal, err)
	}
	refresh, err := s.sign(u.ID, sess.ID, sess.RefreshID, typRefresh, now, sess.ExpiresAt)
	if err != nil {
		return Tokens{}, fault.Wrap(op, fault.Internal, err)
	}
	return Tokens{
		AccessToken: access, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTTL,
		RefreshExpiresAt: sess.ExpiresAt, SessionID: sess.ID, User: u,
	}, nil
}

func (s *Service) sign(sub, sid, jti, typ string, now, exp time.Time) (string, error) {
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: sub, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
		},
		SID: sid, Typ: typ,
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.cfg.SigningKey)
}

// parse verifies a token's signature, issuer, times and type.
func (s *Service) parse(op, token, typ string) (*claims, error) {
	var c claims
	_, err := s.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.cfg.SigningKey, nil })
	if err != nil {
		return nil, fault.WrapMsg(op, fault.Unauthorized, "invalid or expired token", err)
	}
	if c.Typ != typ || c.SID == "" || c.Subject == "" || c.ID == "" {
		return nil, fault.New(op, fault.Unauthorized, "invalid or expired token")
	}
	return &c, nil
}

// Refresh exchanges the session's current refresh token for a new pair and
// rotates it: the presented token can never be used again. Presenting a
// refresh token that was already exchanged means it leaked, so the whole
// session is revoked and its access tokens stop working at once. Every
// failure is Unauthorized.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	const op = "auth.Refresh"
	c, err := s.parse(op, refreshToken, typRefresh)
	if err != nil {
		return Tokens{}, err
	}
	now := time.Now().UTC()
	next := newID()
	var reused bool
	sess, err := hosted.Update(ctx, s.store, sessionsC, c.SID, func(v *Session, _ map[string]string) error {
		reused = false
		if v.Revoked || !now.Before(v.ExpiresAt) || v.UserID != c.Subject {
			return errBadCredentials(op)
		}
		if subtle.ConstantTimeCompare([]byte(v.RefreshID), []byte(c.ID)) != 1 {
			reused = true
			v.Revoked, v.RevokedAt = true, now
			return nil
		}
		v.RefreshID = next
		v.ExpiresAt = now.Add(s.cfg.RefreshTTL)
		v.LastUsedAt = now
		return nil
	})
	if fault.Is(err, fault.NotFound) {
		return Tokens{}, errBadCredentials(op)
	}
	if err != nil {
		return Tokens{}, fault.Op(op, err)
	}
	if reused {
		s.revoked(ctx, sess.ID)
		return Tokens{}, fault.New(op, fault.Unauthorized, "refresh token reused; session revoked")
	}
	var d userDoc
	if _, err := hosted.GetJSON(ctx, s.store, usersC, sess.UserID, &d); err != nil || !d.Active {
		if err != nil && !fault.Is(err, fault.NotFound) {
			return Tokens{}, fault.Op(op, err)
		}
		return Tokens{}, errBadCredentials(op)
	}
	return s.issue(op, d.User, sess, now)
}

// Logout revokes session id: its refresh token is refused and its access
// tokens fail at once in this process (other processes notice through
// the change feed, or within Config.CacheTTL without one). Revoking a
// missing or revoked session is not an error.
func (s *Service) Logout(ctx context.Context, sessionID string) error {
	const op = "auth.Logout"
	now := time.Now().UTC()
	_, err := hosted.Update(ctx, s.store, sessionsC, sessionID, func(v *Session, _ map[string]string) error {
		if !v.Revoked {
			v.Revoked, v.RevokedAt = true, now
		}
		return nil
	})
	s.revoked(ctx, sessionID)
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	return fault.Op(op, err)
}

// ListSessions returns userID's live sessions (neither revoked nor
// expired), the newest first.
func (s *Service) ListSessions(ctx context.Context, userID string) ([]Session, error) {
	const op = "auth.ListSessions"
	now := time.Now()
	out := []Session{}
	err := s.eachWhere(ctx, sessionsC, "user", userID, func(r hosted.Record) error {
		var v Session
		if err := unmarshal(op, r.Data, &v); err != nil {
			return err
		}
		if !v.Revoked && now.Before(v.ExpiresAt) && v.UserID == userID {
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fault.Op(op, err)
	}
	slices.SortFunc(out, func(a, b Session) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// EndSession revokes userID's session id, as Logout does; NotFound when
// the user holds no such live session, so that ids of others' sessions
// reveal nothing.
func (s *Service) EndSession(ctx context.Context, userID, id string) error {
	const op = "auth.EndSession"
	v, err := s.GetSession(ctx, id)
	if err == nil && (v.UserID != userID || v.Revoked) {
		err = fault.New(op, fault.NotFound, "no such session")
	}
	if err != nil {
		return fault.Op(op, err)
	}
	return s.Logout(ctx, id)
}

// EndSessions revokes every live session of userID but keep ("" for none)
// and returns how many it ended: their refresh tokens are refused and
// their access tokens fail at once in this process (elsewhere through the
// change feed, or within Config.CacheTTL without one). A revoked session stays revoked, whatever
// later happens to the user.
func (s *Service) EndSessions(ctx context.Context, userID, keep string) (int, error) {
	const op = "auth.EndSessions"
	live, err := s.ListSessions(ctx, userID)
	if err != nil {
		return 0, fault.Op(op, err)
	}
	n := 0
	for _, v := range live {
		if v.ID == keep {
			continue
		}
		if err := s.Logout(ctx, v.ID); err != nil {
			return n, fault.Op(op, err)
		}
		n++
	}
	return n, nil
}

// GetSession returns session id, or NotFound.
func (s *Service) GetSession(ctx context.Context, id string) (Session, error) {
	var v Session
	_, err := hosted.GetJSON(ctx, s.store, sessionsC, id, &v)
	return v, fault.Op("auth.GetSession", err)
}

// sessionLive reports whether session sid of user is neither revoked nor
// expired, from the cache when it can.
func (s *Service) sessionLive(ctx context.Context, sid, userID string) (bool, error) {
	if live, ok := s.sessions.get(sid); ok {
		return live, nil
	}
	// A Logout racing with this read must win: cache only when no session
	// was revoked in between.
	gen := s.sessGen.Load()
	var v Session
	_, err := hosted.GetJSON(ctx, s.store, sessionsC, sid, &v)
	if fault.Is(err, fault.NotFound) {
		s.sessions.add(sid, false, time.Time{})
		return false, nil
	}
	if err != nil {
		return false, fault.Op("auth.sessionLive", err)
	}
	live := !v.Revoked && time.Now().Before(v.ExpiresAt) && v.UserID == userID
	if s.sessGen.Load() == gen {
		until := v.ExpiresAt
		if !live {
			until = time.Time{}
		}
		s.sessions.add(sid, live, until)
	}
	return live, nil
}

// revoked marks session id dead in the cache, ahead of any concurrent
// lookup that read it alive, and reports it to the change feed.
func (s *Service) revoked(ctx context.Context, id string) {
	s.endSession(id)
	s.notify(ctx, hosted.Change{Kind: hosted.ChangeSession, Subject: id})
}

// endSession marks session id dead in the cache.
func (s *Service) endSession(id string) {
	s.sessGen.Add(1)
	s.sessions.add(id, false, time.Time{})
}
