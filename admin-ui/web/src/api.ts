// The dashboard's only door to the server: the /api/v1 management API.
//
// The access token lives in this module's memory and nowhere else (never
// localStorage or sessionStorage): a reload forgets it, and the session
// comes back through POST /api/v1/auth/refresh, which reads the refresh
// token from the httpOnly, SameSite=Strict cookie entrepot_refresh that no
// script can read. The refresh token of the JSON answers is dropped.

export const BASE = '/api/v1'

export class ApiError extends Error {
  status: number
  code: string
  requestId: string
  constructor(status: number, code: string, message: string, requestId = '') {
    super(message)
    this.status = status
    this.code = code
    this.requestId = requestId
  }
}

export interface User {
  id: string
  email: string
  username: string
  displayName?: string
  active: boolean
  platformAdmin: boolean
  createdAt: string
}
export interface Member { orgId: string; orgName?: string; userId: string; username?: string; role: string }
export interface Invitation {
  id: string; orgId: string; orgName?: string; invitee: string; role: string; invitedBy?: string; createdAt: string; expiresAt: string
}
export interface Me { user: User; organizations: Member[]; method: string }
export interface Org { id: string; name: string; displayName?: string; description?: string; createdAt: string }
export interface Team { id: string; orgId: string; name: string; description?: string; createdAt?: string }
export interface TeamMember { teamId: string; orgId: string; userId: string; username?: string; role: string }
export interface Repo { id: string; orgId: string; name: string; protocol: string; visibility: string; description?: string; createdAt?: string }
export interface Permission { repoId: string; orgId?: string; userId: string; username?: string; role: string }
export interface Package {
  id: string; protocol: string; name: string; displayName?: string; orgId: string; repoId?: string
  description?: string; createdAt: string; updatedAt: string; meta?: unknown
}
export interface FileInfo { name: string; digest: string; size: number; contentType?: string; uploadedAt: string }
export interface Version {
  version: string; files: FileInfo[]; yanked?: boolean; yankReason?: string
  publishedBy?: string; publishedAt: string; deleted?: boolean; meta?: unknown
}
export interface Token {
  id: string; ownerId?: string; name: string; protocols?: string[]; actions?: string[]; organizations?: string[]
  expiresAt?: string; createdAt: string; lastUsedAt?: string
}
export interface CreatedToken extends Token { token: string }
export interface AuditEntry {
  time: string; actorUserId?: string; actorTokenId?: string; clientIp?: string; userAgent?: string
  action: string; target?: string; orgId?: string; outcome: string; detail?: string
}
export interface Settings { anonymousMirrorReads?: boolean; userOrganizations?: boolean }
export interface Provider { id: string; kind: string; name: string; loginUrl?: string }
export interface Page<T> { items: T[]; nextCursor?: string }
export interface ProtocolStats { protocol: string; packages: number; versions: number; files: number; bytes: number }
export interface Stats {
  publicUrl: string; packages: number; versions: number; files: number; bytes: number
  protocols: ProtocolStats[]; partial?: boolean
}

interface Session { accessToken: string; expiresIn: number; user: User }

let access = ''
let expiresAt = 0
let refreshing: Promise<boolean> | null = null
let onSignedOut: () => void = () => {}

/** Called when the session is gone for good (refresh refused). */
export function setSignedOutHandler(fn: () => void) {
  onSignedOut = fn
}

export function signedIn(): boolean {
  return access !== ''
}

// HINT marks, in localStorage, that this browser signed in (never a token):
// without it a page load does not try the refresh cookie, so that every
// anonymous visit does not write a failed auth.refresh to the audit log.
const HINT = 'entrepot.signedIn'

function hint(on: boolean) {
  try {
    if (on) localStorage.setItem(HINT, '1')
    else localStorage.removeItem(HINT)
  } catch {
    // storage disabled: always try the cookie
  }
}

/** mayHaveSession reports whether a refresh cookie may exist. */
export function mayHaveSession(): boolean {
  try {
    return localStorage.getItem(HINT) !== null
  } catch {
    return true
  }
}

