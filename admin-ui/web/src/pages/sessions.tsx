import { call, get, logout, type Page } from '../api'
import { when } from '../format'
import { Badge, Empty, ErrorBox, Show, useAction, useAsync } from '../ui'

/** SessionInfo is a sign-in session as GET /auth/sessions lists it. */
interface SessionInfo {
  id: string
  createdAt: string
  lastUsedAt?: string
  expiresAt: string
  clientIp?: string
  userAgent?: string
  current: boolean
}

/** signOutHere ends this browser's session: the app then shows sign-in. */
async function signOutHere() {
  await logout().catch(() => {})
  location.hash = '#/'
  location.reload()
}

/**
 * Sessions lists the caller's sign-ins (browsers, npm logins) with a
 * sign-out per row and one for all of them. A password change ends the
 * others by itself.
 */
export function Sessions() {
  const list = useAsync(() => get<Page<SessionInfo>>('/auth/sessions'), [])
  const end = useAction()
  return (
    <>
      <h2>Your sessions</h2>
      <p class="muted small">Where you are signed in. Changing your password signs out every other session.</p>
      <ErrorBox error={end.error} />
      <Show a={list} label="Loading sessions…">
        {(pg) =>
          pg.items.length === 0 ? (
            <Empty>No session is open.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="sessions">
                <thead>
                  <tr>
                    <th scope="col">Client</th>
                    <th scope="col">Signed in</th>
                    <th scope="col">Last used</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {pg.items.map((s) => (
                    <tr key={s.id}>
                      <td class="wrap small">
                        <div>
                          {s.userAgent || 'unknown client'} {s.current ? <Badge kind="ok">this browser</Badge> : null}
                        </div>
                        <div class="muted">{s.clientIp || ''}</div>
                      </td>
                      <td>{when(s.createdAt)}</td>
                      <td>{when(s.lastUsedAt)}</td>
                      <td>
                        <button
                          type="button"
                          class="danger small"
                          disabled={end.busy}
                          onClick={() =>
                            s.current
                              ? signOutHere()
                              : end.run(() => call('DELETE', '/auth/sessions/' + encodeURIComponent(s.id))).then(() => list.reload())
                          }
                        >
                          Sign out<span class="sr-only"> session {s.id}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
      <p>
        <button
          type="button"
          class="danger"
          disabled={end.busy}
          onClick={() => {
            if (!confirm('Sign out everywhere, this browser included?')) return
            end.run(() => call('DELETE', '/auth/sessions')).then((ok) => {
              if (ok) signOutHere()
            })
          }}
        >
          Sign out everywhere
        </button>
      </p>
    </>
  )
}
