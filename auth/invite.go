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
// inviter wrote it (lowercased), not to a user looked up, so that inviting
// tells the inviter nothing about which accounts exist; whoever signs in
// under that username or email sees it and may accept it.
type Invitation struct {
	ID        string    `json:"id"`
	OrgID     string    `json:"orgId"`
	Invitee   string    `json:"invitee"`
	Role      OrgRole   `json:"role"`
	InvitedBy string    `json:"invitedBy"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// InvitationTTL is how long an invitation may be accepted.
const InvitationTTL = 14 * 24 * time.Hour

// invitationsC: "pending" (orgID/invitee) is unique, so that an invitee
// has at most one invitation per organization.
var invitationsC = hosted.Collection{Name: "auth_invitations", Unique: []string{"pending"}, Index: []string{"org", "invitee"}}

func invitationKeys(inv Invitation) map[string]string {
	return map[string]string{"pending": orgKey(inv.OrgID, inv.Invitee), "org": inv.OrgID, "invitee": inv.Invitee}
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

// For reports whether the invitation is addressed to u.
func (inv Invitation) For(u User) bool {
	return inv.Invitee == normLogin(u.Username) || inv.Invitee == normLogin(u.Email)
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

// InvitationsFor returns the pending invitations addressed to u, under its
// username or its email.
func (s *Service) InvitationsFor(ctx context.Context, u User) ([]Invitation, error) {
	const op = "auth.InvitationsFor"
	now := time.Now()
	var out []Invitation
	for _, to := range []string{normLogin(u.Username), normLogin(u.Email)} {
		if to == "" {
			continue
		}
		err := s.eachWhere(ctx, invitationsC, "invitee", to, func(r hosted.Record) error {
			var inv Invitation
			if err := unmarshal(op, r.Data, &inv); err != nil {
				return err
			}
			if !inv.expired(now) {
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
