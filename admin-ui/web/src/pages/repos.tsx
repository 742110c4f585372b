import { useEffect, useState } from 'preact/hooks'
import { all, call, get, seg, type Org, type Permission, type Repo, type Team } from '../api'
import { protocolNames, when } from '../format'
import { go, href } from '../router'
import { Badge, Empty, ErrorBox, Show, useAction, useAsync } from '../ui'

const roles = ['reader', 'developer', 'maintainer', 'admin']

export function RepoPage({ id }: { id: string }) {
  const repo = useAsync(() => get<Repo>('/repositories/' + seg(id)), [id])
  const org = useAsync(async () => (repo.data ? get<Org>('/organizations/' + seg(repo.data.orgId)) : null), [repo.data?.orgId])
  const perms = useAsync(() => all<Permission>(`/repositories/${seg(id)}/permissions`), [id])
  // Teams with access: the teams of the organization whose repositories include this one.
  const teams = useAsync(async () => {
    if (!org.data) return null
    const ts = await all<Team>(`/organizations/${seg(org.data.name)}/teams`)
    const out: { team: Team; granted: boolean }[] = []
    for (const t of ts) {
      const rs = await all<Repo>(`/organizations/${seg(org.data.name)}/teams/${seg(t.name)}/repositories`)
      out.push({ team: t, granted: rs.some((r) => r.id === id) })
    }
    return out
  }, [org.data?.name, id])
  const [desc, setDesc] = useState('')
  const [vis, setVis] = useState('')
  const [user, setUser] = useState('')
  const [role, setRole] = useState('reader')
  const [team, setTeam] = useState('')
  const act = useAction()
  useEffect(() => {
    setDesc(repo.data?.description || '')
    setVis(repo.data?.visibility || '')
  }, [repo.data])

  return (
    <section>
      <Show a={repo} label="Loading the repository…">
        {(r) => {
          const orgName = org.data?.name || r.orgId
          const teamBase = (t: string) => `/organizations/${seg(orgName)}/teams/${seg(t)}/repositories`
          return (
            <>
              <p class="crumbs">
                <a href={href(['orgs'])}>Organizations</a> / <a href={href(['orgs', orgName])}>{orgName}</a>
              </p>
              <h1>
                {r.name} <Badge>{protocolNames[r.protocol] || r.protocol}</Badge> <Badge kind={r.visibility === 'public' ? 'ok' : ''}>{r.visibility}</Badge>
              </h1>
              <p class="muted">created {when(r.createdAt)}</p>
              <p>
                <a href={href(['packages'], { protocol: r.protocol, org: orgName })}>Packages of {orgName} for {protocolNames[r.protocol] || r.protocol}</a>
              </p>
              <ErrorBox error={act.error} />
              {act.done ? (
                <p role="status" class="ok-text">
                  {act.done}
                </p>
              ) : null}

              <h2>Settings</h2>
              <form
                class="stack"
                onSubmit={(e) => {
                  e.preventDefault()
                  act.run(() => call('PUT', '/repositories/' + seg(id), { description: desc }), 'Saved.').then(() => repo.reload())
                }}
              >
                <fieldset>
                  <legend>Visibility</legend>
                  {['private', 'public'].map((v) => (
                    <label key={v} class="inline">
                      <input
                        type="radio"
                        name="visibility"
                        value={v}
                        checked={vis === v}
                        disabled={act.busy}
                        onChange={() => {
                          setVis(v)
                          act.run(() => call('PUT', '/repositories/' + seg(id), { visibility: v }), `Now ${v}.`).then(() => repo.reload())
                        }}
                      />{' '}
                      {v === 'private' ? 'Private: members with access only' : 'Public: anyone may read'}
                    </label>
                  ))}
                </fieldset>
                <div class="field">
                  <label for="repo-description">Description</label>
                  <input id="repo-description" value={desc} onInput={(e) => setDesc(e.currentTarget.value)} />
                </div>
                <button type="submit" class="primary" disabled={act.busy}>
                  Save
                </button>
              </form>

              <h2>User permissions</h2>
              <Show a={perms}>
                {(ps) =>
                  ps.length === 0 ? (
                    <Empty>No direct user permission. Organization owners and admins manage every repository.</Empty>
                  ) : (
                    <ul class="cards-list">
                      {ps.map((p) => (
                        <li key={p.userId}>
                          {p.username || p.userId} <Badge>{p.role}</Badge>{' '}
                          <button
                            type="button"
                            class="danger small"
                            onClick={() => act.run(() => call('DELETE', `/repositories/${seg(id)}/permissions/${seg(p.userId)}`)).then(() => perms.reload())}
                          >
                            Remove<span class="sr-only"> {p.username || p.userId}</span>
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
                  act.run(() => call('POST', `/repositories/${seg(id)}/permissions`, { userId: user.trim(), role })).then((ok) => {
                    if (ok) setUser('')
                    perms.reload()
                  })
                }}
              >
                <div class="field">
                  <label for="perm-user">Username</label>
                  <input id="perm-user" required value={user} onInput={(e) => setUser(e.currentTarget.value)} />
                </div>
                <div class="field">
                  <label for="perm-role">Role</label>
                  <select id="perm-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
                    {roles.map((x) => (
                      <option key={x} value={x}>
                        {x}
                      </option>
                    ))}
                  </select>
                </div>
                <button type="submit" class="primary" disabled={act.busy}>
                  Give permission
                </button>
              </form>

              <h2>Team access</h2>
              <Show a={teams}>
                {(ts) =>
                  !ts || ts.length === 0 ? (
                    <Empty>
                      The organization has no team. <a href={href(['orgs', orgName, 'teams'])}>Create one</a>.
                    </Empty>
                  ) : (
                    <>
                      <ul class="cards-list">
                        {ts
                          .filter((t) => t.granted)
                          .map(({ team: t }) => (
                            <li key={t.id}>
                              <a href={href(['orgs', orgName, 'teams', t.name])}>{t.name}</a>{' '}
                              <button
                                type="button"
                                class="danger small"
                                onClick={() => act.run(() => call('DELETE', `${teamBase(t.name)}/${seg(id)}`)).then(() => teams.reload())}
                              >
                                Revoke<span class="sr-only"> team {t.name}</span>
                              </button>
                            </li>
                          ))}
                      </ul>
                      {ts.every((t) => !t.granted) ? <Empty>No team has access.</Empty> : null}
                      <form
                        class="row"
                        onSubmit={(e) => {
                          e.preventDefault()
                          act.run(() => call('POST', teamBase(team), { repositoryId: id })).then(() => teams.reload())
                        }}
                      >
                        <div class="field">
                          <label for="grant-team">Team</label>
                          <select id="grant-team" value={team} onChange={(e) => setTeam(e.currentTarget.value)}>
                            <option value="">Choose…</option>
                            {ts
                              .filter((t) => !t.granted)
                              .map(({ team: t }) => (
                                <option key={t.id} value={t.name}>
                                  {t.name}
                                </option>
                              ))}
                          </select>
                        </div>
                        <button type="submit" class="primary" disabled={act.busy || !team}>
                          Give access
                        </button>
                      </form>
                    </>
                  )
                }
              </Show>

              <h2>Delete</h2>
              <button
                type="button"
                class="danger"
                disabled={act.busy}
                onClick={() => {
                  if (!confirm(`Delete the repository ${r.name}? This is refused while it holds packages.`)) return
                  act.run(() => call('DELETE', '/repositories/' + seg(id))).then((ok) => ok && go(['orgs', orgName]))
                }}
              >
                Delete repository
              </button>
            </>
          )
        }}
      </Show>
    </section>
  )
}
