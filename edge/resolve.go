package edge

import (
	"context"

	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/hosted"
	"entrepot/hosted/fault"
)

// Coords are what a protocol's pure parser makes of a request, for
// Resolve: which names it is about and what it wants to do with them.
type Coords struct {
	Protocol string
	// Namespaces are the claim candidates, tried in order, the first
	// claimed one winning: an npm name's scope then the name itself, a
	// Maven path's groupIds longest first, a single project name.
	// Normalized as the protocol's parser does; Registry.Hosted folds
	// them as clients compare names.
	Namespaces []string
	// Owner is the organization name that owns the namespace even before
	// anything claims it (an npm scope, a Composer vendor, an OCI first
	// segment), "" for protocols with single names.
	Owner string
	// Upstream names where a name nothing hosts is read from (the
	// protocol's upstream, an OCI mirror prefix); "" when there is none,
	// and such a name is then NotFound.
	Upstream string
	// Action is what the request does: auth.Read for every GET.
	Action auth.Action
	// FirstPublish says the request may be the first publish into an
	// organization's namespace that nothing claims yet (an OCI push): a
	// Write there then needs membership rather than a permission on a
	// repository that does not exist yet.
	FirstPublish bool
	// Openly leaves a Forbidden write Forbidden (MayOpenly) instead of
	// answering it as NotFound when the caller may not read the target
	// either: for OCI, whose every name under a claimed namespace resolves
	// to the claim's repository (so a 403 tells nothing of a name) and
	// whose clients expect DENIED.
	Openly bool
	// Name is the name asked for, as the protocol spells it in messages.
	Name string
	// Unknown is the NotFound message for a name nothing hosts when there
	// is no upstream, a format with one %s for Name (formatted only then);
	// "" gives a generic one. Reads conceal it (see conceal); changes and
	// platform admins see it.
	Unknown string
}

// Origin is where a request's name resolved, with the caller it was
// authorized for.
type Origin struct {
	Principal auth.Principal
	// Hosted is true for a claimed namespace or an organization's own;
	// such a name never goes upstream, even when the package or the
	// version is missing: the dependency-confusion guard.
	Hosted bool
	// Claim is the claim in force; zero for an organization's namespace
	// that nothing claims yet.
	Claim hosted.Claim
	// Ref is the hosted repository, what May authorized against.
	Ref   auth.RepoRef
	OrgID string
	// Org is set for an organization's namespace that nothing claims yet
	// (the organization has published nothing there): its first publish
	// claims it, and Ref names no repository until then.
	Org *auth.Org
	// Upstream is Coords.Upstream for a mirrored name, "" when hosted.
	Upstream string
}

// Resolve is the request path's one decision and one permission check,
// right after parsing: it authenticates the caller (Who), decides where c
// lives (Locate) and authorizes c.Action there:
//   - hosted: May on the claim's repository (a Forbidden read is
//     NotFound). With c.FirstPublish, a write into an organization's
//     namespace that nothing claims yet needs a signed-in member (or a
//     platform admin) whose token allows writes there: the publish that
//     lands claims it (ClaimForPublish, which authorizes again);
//   - mirrored: MayMirror, for reads only (a change is Forbidden);
//   - neither (no upstream): NotFound, or Unauthorized for an anonymous
//     change, so that a client sends credentials.
//
// The Origin comes back with the principal even with an error.
func (r *Registry) Resolve(ctx *fasthttp.RequestCtx, c Coords) (Origin, error) {
	const op = "edge.Resolve"
	p, err := r.Who(ctx)
	if err != nil {
		return Origin{}, err
	}
	o, err := r.Locate(Context(ctx), c)
	o.Principal = p
	if err != nil {
		if fault.Is(err, fault.NotFound) && c.Action != auth.Read && p.Anonymous() {
			err = fault.New(op, fault.Unauthorized, "authentication required")
		}
		return o, err
	}
	switch {
	case !o.Hosted:
		if c.Action != auth.Read {
			return o, fault.New(op, fault.Forbidden, "mirrored packages are read-only: publish under a scope or a name your organization owns")
		}
		_, err = r.MayMirror(ctx, c.Protocol)
	case o.Org != nil && c.Action == auth.Write && c.FirstPublish:
		err = r.mayFirstPublish(ctx, p, *o.Org, o.Ref)
	default:
		if c.Openly {
			_, err = r.MayOpenly(ctx, o.Ref, c.Action)
		} else {
			_, err = r.May(ctx, o.Ref, c.Action)
		}
	}
	return o, err
}

