import { useEffect, useState } from 'preact/hooks'
import { get, q, type AuditEntry, type Page } from '../api'
import { when } from '../format'
import { go } from '../router'
import { Empty, ErrorBox, Loading, useAsync } from '../ui'
import { Outcome } from './overview'
import { useMe } from '../me'

const fields = ['actor', 'org', 'action', 'from', 'to'] as const

/** Dates from the form (yyyy-mm-dd) become the API's RFC 3339 bounds. */
function bound(v: string, end: boolean): string | undefined {
  if (!v) return undefined
  return /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T${end ? '23:59:59' : '00:00:00'}Z` : v
}

export function Audit({ query }: { query: URLSearchParams }) {
  const { me } = useMe()
  const f = Object.fromEntries(fields.map((k) => [k, query.get(k) || ''])) as Record<(typeof fields)[number], string>
  const [form, setForm] = useState(f)
  const [cursor, setCursor] = useState('')
  const [rows, setRows] = useState<AuditEntry[]>([])
  const key = fields.map((k) => f[k]).join('|')
  useEffect(() => {
    setForm(f)
    setCursor('')
  }, [key])
  const page = useAsync(
    () => get<Page<AuditEntry>>('/audit' + q({ actor: f.actor, org: f.org, action: f.action, from: bound(f.from, false), to: bound(f.to, true), limit: '100', cursor })),
    [key, cursor],
  )
  useEffect(() => {
    if (page.data) setRows((prev) => (cursor ? [...prev, ...page.data!.items] : page.data!.items))
  }, [page.data])
  const input = (k: (typeof fields)[number], label: string, type: 'text' | 'date' = 'text', placeholder = '') => (
    <div class="field">
      <label for={'audit-' + k}>{label}</label>
      <input id={'audit-' + k} type={type as 'text'} value={form[k]} placeholder={placeholder} onInput={(e) => setForm({ ...form, [k]: e.currentTarget.value })} />
    </div>
  )
  return (
    <section>
      <h1>Audit log</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault()
          go(['audit'], form)
        }}
      >
        {input('actor', 'Actor (user id or name)')}
        {input('org', 'Organization')}
        {input('action', 'Action', 'text', 'token.create')}
        {input('from', 'From', 'date')}
        {input('to', 'To', 'date')}
        <button type="submit" class="primary">
          Filter
        </button>
        <button type="button" onClick={() => go(['audit'])}>
          Clear
        </button>
      </form>
      <ErrorBox error={page.error} onRetry={page.reload} />
      {page.loading && rows.length === 0 ? <Loading label="Reading the audit log…" /> : null}
      {!page.loading && !page.error && rows.length === 0 ? <Empty>No entry matches these filters.</Empty> : null}
      {rows.length > 0 ? (
        <div class="table-wrap">
          <table class="audit">
            <caption class="sr-only">Audit entries, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Actor</th>
                <th scope="col">Outcome</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((e, i) => (
                <tr key={i}>
                  <td class="nowrap">{when(e.time)}</td>
                  <td>
                    <code>{e.action}</code>
                  </td>
                  <td class="wrap">
                    {e.target}
                    {e.detail ? <div class="muted small">{e.detail}</div> : null}
                  </td>
                  <td class="wrap">
                    {e.actorUserId ? (e.actorUserId === me.user.id ? me.user.username : e.actorUserId) : 'anonymous'}
                    {e.actorTokenId ? <div class="muted small">token {e.actorTokenId}</div> : null}
                    {e.clientIp ? <div class="muted small">{e.clientIp}</div> : null}
                  </td>
                  <td>
                    <Outcome o={e.outcome} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {page.data?.nextCursor ? (
        <button type="button" disabled={page.loading} onClick={() => setCursor(page.data!.nextCursor!)}>
          {page.loading ? 'Loading…' : 'Load more'}
        </button>
      ) : null}
    </section>
  )
}
