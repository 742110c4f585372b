package cache

import "context"

// GetAdopting is Get whose Request.Legacy is built only when it can
// matter: legacy is called (at most once, and not retained) when r.Key
// has no record, so that a hit pays nothing for the older layout's key.
func (c *Cache) GetAdopting(ctx context.Context, r Request, legacy func() string) (Entry, error) {
	if legacy != nil && r.Legacy == "" {
		if _, found, err := c.lookup(ctx, r.Key); err == nil && !found {
			r.Legacy = legacy()
		}
	}
	return c.Get(ctx, r)
}