function keep(s: Session) {
  hint(true)
  access = s.accessToken
  // Refresh a minute early so that a request never carries a token that
  // expires on its way.
  expiresAt = Date.now() + Math.max(s.expiresIn - 60, 10) * 1000
}

function forget() {
  access = ''
  expiresAt = 0
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = 'error'
  let message = `${res.status} ${res.statusText}`
  let requestId = res.headers.get('X-Request-Id') || ''
  try {
    const body = await res.json()
    if (body && body.error) {
      code = String(body.error.code || code)
      message = String(body.error.message || message)
      requestId = String(body.error.requestId || requestId)
    }
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 429) {
    const after = res.headers.get('Retry-After')
    if (after) message += ` (try again in ${after} s)`
  }
  return new ApiError(res.status, code, message, requestId)
}

/** Renews the session from the refresh cookie; false when there is none. */
export function refresh(): Promise<boolean> {
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const res = await fetch(`${BASE}/auth/refresh`, { method: 'POST', credentials: 'same-origin' })
        if (!res.ok) {
          forget()
          hint(false)
          return false
        }
        keep(await res.json())
        return true
      } catch {
        return false
      } finally {
        refreshing = null
      }
    })()
  }
  return refreshing
}

export function login(loginName: string, password: string): Promise<User> {
  return signIn(`${BASE}/auth/login`, { email: loginName, password })
}

/**
 * loginLDAP signs in with a directory's username and password at an LDAP
 * provider's loginUrl (from /auth/providers), which answers like
 * /auth/login.
 */
export function loginLDAP(loginUrl: string, username: string, password: string): Promise<User> {
  if (!loginUrl.startsWith(`${BASE}/auth/ldap/`)) return Promise.reject(new ApiError(0, 'invalid', 'not an LDAP sign-in address', ''))
  return signIn(loginUrl, { username, password })
}

async function signIn(url: string, body: Record<string, string>): Promise<User> {
  const res = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (!res.ok) throw await errorOf(res)
  const s: Session = await res.json()
  keep(s)
  return s.user
}

export async function logout(): Promise<void> {
  try {
    if (access) await call('POST', '/auth/logout')
  } finally {
    forget()
    hint(false)
  }
}

/**
 * call sends one API request with the session's access token, renewing the
 * session first when the token is about to expire and once more on a 401.
 * Errors are ApiError with the server's code and message.
 */
export async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  if (access && Date.now() > expiresAt) await refresh()
  const send = () => {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (access) headers.Authorization = `Bearer ${access}`
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    return fetch(BASE + path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  }
  let res = await send()
  if (res.status === 401 && access) {
    if (await refresh()) {
      res = await send()
    } else {
      onSignedOut()
    }
  }
  if (!res.ok) throw await errorOf(res)
  if (res.status === 204) return undefined as T
  return (await res.json()) as T
}

export const get = <T>(path: string) => call<T>('GET', path)

/** all follows nextCursor until the end or max items. */
export async function all<T>(path: string, max = 5000): Promise<T[]> {
  const out: T[] = []
  let cursor = ''
  const sep = path.includes('?') ? '&' : '?'
  for (;;) {
    const pg = await get<Page<T>>(`${path}${sep}limit=1000${cursor ? '&cursor=' + encodeURIComponent(cursor) : ''}`)
    out.push(...pg.items)
    if (!pg.nextCursor || out.length >= max) return out
    cursor = pg.nextCursor
  }
}

/** q builds a query string from the non-empty values. */
export function q(params: Record<string, string | undefined>): string {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v) u.set(k, v)
  const s = u.toString()
  return s ? '?' + s : ''
}

/** seg escapes one path segment (package ids hold '/' and '@'). */
export const seg = (s: string) => encodeURIComponent(s)

/** Reads a same-origin public document that is not JSON API (health, metrics). */
export async function text(path: string): Promise<string> {
  const res = await fetch(path, { credentials: 'omit' })
  if (!res.ok && res.status !== 503) throw new ApiError(res.status, 'error', `${path}: ${res.status}`)
  return res.text()
}
