package api

import "entrepot/edge"

// route is one endpoint: the router registration (Mount) and the OpenAPI
// operation (openAPI) are both made from it, so that the document and the
// routes cannot drift apart.
type route struct {
	method  string
	path    string // under Prefix, fasthttp/router syntax ({name})
	name    string // metrics label and OpenAPI operationId
	tag     string
	summary string
	h       edge.HandlerFunc

	audit  string   // the audit action of a state change; "" for reads
	public bool     // answers without credentials
	query  []string // documented query parameters (limit and cursor for lists)
	in     string   // request body schema, "" for none
	out    string   // response schema, "" for 204 No Content
	list   bool     // the response is a page of out
	status int      // success status; 0 means 200 (204 without out)
}

// table is the API, endpoint by endpoint.
func (h *Handler) table() []route {
	pageQ := []string{"limit", "cursor"}
	return []route{
		// Sign-in and sessions.
		{method: "POST", path: "/auth/login", name: "login", tag: "auth", h: h.login, audit: "auth.login", public: true,
			summary: "Sign in with an email or username and a password", in: "LoginRequest", out: "Session"},
		{method: "POST", path: "/auth/refresh", name: "refresh", tag: "auth", h: h.refresh, audit: "auth.refresh", public: true,
			summary: "Exchange a refresh token (body or cookie) for a new pair", in: "RefreshRequest", out: "Session"},
		{method: "POST", path: "/auth/logout", name: "logout", tag: "auth", h: h.logout, audit: "auth.logout",
			summary: "End the session of the access token"},
		{method: "GET", path: "/auth/sessions", name: "list_sessions", tag: "auth", h: h.sessions,
			summary: "The caller's live sign-in sessions, the current one marked", out: "SessionInfo", list: true},
		{method: "DELETE", path: "/auth/sessions", name: "end_sessions", tag: "auth", h: h.endSessions, audit: "auth.sessions.end",
			summary: "Sign out everywhere: end every session of the caller, the current one included"},
		{method: "DELETE", path: "/auth/sessions/{sessionId}", name: "end_session", tag: "auth", h: h.endSession, audit: "auth.session.end",
			summary: "End one of the caller's sessions"},
		{method: "GET", path: "/auth/me", name: "me", tag: "auth", h: h.me,
			summary: "The caller, its organizations and how it signed in", out: "Me"},
		{method: "GET", path: "/auth/providers", name: "providers", tag: "auth", h: h.providers, public: true,
			summary: "Active external identity providers", out: "Provider", list: true},

		// External identity (idp.go).
		{method: "POST", path: "/auth/ldap/{providerId}/login", name: "ldap_login", tag: "auth", h: h.ldapLogin, audit: "auth.ldap.login", public: true,
			summary: "Sign in with an LDAP directory's username and password; answers like /auth/login", in: "LDAPLoginRequest", out: "Session"},
		{method: "GET", path: "/auth/oauth/{providerId}/authorize", name: "oauth_authorize", tag: "auth", h: h.oauthAuthorize, public: true, status: 302,
			summary: "Start signing in with an OpenID Connect provider: redirects to it (authorization code flow, PKCE, state, nonce)"},
		{method: "GET", path: "/auth/oauth/{providerId}/callback", name: "oauth_callback", tag: "auth", h: h.oauthCallback, audit: "auth.oidc.login", public: true, status: 302,
			query:   []string{"code", "state"},
			summary: "The OpenID Connect provider's redirect: validates it, sets the refresh cookie and redirects to the dashboard"},
		{method: "GET", path: "/admin/auth/providers", name: "list_providers", tag: "admin", h: h.listProviders,
			summary: "List identity providers, without their secrets (platform admins)", out: "ProviderDocument", list: true},
		{method: "POST", path: "/admin/auth/providers", name: "create_provider", tag: "admin", h: h.createProvider, audit: "auth.provider.create",
			summary: "Add an LDAP or OIDC identity provider (platform admins)", in: "ProviderRequest", out: "ProviderDocument", status: 201},
		{method: "GET", path: "/admin/auth/providers/{providerId}", name: "get_provider", tag: "admin", h: h.getProvider,
			summary: "Get an identity provider, without its secret (platform admins)", out: "ProviderDocument"},
		{method: "PUT", path: "/admin/auth/providers/{providerId}", name: "update_provider", tag: "admin", h: h.updateProvider, audit: "auth.provider.update",
			summary: "Replace an identity provider's document; an empty secret keeps the stored one (platform admins)", in: "ProviderRequest", out: "ProviderDocument"},
		{method: "DELETE", path: "/admin/auth/providers/{providerId}", name: "delete_provider", tag: "admin", h: h.deleteProvider, audit: "auth.provider.disable",
			summary: "Disable an identity provider (platform admins)"},
		{method: "POST", path: "/admin/auth/providers/{providerId}/test", name: "test_provider", tag: "admin", h: h.testProvider, audit: "auth.provider.test",
			summary: "Check an identity provider's connection and say which step failed (platform admins)", out: "ProviderCheck"},

		// Users.
		{method: "GET", path: "/users", name: "list_users", tag: "users", h: h.listUsers, query: pageQ,
			summary: "List users (platform admins)", out: "User", list: true},
		{method: "POST", path: "/users", name: "create_user", tag: "users", h: h.createUser, audit: "user.create",
			summary: "Create a user (platform admins)", in: "UserRequest", out: "User", status: 201},
		{method: "GET", path: "/users/{userId}", name: "get_user", tag: "users", h: h.getUser,
			summary: "Get a user (oneself, or anyone for platform admins); userId may be a username or me", out: "User"},
		{method: "PUT", path: "/users/{userId}", name: "update_user", tag: "users", h: h.updateUser, audit: "user.update",
			summary: "Change a user", in: "UserRequest", out: "User"},
		{method: "DELETE", path: "/users/{userId}", name: "delete_user", tag: "users", h: h.deleteUser, audit: "user.delete",
			summary: "Delete a user (platform admins)"},

		// Organizations and members.
		{method: "GET", path: "/organizations", name: "list_orgs", tag: "organizations", h: h.listOrgs, query: pageQ,
			summary: "List organizations (all for platform admins, one's own otherwise)", out: "Organization", list: true},
		{method: "POST", path: "/organizations", name: "create_org", tag: "organizations", h: h.createOrg, audit: "org.create",
			summary: "Create an organization; the caller becomes its owner", in: "OrganizationRequest", out: "Organization", status: 201},
		{method: "GET", path: "/organizations/{orgId}", name: "get_org", tag: "organizations", h: h.getOrg,
			summary: "Get an organization (by id or name)", out: "Organization"},
		{method: "PUT", path: "/organizations/{orgId}", name: "update_org", tag: "organizations", h: h.updateOrg, audit: "org.update",
			summary: "Change an organization's display name and description", in: "OrganizationRequest", out: "Organization"},
		{method: "DELETE", path: "/organizations/{orgId}", name: "delete_org", tag: "organizations", h: h.deleteOrg, audit: "org.delete", query: []string{"force"},
			summary: "Delete an organization (refused while it holds packages unless a platform admin forces it)"},
		{method: "GET", path: "/organizations/{orgId}/members", name: "list_members", tag: "organizations", h: h.listMembers, query: pageQ,
			summary: "List an organization's members", out: "Member", list: true},
		{method: "POST", path: "/organizations/{orgId}/members", name: "add_member", tag: "organizations", h: h.addMember, audit: "org.member.set",
			summary: "Add a member or change its role (platform admins; others invite: POST /organizations/{orgId}/invitations)", in: "MemberRequest", out: "Member"},
		{method: "PUT", path: "/organizations/{orgId}/members/{userId}", name: "update_member", tag: "organizations", h: h.updateMember, audit: "org.member.set",
			summary: "Change an existing member's role", in: "RoleRequest", out: "Member"},
		{method: "DELETE", path: "/organizations/{orgId}/members/{userId}", name: "remove_member", tag: "organizations", h: h.removeMember, audit: "org.member.remove",
			summary: "Remove a member (and from the organization's teams)"},

		// Invitations (invitations.go): membership takes the invitee's consent.
		{method: "GET", path: "/organizations/{orgId}/invitations", name: "list_org_invitations", tag: "organizations", h: h.listOrgInvitations, query: pageQ,
			summary: "List an organization's invitations (owners and admins)", out: "Invitation", list: true},
		{method: "POST", path: "/organizations/{orgId}/invitations", name: "create_invitation", tag: "organizations", h: h.createInvitation, audit: "org.invitation.create", status: 201,
			summary: "Invite a user by username or email to join with a role; the answer is the same whether or not the account exists (409 while one is pending)", in: "InvitationRequest", out: "Invitation"},
		{method: "DELETE", path: "/organizations/{orgId}/invitations/{invitationId}", name: "revoke_invitation", tag: "organizations", h: h.revokeInvitation, audit: "org.invitation.revoke",
			summary: "Revoke a pending invitation"},
		{method: "GET", path: "/auth/invitations", name: "my_invitations", tag: "auth", h: h.myInvitations,
			summary: "The pending invitations addressed to the caller's username or email", out: "Invitation", list: true},
		{method: "POST", path: "/auth/invitations/{invitationId}/accept", name: "accept_invitation", tag: "auth", h: h.acceptInvitation, audit: "org.invitation.accept",
			summary: "Accept an invitation: the caller joins the organization with its role", out: "Member"},
		{method: "DELETE", path: "/auth/invitations/{invitationId}", name: "decline_invitation", tag: "auth", h: h.declineInvitation, audit: "org.invitation.decline",
			summary: "Decline an invitation"},

		// Namespace claims (claims.go).
		{method: "GET", path: "/organizations/{orgId}/claims", name: "list_claims", tag: "organizations", h: h.listClaims, query: pageQ,
			summary: "List the namespaces an organization claims (npm scopes and names, PyPI projects, crates, gems, groupIds, vendors, OCI namespaces)", out: "Claim", list: true},
		{method: "POST", path: "/organizations/{orgId}/claims", name: "create_claim", tag: "organizations", h: h.createClaim, audit: "claim.create", status: 201,
			summary: "Claim a namespace before any publish, normalized as its protocol does: it resolves only against hosted packages from then on (200 when held already, 409 when another organization holds it)", in: "ClaimRequest", out: "Claim"},
		{method: "DELETE", path: "/organizations/{orgId}/claims/{protocol}/{namespace}", name: "release_claim", tag: "organizations", h: h.releaseClaim, audit: "claim.release", query: []string{"force"},
			summary: "Release a claim (namespace URL-escaped); refused while the organization holds packages under it unless a platform admin forces it, which deletes them"},

		// Teams.
		{method: "GET", path: "/organizations/{orgId}/teams", name: "list_teams", tag: "teams", h: h.listTeams, query: pageQ,
			summary: "List an organization's teams", out: "Team", list: true},
		{method: "POST", path: "/organizations/{orgId}/teams", name: "create_team", tag: "teams", h: h.createTeam, audit: "team.create",
			summary: "Create a team", in: "TeamRequest", out: "Team", status: 201},
		{method: "GET", path: "/organizations/{orgId}/teams/{teamId}", name: "get_team", tag: "teams", h: h.getTeam,
			summary: "Get a team (by id or name)", out: "Team"},
		{method: "DELETE", path: "/organizations/{orgId}/teams/{teamId}", name: "delete_team", tag: "teams", h: h.deleteTeam, audit: "team.delete",
			summary: "Delete a team"},
		{method: "GET", path: "/organizations/{orgId}/teams/{teamId}/members", name: "list_team_members", tag: "teams", h: h.listTeamMembers, query: pageQ,
			summary: "List a team's members", out: "TeamMember", list: true},
		{method: "POST", path: "/organizations/{orgId}/teams/{teamId}/members", name: "set_team_member", tag: "teams", h: h.setTeamMember, audit: "team.member.set",
			summary: "Add a member to a team or change its role (maintainer, member)", in: "MemberRequest", out: "TeamMember"},
		{method: "DELETE", path: "/organizations/{orgId}/teams/{teamId}/members/{userId}", name: "remove_team_member", tag: "teams", h: h.removeTeamMember, audit: "team.member.remove",
			summary: "Remove a member from a team"},
		{method: "GET", path: "/organizations/{orgId}/teams/{teamId}/repositories", name: "list_team_repos", tag: "teams", h: h.listTeamRepos, query: pageQ,
			summary: "List the repositories a team may use", out: "Repository", list: true},
		{method: "POST", path: "/organizations/{orgId}/teams/{teamId}/repositories", name: "grant_team_repo", tag: "teams", h: h.grantTeamRepo, audit: "team.repo.grant",
			summary: "Give a team access to a repository", in: "TeamRepoRequest", out: "Repository"},
		{method: "DELETE", path: "/organizations/{orgId}/teams/{teamId}/repositories/{repoId}", name: "revoke_team_repo", tag: "teams", h: h.revokeTeamRepo, audit: "team.repo.revoke",
			summary: "Take a repository away from a team"},

		// Repositories and direct permissions.
		{method: "GET", path: "/organizations/{orgId}/repositories", name: "list_repos", tag: "repositories", h: h.listRepos, query: pageQ,
			summary: "List an organization's repositories the caller may read", out: "Repository", list: true},
		{method: "POST", path: "/organizations/{orgId}/repositories", name: "create_repo", tag: "repositories", h: h.createRepo, audit: "repo.create",
			summary: "Create a repository", in: "RepositoryRequest", out: "Repository", status: 201},
		{method: "GET", path: "/repositories/{repoId}", name: "get_repo", tag: "repositories", h: h.getRepo, public: true,
			summary: "Get a repository", out: "Repository"},
		{method: "PUT", path: "/repositories/{repoId}", name: "update_repo", tag: "repositories", h: h.updateRepo, audit: "repo.update",
			summary: "Change a repository's visibility and description", in: "RepositoryRequest", out: "Repository"},
		{method: "DELETE", path: "/repositories/{repoId}", name: "delete_repo", tag: "repositories", h: h.deleteRepo, audit: "repo.delete", query: []string{"force"},
			summary: "Delete a repository (refused while it holds packages unless a platform admin forces it)"},
		{method: "GET", path: "/repositories/{repoId}/permissions", name: "list_repo_permissions", tag: "repositories", h: h.listRepoPermissions, query: pageQ,
			summary: "List a repository's direct user permissions", out: "Permission", list: true},
		{method: "POST", path: "/repositories/{repoId}/permissions", name: "set_repo_permission", tag: "repositories", h: h.setRepoPermission, audit: "repo.permission.set",
			summary: "Give a user a direct role on a repository (reader, developer, maintainer, admin)", in: "MemberRequest", out: "Permission"},
		{method: "DELETE", path: "/repositories/{repoId}/permissions/{userId}", name: "remove_repo_permission", tag: "repositories", h: h.removeRepoPermission, audit: "repo.permission.remove",
			summary: "Remove a user's direct role on a repository"},

		// Cleanup policies (cleanup.go): keep the newest N pre-releases,
		// SNAPSHOT builds or untagged manifests of each series.
		{method: "GET", path: "/repositories/{repoId}/cleanup", name: "get_cleanup", tag: "repositories", h: h.getCleanup,
			summary: "Get a repository's cleanup policy and what its last run deleted", out: "CleanupPolicy"},
		{method: "PUT", path: "/repositories/{repoId}/cleanup", name: "put_cleanup", tag: "repositories", h: h.putCleanup, audit: "repo.cleanup.set",
			summary: "Set a repository's cleanup policy: every CLEANUP_INTERVAL, each series keeps its newest keep npm pre-releases, Maven SNAPSHOT builds or OCI untagged manifests, and the rest are deleted (audited as cleanup.delete)", in: "CleanupPolicyRequest", out: "CleanupPolicy"},
		{method: "DELETE", path: "/repositories/{repoId}/cleanup", name: "delete_cleanup", tag: "repositories", h: h.deleteCleanup, audit: "repo.cleanup.delete",
			summary: "Remove a repository's cleanup policy"},
		{method: "POST", path: "/repositories/{repoId}/cleanup/run", name: "run_cleanup", tag: "repositories", h: h.runCleanup, audit: "repo.cleanup.run", query: []string{"dryRun"},
			summary: "Apply a repository's cleanup policy now; with dryRun=true only list what it would delete (409 while another run is under way)", out: "CleanupReport"},

		// Supply-chain policy (policies.go): release-age gates, block
		// rules and exemptions, per platform or organization.
		{method: "GET", path: "/policies", name: "list_policies", tag: "policies", h: h.listPolicies, query: []string{"scope"},
			summary: "List the supply-chain policy rules the caller may read (the platform's and its organizations')", out: "Policy", list: true},
		{method: "POST", path: "/policies", name: "create_policy", tag: "policies", h: h.createPolicy, audit: "policy.create", status: 201,
			summary: "Create a rule: a release-age gate (minAge), a block (deny, reason) or an exemption (exempt, expires); platform rules are platform admins', org:<name> rules its owners' and admins'", in: "PolicyRequest", out: "Policy"},
		{method: "POST", path: "/policies/dry-run", name: "dry_run_policy", tag: "policies", h: h.dryRunPolicy,
			summary: "What a rule would hold back or deny today among the mirrored versions this registry has seen; nothing is stored", in: "PolicyRequest", out: "PolicyDryRun"},
		{method: "GET", path: "/policies/{policyId}", name: "get_policy", tag: "policies", h: h.getPolicy,
			summary: "Get a supply-chain policy rule", out: "Policy"},
		{method: "PUT", path: "/policies/{policyId}", name: "replace_policy", tag: "policies", h: h.replacePolicy, audit: "policy.update",
			summary: "Replace a supply-chain policy rule", in: "PolicyRequest", out: "Policy"},
		{method: "DELETE", path: "/policies/{policyId}", name: "delete_policy", tag: "policies", h: h.deletePolicy, audit: "policy.delete",
			summary: "Remove a supply-chain policy rule"},

		// Hosted packages. A package id is protocol:name, URL-escaped.
		{method: "GET", path: "/packages", name: "list_packages", tag: "packages", h: h.listPackages, public: true, query: []string{"q", "protocol", "org", "limit", "cursor"},
			summary: "Search the hosted packages the caller may read", out: "Package", list: true},
		{method: "GET", path: "/packages/{packageId}", name: "get_package", tag: "packages", h: h.getPackage, public: true,
			summary: "Get a package (id protocol:name, URL-escaped)", out: "Package"},
		{method: "GET", path: "/packages/{packageId}/versions", name: "list_versions", tag: "packages", h: h.listVersions, public: true, query: []string{"deleted"},
			summary: "List a package's versions", out: "Version", list: true},
		{method: "DELETE", path: "/packages/{packageId}", name: "delete_package", tag: "packages", h: h.deletePackage, audit: "package.delete",
			summary: "Delete a package and its versions (they can never be published again)"},
		{method: "DELETE", path: "/packages/{packageId}/versions/{version}", name: "delete_version", tag: "packages", h: h.deleteVersion, audit: "package.version.delete",
			summary: "Delete one version (it can never be published again)"},

		// The dashboard's overview.
		{method: "GET", path: "/stats", name: "stats", tag: "packages", h: h.stats,
			summary: "Count the hosted packages, versions and bytes the caller may read, per protocol; and the public base URL", out: "Stats"},

		// API tokens.
		{method: "GET", path: "/tokens", name: "list_tokens", tag: "tokens", h: h.listTokens, query: []string{"user", "limit", "cursor"},
			summary: "List the caller's API tokens (never their secrets)", out: "Token", list: true},
		{method: "POST", path: "/tokens", name: "create_token", tag: "tokens", h: h.createToken, audit: "token.create",
			summary: "Create an API token; its srg_ secret is in this answer only", in: "TokenRequest", out: "CreatedToken", status: 201},
		{method: "DELETE", path: "/tokens/{tokenId}", name: "revoke_token", tag: "tokens", h: h.revokeToken, audit: "token.revoke",
			summary: "Revoke an API token"},

		// Audit log.
		{method: "GET", path: "/audit", name: "audit", tag: "audit", h: h.auditLog, query: []string{"actor", "org", "action", "from", "to", "limit", "cursor"},
			summary: "Read the audit log (platform admins: all; organization owners and admins: their organization's)", out: "AuditEntry", list: true},

		// Platform settings.
		{method: "GET", path: "/admin/auth/settings", name: "get_settings", tag: "admin", h: h.getSettings,
			summary: "Get the platform settings (platform admins)", out: "Settings"},
		{method: "PUT", path: "/admin/auth/settings", name: "put_settings", tag: "admin", h: h.putSettings, audit: "settings.update",
			summary: "Change the platform settings (platform admins)", in: "Settings", out: "Settings"},

		// The package protocols (cmd/entrepot's protocol table), for the
		// dashboard's lists and snippets.
		{method: "GET", path: "/protocols", name: "protocols", tag: "meta", h: h.protocols, public: true,
			summary: "The package protocols: name, title, mount point, and whether this server serves it yet", out: "Protocol", list: true},

		// This document.
		{method: "GET", path: "/openapi.json", name: "openapi", tag: "meta", h: h.serveOpenAPI, public: true,
			summary: "This API's OpenAPI 3 document", out: "OpenAPI"},
	}
}
