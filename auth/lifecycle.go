package auth

import (
	"context"

	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// OrgExists reports whether store holds the organization with id, for
// fsck's check that every claim has its organization. Errors are the
// store's.
func OrgExists(ctx context.Context, store hosted.Store, id string) (bool, error) {
	_, err := store.Get(ctx, orgsC, id)
	if fault.Is(err, fault.NotFound) {
		return false, nil
	}
	return err == nil, fault.Op("auth.OrgExists", err)
}
