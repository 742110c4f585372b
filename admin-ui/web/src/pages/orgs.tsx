import { useState } from 'preact/hooks'
import { all, call, get, seg, type Invitation, type Member, type Org, type Repo, type Team, type TeamMember } from '../api'
import { protocolNames, protocols, when } from '../format'
import { useMe } from '../me'
import { go, href } from '../router'
import { Badge, Empty, ErrorBox, Show, useAction, useAsync } from '../ui'

export function OrgList() {
  const { reload } = useMe()
  const list = useAsync(() => all<Org>('/organizations'), [])
  const [name, setName] = useState('')
  const [displayName, setDisplayName] = useState('')
  const [description, setDescription] = useState('')
  const act = useAction()
  return (
    <section>
      <h1>Organizations</h1>
      <MyInvitations onJoin={() => Promise.all([list.reload(), reload()]).then(() => undefined)} />
      <Show a={list} label="Loading organizations…">
        {(orgs) =>
          orgs.length === 0 ? (
            <Empty>No organization yet. Create one below: its name becomes your npm scope, Composer vendor and image namespace.</Empty>
          ) : (
            <ul class="cards-list">
              {orgs.map((o) => (
                <li key={o.id}>
                  <a href={href(['orgs', o.name])} class="pkg-name">
                    {o.displayName || o.name}
                  </a>{' '}
                  <span class="muted">{o.name}</span>
                  {o.description ? <p class="muted">{o.description}</p> : null}
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <h2>Create an organization</h2>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault()
          const n = name.trim()
          act
            .run(async () => {
              await call('POST', '/organizations', { name: n, displayName: displayName.trim(), description: description.trim() })
              await reload()
            })
            .then((ok) => ok && go(['orgs', n]))
        }}
      >
        <div class="field">
          <label for="org-name">Name</label>
          <input
            id="org-name"
            required
            pattern="[a-z0-9][a-z0-9._\-]{0,63}"
            title="1–64 lowercase letters, digits, dots, dashes or underscores, starting with a letter or digit"
            value={name}
            placeholder="acme"
            onInput={(e) => setName(e.currentTarget.value)}
            aria-describedby="org-name-help"
          />
          <p id="org-name-help" class="muted small">
            Lowercase letters, digits, <code>-</code>, <code>.</code>, <code>_</code>. It never changes.
          </p>
        </div>
        <div class="field">
          <label for="org-display">Display name</label>
          <input id="org-display" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="org-desc">Description</label>
          <input id="org-desc" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <ErrorBox error={act.error} />
        <button type="submit" class="primary" disabled={act.busy}>
          {act.busy ? 'Creating…' : 'Create organization'}
        </button>
      </form>
    </section>
  )
}

// MyInvitations lists the invitations addressed to the signed-in user,
// who joins an organization only by accepting one.
function MyInvitations({ onJoin }: { onJoin: () => Promise<void> }) {
  const list = useAsync(() => all<Invitation>('/auth/invitations'), [])
  const act = useAction()
  const answer = (inv: Invitation, accept: boolean) =>
    act
      .run(() => (accept ? call('POST', `/auth/invitations/${seg(inv.id)}/accept`) : call('DELETE', `/auth/invitations/${seg(inv.id)}`)))
      .then(async (ok) => {
        await list.reload()
        if (ok && accept) await onJoin()
      })
  if (list.data === undefined || list.data.length === 0) return null
  return (
    <>
      <h2>Invitations</h2>
      <ErrorBox error={act.error} />
      <ul class="cards-list">
        {list.data.map((inv) => (
          <li key={inv.id}>
            <strong>{inv.orgName || inv.orgId}</strong> invites you as <Badge>{inv.role}</Badge>
            {inv.invitedBy ? <span class="muted"> · from {inv.invitedBy}</span> : null}
            <span class="muted small"> · until {when(inv.expiresAt)}</span>
            <div class="row">
              <button type="button" class="primary small" disabled={act.busy} onClick={() => answer(inv, true)}>
                Accept<span class="sr-only"> the invitation to {inv.orgName}</span>
              </button>
              <button type="button" class="small" disabled={act.busy} onClick={() => answer(inv, false)}>
                Decline<span class="sr-only"> the invitation to {inv.orgName}</span>
              </button>
            </div>
          </li>
        ))}
      </ul>
    </>
  )
}

const tabs = [
  ['repositories', 'Repositories'],
  ['members', 'Members'],
  ['teams', 'Teams'],
]

export function OrgPage({ name, tab }: { name: string; tab: string }) {
  const org = useAsync(() => get<Org>('/organizations/' + seg(name)), [name])
  return (
    <section>
      <p class="crumbs">
        <a href={href(['orgs'])}>Organizations</a>
      </p>
      <Show a={org} label="Loading the organization…">
        {(o) => (
          <>
            <h1>{o.displayName || o.name}</h1>
            <p class="muted">
              {o.name} · created {when(o.createdAt)}
            </p>
            {o.description ? <p>{o.description}</p> : null}
            <nav class="tabs" aria-label="Organization">
              {tabs.map(([id, label]) => (
                <a key={id} href={href(['orgs', o.name, id])} aria-current={tab === id ? 'page' : undefined}>
                  {label}
                </a>
              ))}
            </nav>
            {tab === 'members' ? <Members org={o} /> : tab === 'teams' ? <Teams org={o} /> : <Repos org={o} />}
          </>
        )}
      </Show>
    </section>
  )
}

function Repos({ org }: { org: Org }) {
  const list = useAsync(() => all<Repo>(`/organizations/${seg(org.name)}/repositories`), [org.name])
  const [name, setName] = useState('')
  const [protocol, setProtocol] = useState('npm')
  const [visibility, setVisibility] = useState('private')
  const [description, setDescription] = useState('')
  const act = useAction()
  return (
    <>
      <h2>Repositories</h2>
      <Show a={list}>
        {(rs) =>
          rs.length === 0 ? (
            <Empty>No repository yet. The first publish creates a private one per protocol, or create one here.</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Protocol</th>
                    <th scope="col">Visibility</th>
                  </tr>
                </thead>
                <tbody>
                  {rs.map((r) => (
                    <tr key={r.id}>
                      <td>
                        <a href={href(['repos', r.id])}>{r.name}</a>
                        {r.description ? <div class="muted small">{r.description}</div> : null}
                      </td>
                      <td>{protocolNames[r.protocol] || r.protocol}</td>
                      <td>
                        <Badge kind={r.visibility === 'public' ? 'ok' : ''}>{r.visibility}</Badge>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
      <h3>Create a repository</h3>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault()
          act
            .run(async () => {
              const r = await call<Repo>('POST', `/organizations/${seg(org.name)}/repositories`, {
                name: name.trim(),
                protocol,
                visibility,
                description: description.trim(),
              })
              go(['repos', r.id])
            })
        }}
      >
        <div class="row">
          <div class="field">
            <label for="repo-name">Name</label>
            <input id="repo-name" required value={name} placeholder="libs" onInput={(e) => setName(e.currentTarget.value)} />
          </div>
          <div class="field">
            <label for="repo-protocol">Protocol</label>
            <select id="repo-protocol" value={protocol} onChange={(e) => setProtocol(e.currentTarget.value)}>
              {protocols.map((p) => (
                <option key={p} value={p}>
                  {protocolNames[p]}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="repo-visibility">Visibility</label>
            <select id="repo-visibility" value={visibility} onChange={(e) => setVisibility(e.currentTarget.value)}>
              <option value="private">private</option>
              <option value="public">public</option>
            </select>
          </div>
        </div>
        <div class="field">
          <label for="repo-desc">Description</label>
          <input id="repo-desc" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <ErrorBox error={act.error} />
        <button type="submit" class="primary" disabled={act.busy}>
          {act.busy ? 'Creating…' : 'Create repository'}
        </button>
      </form>
    </>
  )
}

function Members({ org }: { org: Org }) {
  const { me } = useMe()
  const manages =
    me.user.platformAdmin || me.organizations.some((m) => m.orgId === org.id && (m.role === 'owner' || m.role === 'admin'))
  const list = useAsync(() => all<Member>(`/organizations/${seg(org.name)}/members`), [org.name])
  const [user, setUser] = useState('')
  const [role, setRole] = useState('member')
  const act = useAction()
  const base = `/organizations/${seg(org.name)}/members`
  return (
    <>
      <h2>Members</h2>
      <ErrorBox error={act.error} />
      <Show a={list}>
        {(ms) =>
          ms.length === 0 ? (
            <Empty>No member.</Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Role</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {ms.map((m) => (
                    <tr key={m.userId}>
                      <td>{m.username || m.userId}</td>
                      <td>
                        <label class="sr-only" for={'role-' + m.userId}>
                          Role of {m.username || m.userId}
                        </label>
                        <select
                          id={'role-' + m.userId}
                          value={m.role}
                          disabled={act.busy}
                          onChange={(e) => act.run(() => call('PUT', `${base}/${seg(m.userId)}`, { role: e.currentTarget.value })).then(() => list.reload())}
                        >
                          {['owner', 'admin', 'member'].map((r) => (
                            <option key={r} value={r}>
                              {r}
                            </option>
                          ))}
                        </select>
                      </td>
                      <td>
                        <button
                          type="button"
                          class="danger small"
                          disabled={act.busy}
                          onClick={() =>
                            confirm(`Remove ${m.username || m.userId} from ${org.name}?`) &&
                            act.run(() => call('DELETE', `${base}/${seg(m.userId)}`)).then(() => list.reload())
                          }
                        >
                          Remove<span class="sr-only"> {m.username || m.userId}</span>
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
      {manages ? <Invitations org={org} /> : null}
      {me.user.platformAdmin ? (
        <>
          <h3>Add a member directly</h3>
          <p class="muted small">As a platform admin you may add a user without an invitation.</p>
          <form
            class="row"
            onSubmit={(e) => {
              e.preventDefault()
              act.run(() => call('POST', base, { userId: user.trim(), role })).then((ok) => {
                if (ok) setUser('')
                list.reload()
              })
            }}
          >
            <div class="field">
              <label for="member-user">Username</label>
              <input id="member-user" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for="member-role">Role</label>
              <RoleSelect id="member-role" value={role} onChange={setRole} />
            </div>
            <button type="submit" class="primary" disabled={act.busy}>
              Add
            </button>
          </form>
        </>
      ) : null}
    </>
  )
}

function RoleSelect({ id, value, onChange }: { id: string; value: string; onChange: (v: string) => void }) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      <option value="member">member</option>
      <option value="admin">admin</option>
      <option value="owner">owner</option>
    </select>
  )
}

// Invitations: owners and admins invite by username or email; the user
// joins once it accepts (on its Organizations page).
function Invitations({ org }: { org: Org }) {
  const base = `/organizations/${seg(org.name)}/invitations`
  const list = useAsync(() => all<Invitation>(base), [base])
  const [invitee, setInvitee] = useState('')
  const [role, setRole] = useState('member')
  const act = useAction()
  return (
    <>
      <h3>Invite a member</h3>
      <p class="muted small">The user joins once they accept, on their Organizations page.</p>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault()
          const v = invitee.trim()
          act.run(() => call('POST', base, v.includes('@') ? { email: v, role } : { username: v, role })).then((ok) => {
            if (ok) setInvitee('')
            list.reload()
          })
        }}
      >
        <div class="field">
          <label for="invite-user">Username or email</label>
          <input id="invite-user" required value={invitee} onInput={(e) => setInvitee(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="invite-role">Role</label>
          <RoleSelect id="invite-role" value={role} onChange={setRole} />
        </div>
        <button type="submit" class="primary" disabled={act.busy}>
          Invite
        </button>
      </form>
      <ErrorBox error={act.error} />
      <Show a={list}>
        {(invs) =>
          invs.length === 0 ? null : (
            <div class="table-wrap">
              <table aria-label="Pending invitations">
                <thead>
                  <tr>
                    <th scope="col">Invited</th>
                    <th scope="col">Role</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {invs.map((inv) => (
                    <tr key={inv.id}>
                      <td>
                        {inv.invitee}
                        <div class="muted small">until {when(inv.expiresAt)}</div>
                      </td>
                      <td>{inv.role}</td>
                      <td>
                        <button
                          type="button"
                          class="danger small"
                          disabled={act.busy}
                          onClick={() => act.run(() => call('DELETE', `${base}/${seg(inv.id)}`)).then(() => list.reload())}
                        >
                          Revoke<span class="sr-only"> the invitation of {inv.invitee}</span>
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
    </>
  )
}

function Teams({ org }: { org: Org }) {
  const list = useAsync(() => all<Team>(`/organizations/${seg(org.name)}/teams`), [org.name])
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const act = useAction()
  return (
    <>
      <h2>Teams</h2>
      <Show a={list}>
        {(ts) =>
          ts.length === 0 ? (
            <Empty>No team yet. Teams give groups of members access to repositories.</Empty>
          ) : (
            <ul class="cards-list">
              {ts.map((t) => (
                <li key={t.id}>
                  <a href={href(['orgs', org.name, 'teams', t.name])}>{t.name}</a>
                  {t.description ? <span class="muted"> — {t.description}</span> : null}
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <h3>Create a team</h3>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault()
          act.run(() => call('POST', `/organizations/${seg(org.name)}/teams`, { name: name.trim(), description: description.trim() })).then((ok) => {
            if (ok) setName('')
            list.reload()
          })
        }}
      >
        <div class="field">
          <label for="team-name">Name</label>
          <input id="team-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <div class="field grow">
          <label for="team-desc">Description</label>
          <input id="team-desc" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
        <button type="submit" class="primary" disabled={act.busy}>
          Create team
        </button>
      </form>
      <ErrorBox error={act.error} />
    </>
  )
}

export function TeamPage({ org, team }: { org: string; team: string }) {
  const base = `/organizations/${seg(org)}/teams/${seg(team)}`
  const t = useAsync(() => get<Team>(base), [base])
  const members = useAsync(() => all<TeamMember>(base + '/members'), [base])
  const repos = useAsync(() => all<Repo>(base + '/repositories'), [base])
  const orgRepos = useAsync(() => all<Repo>(`/organizations/${seg(org)}/repositories`), [org])
  const [user, setUser] = useState('')
  const [role, setRole] = useState('member')
  const [repo, setRepo] = useState('')
  const act = useAction()
  return (
    <section>
      <p class="crumbs">
        <a href={href(['orgs'])}>Organizations</a> / <a href={href(['orgs', org, 'teams'])}>{org}</a>
      </p>
      <h1>Team {team}</h1>
      <Show a={t}>{(tm) => (tm.description ? <p>{tm.description}</p> : null)}</Show>
      <ErrorBox error={act.error} />
      <h2>Members</h2>
      <Show a={members}>
        {(ms) =>
          ms.length === 0 ? (
            <Empty>No member in this team.</Empty>
          ) : (
            <ul class="cards-list">
              {ms.map((m) => (
                <li key={m.userId}>
                  {m.username || m.userId} <Badge>{m.role}</Badge>{' '}
                  <button
                    type="button"
                    class="danger small"
                    onClick={() => act.run(() => call('DELETE', `${base}/members/${seg(m.userId)}`)).then(() => members.reload())}
                  >
                    Remove<span class="sr-only"> {m.username || m.userId}</span>
                  </button>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault()
          act.run(() => call('POST', base + '/members', { userId: user.trim(), role })).then((ok) => {
            if (ok) setUser('')
            members.reload()
          })
        }}
      >
        <div class="field">
          <label for="tm-user">Username (an organization member)</label>
          <input id="tm-user" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="tm-role">Role</label>
          <select id="tm-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="member">member</option>
            <option value="maintainer">maintainer</option>
          </select>
        </div>
        <button type="submit" class="primary" disabled={act.busy}>
          Add to team
        </button>
      </form>

      <h2>Repositories</h2>
      <Show a={repos}>
        {(rs) =>
          rs.length === 0 ? (
            <Empty>This team has access to no repository.</Empty>
          ) : (
            <ul class="cards-list">
              {rs.map((r) => (
                <li key={r.id}>
                  <a href={href(['repos', r.id])}>{r.name}</a> <Badge>{r.protocol}</Badge>{' '}
                  <button
                    type="button"
                    class="danger small"
                    onClick={() => act.run(() => call('DELETE', `${base}/repositories/${seg(r.id)}`)).then(() => repos.reload())}
                  >
                    Revoke<span class="sr-only"> {r.name}</span>
                  </button>
                </li>
              ))}
            </ul>
          )
        }
      </Show>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault()
          act.run(() => call('POST', base + '/repositories', { repositoryId: repo })).then(() => repos.reload())
        }}
      >
        <div class="field">
          <label for="tm-repo">Repository</label>
          <select id="tm-repo" required value={repo} onChange={(e) => setRepo(e.currentTarget.value)}>
            <option value="">Choose…</option>
            {(orgRepos.data ?? []).map((r) => (
              <option key={r.id} value={r.id}>
                {r.name} ({r.protocol})
              </option>
            ))}
          </select>
        </div>
        <button type="submit" class="primary" disabled={act.busy || !repo}>
          Give access
        </button>
      </form>
    </section>
  )
}

