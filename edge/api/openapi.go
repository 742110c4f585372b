package api

import (
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"
)

// serveOpenAPI: GET /api/v1/openapi.json — the document built from the
// route table at start-up.
func (h *Handler) serveOpenAPI(ctx *fasthttp.RequestCtx) error {
	ctx.SetContentType("application/json")
	ctx.SetBody(h.openapi)
	return nil
}

// protocols: GET /api/v1/protocols — the protocol table, in its order.
func (h *Handler) protocols(ctx *fasthttp.RequestCtx) error {
	return reply(ctx, fasthttp.StatusOK, page(append([]Protocol{}, h.opts.Protocols...), ""))
}

type obj = map[string]any

var pathParam = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// openAPI builds the OpenAPI 3 document of the route table.
func (h *Handler) openAPI() obj {
	paths := obj{}
	for _, rt := range h.routes {
		item, _ := paths[rt.path].(obj)
		if item == nil {
			item = obj{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = operation(rt)
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{
			"title":       "Entrepot management API",
			"version":     "1",
			"description": "Users, organizations, teams, repositories, permissions, hosted packages, API tokens, audit log and platform settings. Errors are {\"error\":{\"code\",\"message\",\"requestId\"}}; lists are {\"items\",\"nextCursor\"}; an organization's name works wherever its id is asked.",
		},
		"servers": []obj{{"url": Prefix}},
		"paths":   paths,
		"components": obj{
			"securitySchemes": obj{
				"bearer": obj{"type": "http", "scheme": "bearer", "description": "an access token from /auth/login, or an srg_ API token (reads and package deletes only)"},
				"basic":  obj{"type": "http", "scheme": "basic"},
			},
			"schemas":    schemas(h.names),
			"parameters": parameters(h.names),
			"responses": obj{
				"Error": obj{"description": "an error", "content": obj{"application/json": obj{"schema": ref("Error")}}},
			},
		},
	}
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func operation(rt route) obj {
	op := obj{
		"operationId": rt.name,
		"summary":     rt.summary,
		"tags":        []string{rt.tag},
	}
	var params []obj
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	for _, q := range rt.query {
		params = append(params, obj{"$ref": "#/components/parameters/" + q})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.in != "" {
		op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(rt.in)}}}
	}
	status, resp := "204", obj{"description": "done"}
	if rt.out != "" {
		schema := ref(rt.out)
		if rt.list {
			schema = obj{"type": "object", "required": []string{"items"}, "properties": obj{
				"items":      obj{"type": "array", "items": ref(rt.out)},
				"nextCursor": obj{"type": "string", "description": "the cursor of the next page; absent on the last"},
			}}
		}
		status, resp = "200", obj{"description": "OK", "content": obj{"application/json": obj{"schema": schema}}}
	}
	if rt.status != 0 {
		status = itoa(rt.status)
	}
	responses := obj{status: resp, "default": obj{"$ref": "#/components/responses/Error"}}
	op["responses"] = responses
	if rt.public {
		op["security"] = []obj{{}, {"bearer": []string{}}}
	} else {
		op["security"] = []obj{{"bearer": []string{}}, {"basic": []string{}}}
	}
	return op
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}

func parameters(names []string) obj {
	q := func(name, desc string, schema obj) obj {
		return obj{"name": name, "in": "query", "required": false, "description": desc, "schema": schema}
	}
	str := obj{"type": "string"}
	return obj{
		"limit":    q("limit", "page size", obj{"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
		"cursor":   q("cursor", "nextCursor of the previous page", str),
		"force":    q("force", "delete what it still holds (platform admins)", obj{"type": "boolean"}),
		"dryRun":   q("dryRun", "list what would be deleted, delete nothing", obj{"type": "boolean"}),
		"scope":    q("scope", `only the rules of this scope ("platform", "org:<name>")`, obj{"type": "string"}),
		"q":        q("q", "name prefix", str),
		"protocol": q("protocol", "one protocol", obj{"type": "string", "enum": names}),
		"org":      q("org", "organization id or name", str),
		"deleted":  q("deleted", "include deleted versions", obj{"type": "boolean"}),
		"user":     q("user", "another user's (platform admins)", str),
		"actor":    q("actor", "user id, username or token id", str),
		"action":   q("action", "audit action, like token.create", str),
		"from":     q("from", "RFC 3339 time or date, inclusive", str),
		"to":       q("to", "RFC 3339 time or date, inclusive", str),
		"code":     q("code", "the authorization code the provider issued", str),
		"state":    q("state", "the state sent to the provider", str),
	}
}

func schemas(names []string) obj {
	s := func(t string) obj { return obj{"type": t} }
	str, boolean, integer := s("string"), s("boolean"), s("integer")
	tm := obj{"type": "string", "format": "date-time"}
	protocol := obj{"type": "string", "enum": names}
	strs := obj{"type": "array", "items": str}
	o := func(required []string, props obj) obj {
		out := obj{"type": "object", "properties": props}
		if required != nil {
			out["required"] = required
		}
		return out
	}
	enum := func(vals ...string) obj { return obj{"type": "string", "enum": vals} }
	user := o([]string{"id", "email", "username", "active", "platformAdmin", "createdAt"}, obj{
		"id": str, "email": str, "username": str, "displayName": str, "active": boolean, "platformAdmin": boolean, "createdAt": tm,
	})
	member := o([]string{"orgId", "userId", "role"}, obj{
		"orgId": str, "orgName": str, "userId": str, "username": str, "role": enum("owner", "admin", "member"),
	})
	token := obj{
		"id": str, "ownerId": str, "name": str, "protocols": strs, "actions": strs, "organizations": strs,
		"expiresAt": tm, "createdAt": tm, "lastUsedAt": tm,
	}
	created := obj{"token": obj{"type": "string", "description": "the srg_ secret, shown this once"}}
	for k, v := range token {
		created[k] = v
	}
	settings := o(nil, obj{"anonymousMirrorReads": boolean, "userOrganizations": boolean})
	out := obj{
		"Error": o([]string{"error"}, obj{"error": o([]string{"code", "message"}, obj{"code": str, "message": str, "requestId": str})}),
		"LoginRequest": o([]string{"password"}, obj{
			"email": obj{"type": "string", "description": "email or username"}, "username": str, "login": str, "password": str,
		}),
		"RefreshRequest": o(nil, obj{"refreshToken": obj{"type": "string", "description": "or the entrepot_refresh cookie"}}),
		"Session": o([]string{"accessToken", "refreshToken", "expiresIn", "user"}, obj{
			"accessToken": str, "refreshToken": str, "tokenType": str,
			"expiresIn": obj{"type": "integer", "description": "seconds"}, "refreshExpiresAt": tm, "user": ref("User"),
		}),
		"SessionInfo": o([]string{"id", "createdAt", "expiresAt", "current"}, obj{
			"id": str, "createdAt": tm, "lastUsedAt": obj{"type": "string", "format": "date-time", "description": "last sign-in or refresh"},
			"expiresAt": tm, "clientIp": str, "userAgent": str,
			"current": obj{"type": "boolean", "description": "the session of the calling access token"},
		}),
		"Me": o([]string{"user", "organizations", "method"}, obj{
			"user": ref("User"), "organizations": obj{"type": "array", "items": ref("Member")},
			"method": enum("session", "token", "password"), "sessionId": str, "token": ref("Token"),
		}),
		"User": user,
		"UserRequest": o(nil, obj{
			"email": str, "username": str, "displayName": str, "password": str, "active": boolean, "platformAdmin": boolean,
			"currentPassword": obj{"type": "string", "description": "required to change one's own password"},
		}),
		"Organization": o([]string{"id", "name", "createdAt"}, obj{
			"id": str, "name": str, "displayName": str, "description": str, "createdAt": tm,
		}),
		"OrganizationRequest": o(nil, obj{"name": str, "displayName": str, "description": str,
			"owner": obj{"type": "string", "description": "user made owner (platform admins); default the caller"}}),
		"Claim": o([]string{"protocol", "namespace", "orgId", "createdAt"}, obj{
			"protocol": protocol, "namespace": obj{"type": "string", "description": "as the protocol keys it: @scope or an unscoped name (npm), a PEP 503-normalized project (pypi), a crate name in lowercase with - as _ (cargo), a gem name, a groupId (maven), a vendor (composer), a first path segment (oci)"},
			"orgId": str, "repoId": str, "createdAt": tm,
		}),
		"ClaimRequest":  o([]string{"protocol", "namespace"}, obj{"protocol": protocol, "namespace": str}),
		"Member":        member,
		"MemberRequest": o([]string{"userId", "role"}, obj{"userId": obj{"type": "string", "description": "user id or username"}, "role": str}),
		"RoleRequest":   o([]string{"role"}, obj{"role": str}),
		"Team":          o([]string{"id", "orgId", "name"}, obj{"id": str, "orgId": str, "name": str, "description": str, "createdAt": tm}),
		"TeamRequest":   o([]string{"name"}, obj{"name": str, "description": str}),
		"TeamMember": o([]string{"teamId", "orgId", "userId", "role"}, obj{
			"teamId": str, "orgId": str, "userId": str, "username": str, "role": enum("maintainer", "member"),
		}),
		"Invitation": o([]string{"id", "orgId", "invitee", "role", "createdAt", "expiresAt"}, obj{
			"id": str, "orgId": str, "orgName": str, "invitee": obj{"type": "string", "description": "the username or email invited, lowercased"},
			"role": enum("owner", "admin", "member"), "invitedBy": str, "createdAt": tm, "expiresAt": tm,
		}),
		"InvitationRequest": o(nil, obj{
			"username": str, "email": str, "role": enum("owner", "admin", "member"),
		}),
		"TeamRepoRequest": o([]string{"repositoryId"}, obj{"repositoryId": str}),
		"Repository": o([]string{"id", "orgId", "name", "protocol", "visibility"}, obj{
			"id": str, "orgId": str, "name": str, "protocol": protocol,
			"visibility": enum("private", "public"), "description": str, "createdAt": tm,
		}),
		"RepositoryRequest": o(nil, obj{
			"name": str, "protocol": protocol, "visibility": enum("private", "public"), "description": str,
		}),
		"CleanupPolicyRequest": o([]string{"keep"}, obj{"keep": obj{"type": "integer", "minimum": 0, "maximum": 10000,
			"description": "how many of each series' newest disposable versions stay: an npm package's pre-releases no dist-tag names, each Maven SNAPSHOT's timestamped builds, an OCI repository's untagged manifests (neither listed by an index nor referrers)"}}),
		"CleanupPolicy": o([]string{"repoId", "orgId", "protocol", "keep", "updatedAt"}, obj{
			"repoId": str, "orgId": str, "protocol": protocol, "keep": integer, "updatedAt": tm, "updatedBy": str,
			"lastRun": ref("CleanupReport"),
		}),
		"CleanupReport": o([]string{"repoId", "started", "finished", "keep", "packages", "count", "bytes", "deleted"}, obj{
			"repoId": str, "started": tm, "finished": tm, "dryRun": boolean, "keep": integer,
			"packages": obj{"type": "integer", "description": "packages looked at"},
			"count":    obj{"type": "integer", "description": "versions deleted (or, in a dry run, that would be)"},
			"bytes":    obj{"type": "integer", "description": "their files' bytes, which the garbage collector reclaims after GC_GRACE"},
			"failed":   obj{"type": "integer", "description": "packages whose cleanup failed (retried next run)"},
			"deleted": obj{"type": "array", "description": "the versions (a stored lastRun lists the first 100)", "items": o([]string{"protocol", "package", "version", "bytes"}, obj{
				"protocol": str, "package": str, "version": obj{"type": "string", "description": "npm version, Maven SNAPSHOT/file, OCI manifest digest"}, "bytes": integer,
			})},
		}),
		"PolicyRequest": o([]string{"scope", "protocol", "package"}, obj{
			"scope":    obj{"type": "string", "description": `"platform" or "org:<name>"`},
			"protocol": obj{"type": "string", "description": `a protocol name or "*"`},
			"package":  obj{"type": "string", "description": `a package name or glob ("*" any run of characters, "?" one)`},
			"minAge":   obj{"type": "string", "description": `a release-age gate: "7d", "36h", "1d12h"`},
			"deny":     obj{"type": "string", "description": `a block: a version range ("*", "1.2.3", ">=1.0.0 <1.4.2", "1.2.3 || 1.2.4")`},
			"exempt":   obj{"type": "string", "description": "an exemption from the gates for a version range, until expires"},
			"expires":  tm, "reason": str,
		}),
		"Policy": o([]string{"id", "scope", "protocol", "package", "createdAt", "updatedAt"}, obj{
			"id": str, "scope": str, "protocol": str, "package": str, "minAge": str, "deny": str, "exempt": str,
			"expires": tm, "reason": str, "createdAt": tm, "updatedAt": tm, "updatedBy": str,
		}),
		"PolicyDryRun": o([]string{"rule", "scanned", "count", "held"}, obj{
			"rule":      ref("Policy"),
			"scanned":   obj{"type": "integer", "description": "first-seen records of mirrored versions looked at"},
			"count":     obj{"type": "integer", "description": "versions the rule would hold back or deny"},
			"truncated": boolean,
			"held": obj{"type": "array", "description": "the first 500 of them", "items": o([]string{"protocol", "package", "version", "outcome", "firstSeen"}, obj{
				"protocol": str, "package": str, "version": str, "outcome": enum("hold", "deny"),
				"firstSeen": tm, "published": tm, "until": tm,
			})},
		}),
		"Permission": o([]string{"repoId", "userId", "role"}, obj{
			"repoId": str, "orgId": str, "userId": str, "username": str, "role": enum("reader", "developer", "maintainer", "admin"),
		}),
		"Package": o([]string{"id", "protocol", "name", "orgId"}, obj{
			"id": obj{"type": "string", "description": "protocol:name"}, "protocol": str, "name": str, "displayName": str,
			"orgId": str, "repoId": str, "description": str, "createdAt": tm, "updatedAt": tm,
			"meta": obj{"type": "object", "description": "protocol data (npm: distTags, fields such as readme); in single-package answers only"},
		}),
		"Version": o([]string{"version", "files", "publishedAt"}, obj{
			"version": str, "yanked": boolean, "yankReason": str, "publishedBy": str, "publishedAt": tm, "deleted": boolean,
			"meta": obj{"type": "object", "description": "protocol data: the version's manifest (npm), core metadata (PyPI), ..."},
			"files": obj{"type": "array", "items": o([]string{"name", "digest", "size"}, obj{
				"name": str, "digest": str, "size": integer, "contentType": str,
				"hashes": obj{"type": "object", "additionalProperties": str}, "uploadedAt": tm,
			})},
		}),
		"Stats": o([]string{"publicUrl", "packages", "versions", "files", "bytes", "protocols"}, obj{
			"publicUrl": str, "packages": integer, "versions": integer, "files": integer, "bytes": integer,
			"partial": obj{"type": "boolean", "description": "the catalog was too large to count whole"},
			"protocols": obj{"type": "array", "items": o([]string{"protocol", "packages", "versions", "files", "bytes"}, obj{
				"protocol": str, "packages": integer, "versions": integer, "files": integer, "bytes": integer,
			})},
		}),
		"Token": o([]string{"id", "name", "createdAt"}, token),
		"TokenRequest": o([]string{"name"}, obj{
			"name": str, "protocols": strs, "actions": obj{"type": "array", "items": enum("read", "write", "delete", "manage")},
			"organizations": obj{"type": "array", "items": str, "description": "organization ids or names"}, "expiresAt": tm,
		}),
		"CreatedToken": o([]string{"id", "token", "name"}, created),
		"AuditEntry": o([]string{"time", "action", "outcome"}, obj{
			"time": tm, "actorUserId": str, "actorTokenId": str, "clientIp": str, "userAgent": str,
			"action": str, "target": str, "orgId": str, "outcome": enum("success", "failure", "denied"), "detail": str,
		}),
		"Settings": settings,
		"OpenAPI":  obj{"type": "object", "description": "an OpenAPI 3 document"},
		"Protocol": o([]string{"name", "title", "prefix", "served"}, obj{
			"name": protocol, "title": str,
			"prefix": obj{"type": "string", "description": "the path it is mounted under (or will be, while not served), like /npm; empty for OCI (/v2)"},
			"served": obj{"type": "boolean"},
		}),
	}
	for k, v := range idpSchemas(o, enum) {
		out[k] = v
	}
	return out
}
