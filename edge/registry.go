package edge

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/valyala/fasthttp"

	"entrepot/auth"
	"entrepot/cache"
	"entrepot/hosted"
	"entrepot/hosted/blob"
	"entrepot/hosted/fault"
)

// Registry holds the shared layers every protocol package is built on and
// the steps of the request path they share: who is calling (Who), what
// they may do (May), and whether a name is hosted (Claim). A protocol
// package never parses credentials, talks to a store or an upstream
// except through these.
type Registry struct {
	Catalog *hosted.Catalog
	Blobs   blob.Store
	Cache   *cache.Cache
	Auth    *auth.Service
	Audit   *auth.Auditor
	Base    *BaseURL
	Log     *slog.Logger
	// MetadataTTL is how long mirrored metadata is fresh
	// (UPSTREAM_CACHE_EXPIRY, 0 when ENABLE_UPSTREAM_CACHE is false).
	MetadataTTL time.Duration
	// AnonymousMirror lets anonymous callers read mirrored (unclaimed)
	// packages: the platform setting, allowed by default. It is the value
	// Init starts with; while serving, SetAnonymousMirror changes it (the
	// management API's settings do).
	AnonymousMirror bool
	anonMirror      atomic.Bool
	// MaxUpload bounds a publish's body (MAX_UPLOAD_SIZE).
	MaxUpload int64
	// SpoolDir is a local folder (under DATA_DIR) for a publish's upload
	// on its way to the blob store (Upload). Protocols use a subfolder
	// named after themselves. What must outlive the request, such as the
	// chunks of OCI upload sessions, goes to the shared blob store instead
	// (blob.Scratch), which every edge sees.
	SpoolDir string
	// Changes records the changes this edge makes for the other edges:
	// the change feed (hosted/changes), whose subscriber hands every
	// change, this edge's and the others', to Changed. nil: this edge
	// alone, and Notify hands changes to Changed directly.
	Changes hosted.Notifier

	// Budget is the one byte budget of the protocols' document caches
	// (CACHE_MEMORY); nil = DefaultCacheMemory, all in memory.
	Budget *Budget
	// Quota, nil for none, decides whether an organization may store an
	// accepted publish's bytes (hosted/quota): asked by every protocol's
	// publish right before its commit, so that a refusal stores nothing.
	Quota Quota

	subsMu sync.Mutex
	subs   []func(hosted.Change) // OnChange's
	marks  []hosted.BlobMarker   // OnMark's

	claims *expirable.LRU[string, claimEntry]
	orgs   *expirable.LRU[string, orgEntry] // by name, for Locate's organization-owned namespaces
}

type claimEntry struct {
	claim  hosted.Claim
	ref    auth.RepoRef
	hosted bool
}

// claimTTL bounds how long a claim and its repository's visibility are
// trusted from memory: a change reaches every edge through the change
// feed at once, and within claimTTL without one.
const claimTTL = 5 * time.Second

// DocumentTTL is the cache TTL of mirrored metadata: MetadataTTL, or, with
// the upstream cache turned off, the shortest TTL there is, so that every
// request revalidates yet a failing upstream is still answered from the
// stale copy (a TTL of 0 means "immutable" to the cache).
func (r *Registry) DocumentTTL() time.Duration { return max(r.MetadataTTL, time.Nanosecond) }

