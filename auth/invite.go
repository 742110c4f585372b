package auth

import (
	"context"
	"strings"
	"time"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Invitation asks a user to join an organization: membership takes the
// user's consent. It is addressed to a username or an email as the
// inviter wrote it (lowercased), and the answer to the inviter is the same
// whether or not an account has it. It is bound to that account when one
// exists (UserID, never shown to the inviter); otherwise only an account
// created afterwards under that username or email may accept it, so that
// nobody takes an invitation by renaming an older account.
type Invitation struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"orgId"`
	Invitee   string    `json:"invitee"`
	UserID    string    `json:"userId,omitempty"`
	Role      OrgRole   `json:"role"`
	InvitedBy string    `json:"invitedBy"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// InvitationTTL is how long an invitation may be accepted.
const InvitationTTL = 14 * 24 * time.Hour

// invitationsC: "pending" (orgID/invitee) is unique, so that an invitee
// has at most one invitation per organization.
var invitationsC = hosted.Collection{Name: "auth_invitations", Unique: []string{"pending"}, Index: []string{"org", "invitee", "user"}}

func invitationKeys(inv Invitation) map[string]string {
	keys := map[string]string{"pending": orgKey(inv.OrgID, inv.Invitee), "org": inv.OrgID, "invitee": inv.Invitee}
	if inv.UserID != "" {
		keys["user"] = inv.UserID
	}
	return keys
}

// Invite records an invitation to inv.OrgID for inv.Invitee (a username
// or an email) with inv.Role, and returns it with its id and expiry.
// Invalid for a bad role or invitee, NotFound without the organization,
// Conflict while the invitee has a pending invitation to it. Whether the
// invitee has an account plays no part.
func (s *Service) Invite(ctx context.Context, inv Invitation) (Invitation, error) {
	const op = "auth.Invite"
	switch inv.Role {
	case OrgOwner, OrgAdmin, OrgMember:
	default:
		return Invitation{}, fault.Newf(op, fault.Invalid, "unknown organization role %q", inv.Role)
	}
	inv.Invitee = normLogin(inv.Invitee)
	if inv.Invitee == "" || len(inv.Invitee) > maxEmailLen || strings.ContainsAny(inv.Invitee, " \t\r\n/") {
		return Invitation{}, fault.New(op, fault.Invalid, "invite a username or an email address")
	}
	if err := s.exist(ctx, op, orgsC, inv.OrgID); err != nil {
		return Invitation{}, err
	}
	// One lookup whether or not the account exists: the same work either way.
	switch u, err := s.UserByLogin(ctx, inv.Invitee); {
	case err == nil:
		inv.UserID = u.ID
	case !fault.Is(err, fault.NotFound):
		return Invitation{}, fault.Op(op, err)
	}
	now := time.Now().UTC()
	inv.ID, inv.CreatedAt, inv.ExpiresAt = newID(), now, now.Add(InvitationTTL)
	keys := invitationKeys(inv)
	_, err := hosted.CreateJSON(ctx, s.store, invitationsC, inv.ID, keys, inv)
	if fault.Is(err, fault.Conflict) {
		// An expired invitation makes way for a new one.
		old, _, qerr := queryJSON[Invitation](ctx, s.store, invitationsC, hosted.Query{Key: "pending", Prefix: keys["pending"], Exact: true, Limit: 1})
		if qerr != nil {
			return Invitation{}, fault.Op(op, qerr)
		}
		if len(old) == 0 || !old[0].expired(now) {
			return Invitation{}, fault.Newf(op, fault.Conflict, "%s has a pending invitation to this organization", inv.Invitee)
		}
		if err := s.store.Delete(ctx, invitationsC, old[0].ID); err != nil {
			return Invitation{}, fault.Op(op, err)
		}
		_, err = hosted.CreateJSON(ctx, s.store, invitationsC, inv.ID, keys, inv)
	}
	if err != nil {
		return Invitation{}, fault.Op(op, err)
	}
	return inv, nil
}

func (inv Invitation) expired(now time.Time) bool { return !now.Before(inv.ExpiresAt) }

// For reports whether u may answer the invitation: the account it is
// bound to, or, for one made when no account had the invitee's name, an
// account created since under that username or email.
func (inv Invitation) For(u User) bool {
	if inv.UserID != "" {
		return inv.UserID == u.ID
	}
	return (inv.Invitee == normLogin(u.Username) || inv.Invitee == normLogin(u.Email)) && !u.CreatedAt.Before(inv.CreatedAt)
}

// GetInvitation returns a pending invitation; NotFound when it does not
// exist or has expired.
func (s *Service) GetInvitation(ctx context.Context, id string) (Invitation, error) {
	const op = "auth.GetInvitation"
	var inv Invitation
	if _, err := hosted.GetJSON(ctx, s.store, invitationsC, id, &inv); err != nil {
		return inv, fault.Op(op, err)
	}
	if inv.expired(time.Now()) {
		return Invitation{}, fault.New(op, fault.NotFound, "invitation not found")
	}
	return inv, nil
}

// OrgInvitations returns a page of orgID's invitations, pending or expired.
func (s *Service) OrgInvitations(ctx context.Context, orgID string, pg Page) ([]Invitation, string, error) {
	out, next, err := queryJSON[Invitation](ctx, s.store, invitationsC, hosted.Query{Key: "org", Prefix: orgID, Exact: true, After: pg.Cursor, Limit: pg.Limit})
	return out, next, fault.Op("auth.OrgInvitations", err)
}

// InvitationsFor returns the pending invitations u may answer (For): those
// bound to it, and those under its username or email made before it was.
func (s *Service) InvitationsFor(ctx context.Context, u User) ([]Invitation, error) {
	const op = "auth.InvitationsFor"
	now := time.Now()
	var out []Invitation
	seen := map[string]bool{}
	for _, q := range []struct{ key, value string }{{"user", u.ID}, {"invitee", normLogin(u.Username)}, {"invitee", normLogin(u.Email)}} {
		if q.value == "" {
			continue
		}
		err := s.eachWhere(ctx, invitationsC, q.key, q.value, func(r hosted.Record) error {
			var inv Invitation
			if err := unmarshal(op, r.Data, &inv); err != nil {
				return err
			}
			if !inv.expired(now) && inv.For(u) && !seen[inv.ID] {
				seen[inv.ID] = true
				out = append(out, inv)
			}
			return nil
		})
		if err != nil {
			return nil, fault.Op(op, err)
		}
	}
	return out, nil
}

// AcceptInvitation makes u a member of the invitation's organization with
// its role (a member already keeps the role it has) and removes the
// invitation. NotFound when the invitation is missing, expired or not
// addressed to u.
func (s *Service) AcceptInvitation(ctx context.Context, id string, u User) (Invitation, error) {
	const op = "auth.AcceptInvitation"
	inv, err := s.GetInvitation(ctx, id)
	if err == nil && !inv.For(u) {
		err = fault.New(op, fault.NotFound, "invitation not found")
	}
	if err != nil {
		return Invitation{}, fault.Op(op, err)
	}
	if _, err := s.OrgMember(ctx, inv.OrgID, u.ID); fault.Is(err, fault.NotFound) {
		if err := s.SetOrgMember(ctx, inv.OrgID, u.ID, inv.Role); err != nil {
			return Invitation{}, fault.Op(op, err)
		}
	} else if err != nil {
		return Invitation{}, fault.Op(op, err)
	}
	return inv, fault.Op(op, s.store.Delete(ctx, invitationsC, inv.ID))
}

// DeleteInvitation removes an invitation (declined or revoked). Missing:
// not an error.
func (s *Service) DeleteInvitation(ctx context.Context, id string) error {
	return fault.Op("auth.DeleteInvitation", s.store.Delete(ctx, invitationsC, id))
}