// mayFirstPublish is the check of a write into org's namespace before
// anything is published there: a signed-in member (or a platform admin)
// whose token allows writes to org's repositories for the protocol. No
// repository exists yet to authorize against.
func (r *Registry) mayFirstPublish(ctx *fasthttp.RequestCtx, p auth.Principal, org auth.Org, ref auth.RepoRef) error {
	if p.Anonymous() {
		return fault.New("edge.Resolve", fault.Unauthorized, "authentication required")
	}
	if err := r.member(Context(ctx), p, org); err != nil {
		return err
	}
	return p.ScopesAllow(ref, auth.Write)
}

// Locate decides, without authorizing anything, where c lives: hosted
// when one of c.Namespaces is claimed (Hosted) or c.Owner is an
// organization's name, else mirrored from c.Upstream, else NotFound. It
// is Resolve's decision for the callers that authorize otherwise (a
// publish, through ClaimForPublish; OCI's token grants). Answers come from
// short-TTL caches, so a hot request makes no store round trip.
func (r *Registry) Locate(ctx context.Context, c Coords) (Origin, error) {
	const op = "edge.Locate"
	cl, ref, ok, err := r.Hosted(ctx, c.Protocol, c.Namespaces...)
	if err != nil {
		return Origin{}, fault.Op(op, err)
	}
	if ok {
		return Origin{Hosted: true, Claim: cl, Ref: ref, OrgID: cl.OrgID}, nil
	}
	if c.Owner != "" {
		org, owned, err := r.orgNamed(ctx, c.Owner)
		if err != nil {
			return Origin{}, fault.Op(op, err)
		}
		if owned {
			return Origin{Hosted: true, Ref: auth.RepoRef{OrgID: org.ID, Protocol: c.Protocol}, OrgID: org.ID, Org: &org}, nil
		}
	}
	if c.Upstream == "" {
		if c.Unknown == "" {
			return Origin{}, fault.New(op, fault.NotFound, NoUpstream)
		}
		return Origin{}, fault.Newf(op, fault.NotFound, c.Unknown, c.Name)
	}
	return Origin{Upstream: c.Upstream}, nil
}

// orgEntry is a remembered answer of orgNamed, good while auth's
// generation (auth.Service.Generation) is the one it was read under.
type orgEntry struct {
	org   auth.Org
	owned bool
	gen   uint64
}

// orgNamed returns the organization called name, and whether there is
// one: an organization owns the namespace of its name in the protocols
// that have such namespaces. Answers, "none" included, are held for
// claimTTL, and dropped at once when this process creates or deletes an
// organization.
func (r *Registry) orgNamed(ctx context.Context, name string) (auth.Org, bool, error) {
	gen := r.Auth.Generation() // read before the look-up: a change meanwhile makes the entry stale
	if e, ok := r.orgs.Get(name); ok && e.gen == gen {
		return e.org, e.owned, nil
	}
	org, err := r.Auth.GetOrg(ctx, name)
	switch {
	case err == nil && org.Name == name:
	case err == nil || fault.Is(err, fault.NotFound):
		org = auth.Org{} // GetOrg matched an id, not a name
	default:
		return auth.Org{}, false, err
	}
	e := orgEntry{org: org, owned: org.ID != "", gen: gen}
	r.orgs.Add(name, e)
	return e.org, e.owned, nil
}
