package api

import (
	"context"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"entrepot/edge"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Settings are the platform settings, stored in the metadata store as one
// document and applied to the running edge when they change: on the edge
// that changes them at once, on the others when the change feed brings
// the change (settings.changed).
type Settings struct {
	// AnonymousMirrorReads lets anonymous callers read mirrored (unclaimed)
	// packages; edge.Registry.MayMirror follows it at once.
	AnonymousMirrorReads bool `json:"anonymousMirrorReads"`
	// UserOrganizations lets any signed-in user create organizations (and
	// own them); false keeps that to platform admins.
	UserOrganizations bool `json:"userOrganizations"`
}

func defaultSettings() Settings {
	// Organizations own namespaces (npm scopes, OCI first segments,
	// Composer vendors): creating one is an administrator's decision
	// unless the platform opens it to every user.
	return Settings{AnonymousMirrorReads: true, UserOrganizations: false}
}

// settingsC holds the one platform settings document, id settingsID.
var settingsC = hosted.Collection{Name: "settings"}

const settingsID = "platform"

// settings keeps the current settings in memory for the request path.
type settings struct {
	r   *edge.Registry
	mu  sync.RWMutex
	cur Settings
}

// newSettings loads the stored settings, or the defaults (the registry's
// configured anonymous mirror reads among them) when none are stored yet.
func newSettings(r *edge.Registry) *settings {
	s := &settings{r: r, cur: defaultSettings()}
	s.cur.AnonymousMirrorReads = r.AnonymousMirrorReads()
	if r.Catalog == nil {
		return s
	}
	var st Settings
	// At start-up, before any request: the process's context.
	_, err := hosted.GetJSON(context.Background(), r.Catalog.Store(), settingsC, settingsID, &st)
	switch {
	case err == nil:
		s.cur = st
		r.SetAnonymousMirror(st.AnonymousMirrorReads)
	case !fault.Is(err, fault.NotFound):
		r.Log.Warn("platform settings unreadable; defaults in force", "error", err)
	}
	return s
}

func (s *settings) get() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

// update stores the settings fn makes of the stored ones and applies them.
func (s *settings) update(ctx context.Context, fn func(*Settings)) (Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.r.Catalog.Store()
	base := s.cur
	next, err := hosted.Update(ctx, st, settingsC, settingsID, func(v *Settings, _ map[string]string) error {
		fn(v)
		return nil
	})
	if fault.Is(err, fault.NotFound) {
		next = base
		fn(&next)
		_, err = hosted.CreateJSON(ctx, st, settingsC, settingsID, nil, next)
		if fault.Is(err, fault.Conflict) { // another process created it first
			next, err = hosted.Update(ctx, st, settingsC, settingsID, func(v *Settings, _ map[string]string) error {
				fn(v)
				return nil
			})
		}
	}
	if err != nil {
		return s.cur, err
	}
	s.cur = next
	s.r.SetAnonymousMirror(next.AnonymousMirrorReads)
	s.r.Notify(context.Background(), hosted.Change{Kind: hosted.ChangeSettings}) // the other edges reload them; recorded whatever becomes of the request
	return next, nil
}

// changed reloads the stored settings after another edge changed them
// (edge.Registry.OnChange, the change feed), or when the feed could not
// be read. The store read runs apart from the feed's dispatch.
func (s *settings) changed(c hosted.Change) {
	if c.Kind == hosted.ChangeSettings || c.Kind == hosted.ChangeAll {
		go s.reload()
	}
}

// reload applies the stored settings; unreadable, the ones in force
// stay. Reloads run one at a time, each reading after the last.
func (s *settings) reload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // no request: the feed's
	defer cancel()
	var st Settings
	_, err := hosted.GetJSON(ctx, s.r.Catalog.Store(), settingsC, settingsID, &st)
	if err != nil {
		if !fault.Is(err, fault.NotFound) {
			s.r.Log.Warn("platform settings unreadable; those in force stay", "error", err)
		}
		return
	}
	s.cur = st
	s.r.SetAnonymousMirror(st.AnonymousMirrorReads)
}

type settingsRequest struct {
	AnonymousMirrorReads *bool `json:"anonymousMirrorReads"`
	UserOrganizations    *bool `json:"userOrganizations"`
}

// getSettings: GET /api/v1/admin/auth/settings (platform admins).
func (h *Handler) getSettings(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, h.settings.get())
}

// putSettings: PUT /api/v1/admin/auth/settings — fields left out keep
// their value.
func (h *Handler) putSettings(ctx *fasthttp.RequestCtx) error {
	if _, err := h.admin(ctx); err != nil {
		return err
	}
	var req settingsRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	noteOf(ctx).target = "platform settings"
	st, err := h.settings.update(edge.Context(ctx), func(s *Settings) {
		if req.AnonymousMirrorReads != nil {
			s.AnonymousMirrorReads = *req.AnonymousMirrorReads
		}
		if req.UserOrganizations != nil {
			s.UserOrganizations = *req.UserOrganizations
		}
	})
	if err != nil {
		return err
	}
	noteOf(ctx).detail = string(mustJSON(st))
	return reply(ctx, fasthttp.StatusOK, st)
}
