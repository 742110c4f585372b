import { useState } from 'preact/hooks'
import { call, get, type CreatedToken, type Page, type Token } from '../api'
import { protocolNames, protocols, when } from '../format'
import { useMe } from '../me'
import { href } from '../router'
import { Sessions } from './sessions'
import { CopyButton, Empty, ErrorBox, Show, useAction, useAsync } from '../ui'

const actions = ['read', 'write', 'delete']
const expiries: [string, number][] = [
  ['7 days', 7],
  ['30 days', 30],
  ['90 days', 90],
  ['1 year', 365],
  ['Never', 0],
]

function scope(list: string[] | undefined, all: string): string {
  return list && list.length ? list.join(', ') : all
}

/** NewToken shows a created secret this once; dismissing it forgets it. */
function NewToken({ t, onDone }: { t: CreatedToken; onDone: () => void }) {
  return (
    <div class="secret" role="status">
      <h2>Token “{t.name}” created</h2>
      <p>
        Copy it now: <strong>it is shown this once</strong>. Entrepot keeps only its hash.
      </p>
      <label for="new-token">Token</label>
      <div class="secret-row">
        <input id="new-token" readOnly value={t.token} onFocus={(e) => e.currentTarget.select()} spellcheck={false} autoComplete="off" />
        <CopyButton text={t.token} />
      </div>
      <p class="small">
        Use it as the password or bearer token of your client: <a href={href(['connect'])}>connect a client</a>.
      </p>
      <button type="button" onClick={onDone}>
        I have copied it
      </button>
    </div>
  )
}

export function Tokens() {
  const { me } = useMe()
  const list = useAsync(() => get<Page<Token>>('/tokens?limit=1000'), [])
  const [name, setName] = useState('')
  const [protos, setProtos] = useState<string[]>([])
  const [acts, setActs] = useState<string[]>(['read'])
  const [orgs, setOrgs] = useState<string[]>([])
  const [days, setDays] = useState(90)
  // The secret lives in this state only until dismissed or the page changes.
  const [created, setCreated] = useState<CreatedToken | null>(null)
  const create = useAction()
  const revoke = useAction()
  const orgName = (id: string) => me.organizations.find((o) => o.orgId === id)?.orgName || id
  const toggle = (set: (v: string[]) => void, cur: string[], v: string, on: boolean) => set(on ? [...cur, v] : cur.filter((x) => x !== v))

  const submit = (e: Event) => {
    e.preventDefault()
    create.run(async () => {
      const body: Record<string, unknown> = { name: name.trim(), protocols: protos, actions: acts, organizations: orgs }
      if (days > 0) body.expiresAt = new Date(Date.now() + days * 86400 * 1000).toISOString()
      const t = await call<CreatedToken>('POST', '/tokens', body)
      setCreated(t)
      setName('')
      list.reload()
    })
  }

  return (
    <section>
      <h1>API tokens</h1>
      <p>Tokens let package managers and scripts act as you, limited to the protocols, actions and organizations you choose.</p>
      {created ? <NewToken t={created} onDone={() => setCreated(null)} /> : null}

      <h2>Your tokens</h2>
      <ErrorBox error={revoke.error} />
      <Show a={list} label="Loading tokens…">
        {(pg) =>
          pg.items.length === 0 ? (
            <Empty>You have no API token yet.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="tokens">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Scopes</th>
                    <th scope="col">Expires</th>
                    <th scope="col">Last used</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {pg.items.map((t) => (
                    <tr key={t.id}>
                      <td>
                        <strong>{t.name}</strong>
                        <div class="muted small">created {when(t.createdAt)}</div>
                      </td>
                      <td class="wrap small">
                        <div>protocols: {scope(t.protocols, 'all')}</div>
                        <div>actions: {scope(t.actions, 'read, write, delete')}</div>
                        <div>organizations: {scope(t.organizations?.map(orgName), 'all of yours')}</div>
                      </td>
                      <td>{t.expiresAt && !t.expiresAt.startsWith('0001') ? when(t.expiresAt) : 'never'}</td>
                      <td>{when(t.lastUsedAt)}</td>
                      <td>
                        <button
                          type="button"
                          class="danger small"
                          disabled={revoke.busy}
                          onClick={() => {
                            if (!confirm(`Revoke the token “${t.name}”? Clients using it are refused at once.`)) return
                            revoke.run(() => call('DELETE', '/tokens/' + encodeURIComponent(t.id))).then(() => list.reload())
                          }}
                        >
                          Revoke<span class="sr-only"> token {t.name}</span>
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

      <h2>Create a token</h2>
      <form onSubmit={submit} class="stack">
        <div class="field">
          <label for="token-name">Name</label>
          <input id="token-name" required maxLength={100} value={name} placeholder="ci-publish" onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <fieldset>
          <legend>Protocols (none checked: all)</legend>
          <div class="checks">
            {protocols.map((p) => (
              <label key={p} class="inline">
                <input type="checkbox" name="protocol" value={p} checked={protos.includes(p)} onChange={(e) => toggle(setProtos, protos, p, e.currentTarget.checked)} />{' '}
                {protocolNames[p]}
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Actions</legend>
          <div class="checks">
            {actions.map((a) => (
              <label key={a} class="inline">
                <input type="checkbox" name="action" value={a} checked={acts.includes(a)} onChange={(e) => toggle(setActs, acts, a, e.currentTarget.checked)} /> {a}
              </label>
            ))}
          </div>
        </fieldset>
        <fieldset>
          <legend>Organizations (none checked: all of yours)</legend>
          {me.organizations.length === 0 ? (
            <p class="muted small">You belong to no organization yet.</p>
          ) : (
            <div class="checks">
              {me.organizations.map((o) => {
                const n = o.orgName || o.orgId
                return (
                  <label key={o.orgId} class="inline">
                    <input type="checkbox" name="org" value={n} checked={orgs.includes(n)} onChange={(e) => toggle(setOrgs, orgs, n, e.currentTarget.checked)} /> {n}
                  </label>
                )
              })}
            </div>
          )}
        </fieldset>
        <div class="field">
          <label for="token-expiry">Expires after</label>
          <select id="token-expiry" value={String(days)} onChange={(e) => setDays(Number(e.currentTarget.value))}>
            {expiries.map(([l, d]) => (
              <option key={d} value={String(d)}>
                {l}
              </option>
            ))}
          </select>
        </div>
        <ErrorBox error={create.error} />
        <button type="submit" class="primary" disabled={create.busy || acts.length === 0}>
          {create.busy ? 'Creating…' : 'Create token'}
        </button>
      </form>

      <Sessions />
    </section>
  )
}
