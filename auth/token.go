package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"sync/atomic"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// TokenPrefix starts every API token, so that secret scanners and the
// credential parser can recognize one.
const TokenPrefix = "srg_"

// tokenBytes is the entropy of an API token: 256 bits, 43 base64url
// characters after the prefix.
const tokenBytes = 32

// knownProtocol reports whether a repository or a token scope may name
// protocol: one of Config.Protocols, or any name when none were given.
func (s *Service) knownProtocol(protocol string) bool {
	return protocol != "" && (s.cfg.Protocols == nil || slices.Contains(s.cfg.Protocols, protocol))
}

// Token is an API token as listed: everything but the secret, which exists
// in clear only in CreateToken's answer and is stored as its sha256.
// Empty Protocols, Actions or Organizations mean no restriction on that
// axis; a zero ExpiresAt means no expiry. A token whose Actions hold
// "manage" (a management token) always names its Organizations: it
// manages those through the management API, and nothing else.
type Token struct {
	ID            string    `json:"id"`
	OwnerID       string    `json:"ownerId"`
	Name          string    `json:"name"`
	Protocols     []string  `json:"protocols,omitempty"`
	Actions       []string  `json:"actions,omitempty"`
	Organizations []string  `json:"organizations,omitempty"` // organization ids
	ExpiresAt     time.Time `json:"expiresAt,omitzero"`
	CreatedAt     time.Time `json:"createdAt"`
	LastUsedAt    time.Time `json:"lastUsedAt,omitzero"`
}

// Scopes returns the token's restrictions as a Principal carries them.
func (t Token) Scopes() *Scopes {
	sc := &Scopes{Protocols: t.Protocols, Organizations: t.Organizations, ExpiresAt: t.ExpiresAt}
	for _, a := range t.Actions {
		if act, err := ParseAction(a); err == nil {
			sc.Actions |= act
		}
	}
	if len(t.Actions) == 0 {
		sc.Actions = Read | Write | Delete
	}
	if sc.Actions&Manage != 0 {
		// Managing an organization's repositories is more than using
		// them, as a repository admin role is.
		sc.Actions = allActions
	}
	return sc
}

// Manages reports whether t is a management token.
func (t Token) Manages() bool { return slices.Contains(t.Actions, "manage") }

// NewToken describes a token to create. Organizations may name
// organizations by id or by name; they are stored as ids.
type NewToken struct {
	Name          string
	Protocols     []string
	Actions       []string // of read, write, delete, manage
	Organizations []string
	ExpiresAt     time.Time
}

