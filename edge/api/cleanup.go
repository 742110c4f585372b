package api

import (
	"strconv"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/edge"
	"entrepot/hosted/cleanup"
	"entrepot/hosted/fault"
)

// cleanupRequest is the body of PUT /repositories/{repoId}/cleanup.
type cleanupRequest struct {
	Keep *int `json:"keep"`
}

// cleanupRunner is the runner, or an error saying there is none.
func (h *Handler) cleanupRunner() (*cleanup.Runner, error) {
	if h.opts.Cleanup == nil {
		return nil, fault.New("api", fault.Unavailable, "cleanup policies are not enabled on this server")
	}
	return h.opts.Cleanup, nil
}

// getCleanup: GET /api/v1/repositories/{repoId}/cleanup — the policy and
// what its last run did; 404 without one.
func (h *Handler) getCleanup(ctx *fasthttp.RequestCtx) error {
	run, err := h.cleanupRunner()
	if err != nil {
		return err
	}
	_, repo, err := h.repoFor(ctx, h.user, auth.Read)
	if err != nil {
		return err
	}
	p, err := run.Policy(edge.Context(ctx), repo.ID)
	if fault.Is(err, fault.NotFound) {
		return notFound("cleanup policy of repository " + repo.ID)
	}
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, p)
}

// putCleanup: PUT /api/v1/repositories/{repoId}/cleanup {"keep": N} —
// from the next CLEANUP_INTERVAL on, each series of the repository keeps
// its N newest pre-releases (npm), SNAPSHOT builds (Maven) or untagged
// manifests (OCI).
func (h *Handler) putCleanup(ctx *fasthttp.RequestCtx) error {
	run, err := h.cleanupRunner()
	if err != nil {
		return err
	}
	p, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	var req cleanupRequest
	if err := h.decode(ctx, &req); err != nil {
		return err
	}
	if req.Keep == nil {
		return invalid("keep is required: how many of each series' newest pre-releases, snapshots or untagged manifests stay")
	}
	noteOf(ctx).detail = "keep " + strconv.Itoa(*req.Keep)
	pol, err := run.SetPolicy(edge.Context(ctx), cleanup.Policy{
		RepoID: repo.ID, OrgID: repo.OrgID, Protocol: repo.Protocol, Keep: *req.Keep, UpdatedBy: p.UserID,
	})
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, pol)
}

// deleteCleanup: DELETE /api/v1/repositories/{repoId}/cleanup.
func (h *Handler) deleteCleanup(ctx *fasthttp.RequestCtx) error {
	run, err := h.cleanupRunner()
	if err != nil {
		return err
	}
	_, repo, err := h.repoFor(ctx, h.manager, auth.Manage)
	if err != nil {
		return err
	}
	if err := run.DeletePolicy(edge.Context(ctx), repo.ID); err != nil {
		if fault.Is(err, fault.NotFound) {
			return notFound("cleanup policy of repository " + repo.ID)
		}
		return err
	}
	return noContent(ctx)
}

// runCleanup: POST /api/v1/repositories/{repoId}/cleanup/run[?dryRun=true]
// — applies the policy now; a dry run (which needs only read access)
// lists what it would delete and deletes nothing. 409 while another run
// is under way.
func (h *Handler) runCleanup(ctx *fasthttp.RequestCtx) error {
	run, err := h.cleanupRunner()
	if err != nil {
		return err
	}
	dry, err := flag(ctx, "dryRun")
	if err != nil {
		return err
	}
	action := auth.Delete
	if dry {
		action = auth.Read
		noteOf(ctx).detail = "dry run"
	}
	_, repo, err := h.repoFor(ctx, h.user, action)
	if err != nil {
		return err
	}
	rep, err := run.Run(edge.Context(ctx), repo.ID, dry)
	if fault.Is(err, fault.NotFound) {
		return notFound("cleanup policy of repository " + repo.ID)
	}
	if err != nil {
		return err
	}
	return reply(ctx, fasthttp.StatusOK, rep)
}