// Init prepares the registry's caches; call it once before serving.
func (r *Registry) Init() *Registry {
	r.claims = expirable.NewLRU[string, claimEntry](65536, nil, claimTTL)
	r.orgs = expirable.NewLRU[string, orgEntry](16384, nil, claimTTL)
	r.anonMirror.Store(r.AnonymousMirror)
	if r.Budget == nil {
		r.Budget, _ = NewBudget(0, "") // errs only on a folder
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	return r
}

const principalKey = "edge.principal"

// Who authenticates the request once and remembers the answer for the rest
// of it. No credentials is the anonymous principal, not an error; bad
// credentials are Unauthorized.
func (r *Registry) Who(ctx *fasthttp.RequestCtx) (auth.Principal, error) {
	if p, ok := principalOf(ctx); ok {
		return p, nil
	}
	c := presented(ctx)
	if c.Kind == auth.NoCredentials {
		ctx.SetUserValue(principalKey, auth.Principal{})
		return auth.Principal{}, nil
	}
	if c.Kind == auth.PasswordCredentials {
		c.ClientIP = r.ClientIP(ctx) // throttles password guessing; tokens and JWTs need none
	}
	p, err := r.Auth.Authenticate(Context(ctx), c)
	if err != nil {
		return auth.Principal{}, err
	}
	r.Assume(ctx, p)
	return p, nil
}

// WhoRegistry is Who for the OCI distribution API: a Bearer registry
// token issued by /v2/token for service is verified (auth re-checks on
// every use that what it came from is still alive) and its grants come
// back with the principal and registry true (the grants then bound what
// the caller may write, even when there are none); any other credentials
// are Who's, with registry false. A registry token that fails is not an
// error here: the caller is then whatever Who makes of the header (a
// session JWT, or Unauthorized).
func (r *Registry) WhoRegistry(ctx *fasthttp.RequestCtx, service string) (p auth.Principal, access []auth.RegistryAccess, registry bool, err error) {
	if c := presented(ctx); c.Kind == auth.JWTCredentials {
		p, access, err := r.Auth.VerifyRegistryToken(Context(ctx), c.Secret, service)
		if err == nil {
			r.Assume(ctx, p)
			return p, access, true, nil
		}
	}
	p, err = r.Who(ctx)
	return p, nil, false, err
}

// SignIn authenticates a login and secret a protocol received in its
// body rather than in the Authorization header (the OAuth2 password grant
// of OCI's POST /v2/token): a secret with the API token prefix is a token,
// anything else a password. The principal becomes the request's caller,
// as Who's would.
func (r *Registry) SignIn(ctx *fasthttp.RequestCtx, login, secret string) (auth.Principal, error) {
	c := auth.Credentials{Kind: auth.PasswordCredentials, Username: login, Secret: secret, ClientIP: r.ClientIP(ctx)}
	if strings.HasPrefix(secret, auth.TokenPrefix) {
		c.Kind = auth.TokenCredentials
	}
	p, err := r.Auth.Authenticate(Context(ctx), c)
	if err != nil {
		return auth.Principal{}, err
	}
	r.Assume(ctx, p)
	return p, nil
}

// HasCredentials reports whether the request carries an Authorization
// header at all, valid or not.
func (r *Registry) HasCredentials(ctx *fasthttp.RequestCtx) bool {
	return hasCredentials(&ctx.Request.Header)
}

// PresentedSecret is the secret of the request's credentials (a token or
// a password), "" without any: for endpoints that act on the credential
// in use itself, such as revoking the token a client signs in with.
func (r *Registry) PresentedSecret(ctx *fasthttp.RequestCtx) string { return presented(ctx).Secret }

// presented parses the request's Authorization header: the one place on
// the protocol request path that reads it.
func presented(ctx *fasthttp.RequestCtx) auth.Credentials {
	return auth.ParseCredentials(string(ctx.Request.Header.Peek("Authorization")))
}

// May authenticates the caller and authorizes action on repo. A Forbidden
// action on what the caller may not even read is answered as NotFound, so
// that a private package's existence is not revealed by a read nor by a
// write, yank or delete; a caller who may read but not write gets the
// Forbidden (it knows the name exists already). Unauthorized stays, since
// clients need it to send credentials.
func (r *Registry) May(ctx *fasthttp.RequestCtx, repo auth.RepoRef, action auth.Action) (auth.Principal, error) {
	return r.may(ctx, repo, action, true)
}

// MayOpenly is May with a Forbidden write left as it is, where a 403
// tells nothing of the name: a publish (MayPublish, ClaimForPublish),
// since one of a free name succeeds and its clients show why it could
// not take this one; and OCI, whose every name under a claimed namespace
// resolves to the claim's repository, and whose clients expect DENIED.
func (r *Registry) MayOpenly(ctx *fasthttp.RequestCtx, repo auth.RepoRef, action auth.Action) (auth.Principal, error) {
	return r.may(ctx, repo, action, false)
}

func (r *Registry) may(ctx *fasthttp.RequestCtx, repo auth.RepoRef, action auth.Action, conceal bool) (auth.Principal, error) {
	p, err := r.Who(ctx)
	if err != nil {
		return p, err
	}
	bg := Context(ctx)
	if err := r.Auth.Authorize(bg, p, repo, action); err != nil {
		if !fault.Is(err, fault.Forbidden) || !conceal && action != auth.Read {
			return p, err
		}
		if action != auth.Read {
			switch rerr := r.Auth.Authorize(bg, p, repo, auth.Read); {
			case rerr == nil:
				return p, err
			case !fault.Is(rerr, fault.Forbidden) && !fault.Is(rerr, fault.Unauthorized):
				return p, rerr
			}
		}
		return p, fault.New("edge.May", fault.NotFound, "not found")
	}
	return p, nil
}

// MayMirror authorizes reading unclaimed content through the upstream
// cache: anyone when the platform allows anonymous mirror reads, any
// authenticated caller otherwise (with a token scoped to the protocol).
func (r *Registry) MayMirror(ctx *fasthttp.RequestCtx, protocol string) (auth.Principal, error) {
	return r.May(ctx, auth.RepoRef{Protocol: protocol, Public: r.anonMirror.Load()}, auth.Read)
}

// SetAnonymousMirror turns anonymous mirror reads on or off at once, for
// every later request. Safe for concurrent use.
func (r *Registry) SetAnonymousMirror(on bool) { r.anonMirror.Store(on) }

// AnonymousMirrorReads reports whether anonymous callers may read mirrored
// content now.
func (r *Registry) AnonymousMirrorReads() bool { return r.anonMirror.Load() }

// Hosted resolves the first of namespaces that is claimed, for protocol:
// the claim, the repository it names (for May), and true. None claimed:
// false, and the name may resolve upstream. Names are compared as the
// protocol's clients compare them (hosted.ClaimKey), so that no variant in
// case or separators of a claimed name reaches the upstream. Answers come
// from a short-TTL cache, so a hot request makes no store round trip.
func (r *Registry) Hosted(ctx context.Context, protocol string, namespaces ...string) (hosted.Claim, auth.RepoRef, bool, error) {
	for _, ns := range namespaces {
		key := hosted.ClaimKey(protocol, ns)
		e, ok := r.claims.Get(key)
		if !ok {
			cl, err := r.Catalog.ClaimOf(ctx, protocol, ns)
			switch {
			case fault.Is(err, fault.NotFound):
				e = claimEntry{}
			case err != nil:
				return hosted.Claim{}, auth.RepoRef{}, false, err
			default:
				e = claimEntry{claim: cl, hosted: true, ref: auth.RepoRef{OrgID: cl.OrgID, Protocol: protocol}}
				if cl.RepoID != "" {
					repo, err := r.Auth.GetRepo(ctx, cl.RepoID)
					if err != nil && !fault.Is(err, fault.NotFound) {
						return hosted.Claim{}, auth.RepoRef{}, false, err
					}
					if err == nil {
						e.ref = repo.Ref()
					}
				}
			}
			r.claims.Add(key, e)
		}
		if e.hosted {
			return e.claim, e.ref, true, nil
		}
	}
	return hosted.Claim{}, auth.RepoRef{}, false, nil
}

// Forget drops cached claims of protocol's namespaces, after a claim or a
// repository changed in this process.
func (r *Registry) Forget(protocol string, namespaces ...string) {
	for _, ns := range namespaces {
		r.claims.Remove(hosted.ClaimKey(protocol, ns))
	}
}

// OnChange registers fn to be handed every change to the system of
// record that a cache of this edge may hold (Changed): how a protocol
// handler's documents and indexes follow the change feed. Register
// before serving; fn must be quick.
func (r *Registry) OnChange(fn func(hosted.Change)) {
	r.subsMu.Lock()
	r.subs = append(r.subs, fn)
	r.subsMu.Unlock()
}

// Changed drops what the registry's caches hold of c and hands c to every
// OnChange function: the change feed's subscriber in this edge. Safe for
// concurrent use.
func (r *Registry) Changed(c hosted.Change) {
	if r.claims != nil { // nil: not Init'ed, nothing cached
		r.dropClaims(c)
	}
	r.subsMu.Lock()
	subs := r.subs
	r.subsMu.Unlock()
	for _, fn := range subs {
		fn(c)
	}
}

// dropClaims drops the cached claims c may have changed.
func (r *Registry) dropClaims(c hosted.Change) {
	switch c.Kind {
	case hosted.ChangeClaim:
		r.Forget(c.Protocol, c.Name)
	case hosted.ChangeAccess:
		// A repository's visibility, or the organization behind a claim.
		r.claims.Purge()
	case hosted.ChangeAll:
		r.claims.Purge()
		r.orgs.Purge()
	}
}

// Notify reports a change this edge made (hosted.Notifier): to the
// change feed, which hands it back to Changed, or without one to Changed
// directly.
func (r *Registry) Notify(ctx context.Context, c hosted.Change) {
	if r.Changes != nil {
		r.Changes.Notify(ctx, c)
		return
	}
	r.Changed(c)
}

// PublishOrg picks the organization a publish goes to: the one named
// (an npm scope, an OCI first segment, a Composer vendor), else the one
// the caller's token is scoped to, else the caller's only organization.
// Anything else is an Invalid error that says how to choose.
func (r *Registry) PublishOrg(ctx context.Context, p auth.Principal, named string) (auth.Org, error) {
	const op = "edge.PublishOrg"
	if p.Anonymous() {
		return auth.Org{}, fault.New(op, fault.Unauthorized, "authentication required to publish")
	}
	if named != "" {
		o, err := r.Auth.GetOrg(ctx, named)
		if fault.Is(err, fault.NotFound) {
			return o, fault.Newf(op, fault.NotFound, "organization %q does not exist", named)
		}
		return o, err
	}
	if p.Scopes != nil && len(p.Scopes.Organizations) == 1 {
		return r.Auth.GetOrg(ctx, p.Scopes.Organizations[0])
	}
	ms, _, err := r.Auth.UserOrgs(ctx, p.UserID, auth.Page{Limit: 2})
	if err != nil {
		return auth.Org{}, err
	}
	switch len(ms) {
	case 1:
		return r.Auth.GetOrg(ctx, ms[0].OrgID)
	case 0:
		return auth.Org{}, fault.New(op, fault.Forbidden, "you belong to no organization: create one or ask to be added to one before publishing")
	}
	return auth.Org{}, fault.New(op, fault.Invalid, "you belong to several organizations: publish with a token scoped to exactly one organization to choose where this package goes")
}

// DefaultRepo is the name of the repository a first publish creates.
const DefaultRepo = "default"

// HostedRepo returns the organization's default repository for protocol,
// creating it (private) on first use.
func (r *Registry) HostedRepo(ctx context.Context, orgID, protocol string) (auth.Repository, error) {
	repo, err := r.Auth.RepoByName(ctx, orgID, protocol, DefaultRepo)
	if !fault.Is(err, fault.NotFound) {
		return repo, err
	}
	repo, err = r.Auth.CreateRepo(ctx, auth.Repository{OrgID: orgID, Name: DefaultRepo, Protocol: protocol, Visibility: auth.Private})
	if fault.Is(err, fault.Conflict) { // a racing publish created it
		return r.Auth.RepoByName(ctx, orgID, protocol, DefaultRepo)
	}
	return repo, err
}

// Assume records p as the request's caller, for a protocol that
// authenticated the request by means of its own (OCI registry tokens):
// Who, May and Record then use it.
func (r *Registry) Assume(ctx *fasthttp.RequestCtx, p auth.Principal) {
	if !setPrincipal(ctx, p) {
		ctx.SetUserValue(principalKey, p)
	}
}

// ClientIP is the client's address, through the trusted proxies
// (BaseURL.ClientIP): what login throttling and the audit log record.
func (r *Registry) ClientIP(ctx *fasthttp.RequestCtx) string { return r.Base.ClientIP(ctx) }

// Record writes an audit entry for a state change made by the request.
func (r *Registry) Record(ctx *fasthttp.RequestCtx, action, target, orgID, outcome, detail string) {
	if r.Audit == nil {
		return
	}
	p, _ := principalOf(ctx)
	r.Audit.Record(auth.Entry{
		ActorUserID:  p.UserID,
		ActorTokenID: p.TokenID,
		ClientIP:     r.ClientIP(ctx),
		UserAgent:    strings.ToValidUTF8(string(ctx.UserAgent()), ""),
		Action:       action,
		Target:       target,
		OrgID:        orgID,
		Outcome:      outcome,
		Detail:       detail,
	})
}

// ClaimRequest is what a publish asks to claim.
type ClaimRequest struct {
	Protocol  string
	Namespace string   // normalized, as the protocol compares names
	Org       auth.Org // from PublishOrg
	// Upstream reports whether the protocol's upstream serves the
	// namespace under the spelling given; nil when no upstream is
	// configured. ClaimForPublish asks it about every spelling that is
	// one name to the claim (hosted.Spellings). A name the public
	// registry has is never claimed by a publish: that would hide the
	// public package from every user of this server. An error counts as
	// "cannot tell", and the claim is refused too.
	Upstream func(ctx context.Context, spelling string) (bool, error)
}

// onUpstream asks req.Upstream about each spelling of req.Namespace
// until one is served (true) or one cannot be told (the error).
func onUpstream(ctx context.Context, req ClaimRequest) (bool, error) {
	for _, s := range hosted.Spellings(req.Protocol, req.Namespace) {
		has, err := req.Upstream(ctx, s)
		if err != nil && !fault.Is(err, fault.NotFound) || has {
			return has, err
		}
	}
	return false, nil
}

// ClaimForPublish is the one way a publish takes a namespace: it returns
// the claim in force for req's organization and the repository it names,
// creating it on the first publish. Call it after the upload has been
// validated (a failed publish must claim nothing) and before the version
// is recorded. It authorizes the write itself, exactly once, with
// the check Publish makes before the body is read (mayWrite):
//   - a namespace another organization holds is a Conflict;
//   - on a first publish the caller must belong to the organization (or
//     be a platform admin) and may write to its repository for the
//     protocol, which is created private if it does not exist;
//   - a first publish of a name the upstream serves is a Conflict that
//     says how an administrator can claim it on purpose;
//   - a first publish never claims a namespace above or below another
//     organization's (Conflict), nor one too broad to be anybody's by
//     default, such as a Maven groupId of two levels that is not the
//     organization's own (Forbidden: a platform admin claims it).
//
// Names are compared as the protocol's clients do (hosted.ClaimKey):
// "Acme-Gem" is the claim on "acme_gem".
func (r *Registry) ClaimForPublish(ctx *fasthttp.RequestCtx, req ClaimRequest) (hosted.Claim, auth.RepoRef, error) {
	const op = "edge.ClaimForPublish"
	bg := Context(ctx)
	a, err := r.mayWrite(ctx, req.Protocol, req.Org, req.Namespace)
	if err != nil {
		return hosted.Claim{}, auth.RepoRef{}, err
	}
	if a.claimed {
		return a.claim, a.ref, nil
	}
	p, repo := a.p, a.repo
	if req.Upstream != nil {
		has, err := onUpstream(bg, req)
		switch {
		case err != nil && !fault.Is(err, fault.NotFound):
			return hosted.Claim{}, auth.RepoRef{}, fault.WrapMsg(op, fault.Unavailable,
				fmt.Sprintf("cannot tell whether %s exists on the upstream registry, so it cannot be claimed now; try again later", req.Namespace), err)
		case has:
			return hosted.Claim{}, auth.RepoRef{}, fault.Newf(op, fault.Conflict,
				"%s exists on the upstream registry: publishing it here would hide the public package from everyone. "+
					"A platform admin can claim it for %s on purpose: POST /api/v1/organizations/%s/claims", req.Namespace, req.Org.Name, req.Org.Name)
		}
	}
	if !p.PlatformAdmin && !hosted.FirstClaimAllowed(req.Protocol, req.Namespace, req.Org.Name) {
		return hosted.Claim{}, auth.RepoRef{}, fault.Newf(op, fault.Forbidden,
			"%s is too broad for a first publish to claim: it would hold other organizations' names below it. "+
				"A platform admin can claim it for %s on purpose: POST /api/v1/organizations/%s/claims", req.Namespace, req.Org.Name, req.Org.Name)
	}
	if repo.ID == "" {
		if repo, err = r.HostedRepo(bg, req.Org.ID, req.Protocol); err != nil {
			return hosted.Claim{}, auth.RepoRef{}, err
		}
	}
	ref := repo.Ref()
	cl, err := r.Catalog.ClaimFree(bg, hosted.Claim{Protocol: req.Protocol, Namespace: req.Namespace, OrgID: req.Org.ID, RepoID: repo.ID})
	if err != nil {
		return hosted.Claim{}, auth.RepoRef{}, err
	}
	r.Forget(req.Protocol, req.Namespace)
	r.Record(ctx, "claim.create", req.Protocol+":"+req.Namespace, req.Org.ID, "success", "first publish")
	return cl, ref, nil
}

// Quota is the storage budget of organizations' hosted packages.
type Quota interface {
	// Allow returns nil when orgID may store add more bytes, else an error
	// (TooLarge) whose message the client is shown.
	Allow(ctx context.Context, orgID string, add int64) error
}