// tokenHash is the stored form of a token: hex sha256. A token carries 256
// random bits, so a fast hash is enough (no salt or stretching needed).
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormedToken reports whether token could be one of ours, to refuse
// garbage before a store round trip.
func wellFormedToken(token string) bool {
	if len(token) < len(TokenPrefix)+43 || len(token) > 128 || token[:len(TokenPrefix)] != TokenPrefix {
		return false
	}
	for i := len(TokenPrefix); i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CreateToken creates an API token for ownerID and returns it with its
// clear secret, which is never shown again. Invalid for an unknown
// protocol or action, an unknown organization, an empty or long name or a
// past expiry, or a manage action without organizations; Forbidden for a
// manage action on an organization the owner does not own (platform
// admins excepted); NotFound when the owner does not exist. Scopes only
// narrow: the token never grants more than its owner has at the time of
// use.
func (s *Service) CreateToken(ctx context.Context, ownerID string, nt NewToken) (Token, string, error) {
	const op = "auth.CreateToken"
	if nt.Name == "" || len(nt.Name) > 100 {
		return Token{}, "", fault.New(op, fault.Invalid, "token name must be 1 to 100 characters")
	}
	for _, p := range nt.Protocols {
		if !s.knownProtocol(p) {
			return Token{}, "", fault.Newf(op, fault.Invalid, "unknown protocol %q", p)
		}
	}
	manage := false
	for _, a := range nt.Actions {
		act, err := ParseAction(a)
		if err != nil {
			return Token{}, "", fault.Newf(op, fault.Invalid, "token action %q is not one of read, write, delete, manage", a)
		}
		manage = manage || act == Manage
	}
	if manage && len(nt.Organizations) == 0 {
		return Token{}, "", fault.New(op, fault.Invalid, "a token with the manage action names the organizations it manages")
	}
	now := time.Now().UTC()
	if !nt.ExpiresAt.IsZero() && !nt.ExpiresAt.After(now) {
		return Token{}, "", fault.New(op, fault.Invalid, "expiresAt is in the past")
	}
	owner, err := s.GetUser(ctx, ownerID)
	if err != nil {
		return Token{}, "", fault.Op(op, err)
	}
	orgs := make([]string, 0, len(nt.Organizations))
	for _, o := range nt.Organizations {
		org, err := s.GetOrg(ctx, o)
		if fault.Is(err, fault.NotFound) {
			return Token{}, "", fault.Newf(op, fault.Invalid, "unknown organization %q", o)
		}
		if err != nil {
			return Token{}, "", fault.Op(op, err)
		}
		if manage && !owner.PlatformAdmin {
			// Only an owner hands management of its organization to a
			// script: an admin could otherwise mint a credential that
			// outlives its own role's review.
			m, err := s.OrgMember(ctx, org.ID, ownerID)
			if err != nil && !fault.Is(err, fault.NotFound) {
				return Token{}, "", fault.Op(op, err)
			}
			if err != nil || m.Role != OrgOwner {
				return Token{}, "", fault.Newf(op, fault.Forbidden, "a management token for %s takes a platform admin or an owner of it", org.Name)
			}
		}
		orgs = append(orgs, org.ID)
	}
	t := Token{
		ID: newID(), OwnerID: ownerID, Name: nt.Name,
		Protocols: sortedSet(nt.Protocols), Actions: sortedSet(nt.Actions), Organizations: sortedSet(orgs),
		ExpiresAt: nt.ExpiresAt.UTC(), CreatedAt: now,
	}
	if nt.ExpiresAt.IsZero() {
		t.ExpiresAt = time.Time{}
	}
	var raw [tokenBytes]byte
	rand.Read(raw[:])
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	keys := map[string]string{"hash": tokenHash(secret), "owner": ownerID}
	if _, err := hosted.CreateJSON(ctx, s.store, tokensC, t.ID, keys, t); err != nil {
		return Token{}, "", fault.Op(op, err)
	}
	return t, secret, nil
}

func sortedSet(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

// GetToken returns token id, or NotFound.
func (s *Service) GetToken(ctx context.Context, id string) (Token, error) {
	var t Token
	_, err := hosted.GetJSON(ctx, s.store, tokensC, id, &t)
	return t, fault.Op("auth.GetToken", err)
}

// ListTokens returns a page of ownerID's tokens.
func (s *Service) ListTokens(ctx context.Context, ownerID string, pg Page) ([]Token, string, error) {
	const op = "auth.ListTokens"
	recs, next, err := s.store.Query(ctx, tokensC, hosted.Query{Key: "owner", Prefix: ownerID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	if err != nil {
		return nil, "", fault.Op(op, err)
	}
	out := make([]Token, 0, len(recs))
	for _, r := range recs {
		var t Token
		if err := unmarshal(op, r.Data, &t); err != nil {
			return nil, "", err
		}
		out = append(out, t)
	}
	return out, next, nil
}

// RevokeToken deletes token id; it stops authenticating at once in this
// process, and in others when the change feed brings it (within
// Config.CacheTTL without one). Revoking a missing token is
// not an error. Whether the caller may revoke it is the caller's check.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	err := s.store.Delete(ctx, tokensC, id)
	s.userChanged(ctx)
	s.usedMu.Lock()
	delete(s.used, id)
	s.usedMu.Unlock()
	return fault.Op("auth.RevokeToken", err)
}

// tokenUsed notes that token id was used at now; FlushTokenUse writes it.
// noted, when not nil, is the cached credential's note of its last use:
// a token in continuous use is noted once a second rather than on every
// request, which keeps the hot path off usedMu (that every core would
// take in turn); last-used times are kept to the second.
func (s *Service) tokenUsed(id string, noted *atomic.Int64, now time.Time) {
	if noted != nil {
		last := noted.Load()
		if now.UnixNano()-last < int64(time.Second) || !noted.CompareAndSwap(last, now.UnixNano()) {
			return
		}
	}
	s.usedMu.Lock()
	s.used[id] = now
	s.usedMu.Unlock()
}

// FlushTokenUse writes the last-used times noted since the previous flush,
// one update per token used, instead of one per request. Tokens revoked
// meanwhile are skipped; the first other error is returned after trying
// every token.
func (s *Service) FlushTokenUse(ctx context.Context) error {
	s.usedMu.Lock()
	batch := s.used
	s.used = make(map[string]time.Time, len(batch))
	s.usedMu.Unlock()
	var first error
	for id, at := range batch {
		at := at.UTC()
		_, err := hosted.Update(ctx, s.store, tokensC, id, func(t *Token, _ map[string]string) error {
			if at.After(t.LastUsedAt) {
				t.LastUsedAt = at
			}
			return nil
		})
		if err != nil && !fault.Is(err, fault.NotFound) && first == nil {
			first = fault.Op("auth.FlushTokenUse", err)
		}
	}
	return first
}

// RunTokenFlusher calls FlushTokenUse every interval until ctx ends, then
// flushes once more under a short detached deadline so that shutdown loses
// nothing. Errors go to onErr when it is not nil. Run it in its own
// goroutine; it returns when done.
func (s *Service) RunTokenFlusher(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	report := func(err error) {
		if err != nil && onErr != nil {
			onErr(err)
		}
	}
	for {
		select {
		case <-t.C:
			report(s.FlushTokenUse(ctx))
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			report(s.FlushTokenUse(fctx))
			cancel()
			return
		}
	}
}
