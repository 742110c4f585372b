import { useEffect, useMemo, useState } from 'preact/hooks'
import { call, get, q, seg, type Org, type Package, type Page, type Version } from '../api'
import { bytes, protocolNames, protocols, when } from '../format'
import { renderMarkdown } from '../markdown'
import { go, href } from '../router'
import { Badge, Empty, ErrorBox, Loading, Show, Snippet, useAction, useAsync } from '../ui'
import { useMe } from '../me'
import { publicUrl } from '../publicurl'
import { installSnippet } from '../snippets'

export function PackageList({ query }: { query: URLSearchParams }) {
  const qs = query.get('q') || ''
  const protocol = query.get('protocol') || ''
  const org = query.get('org') || ''
  const [text, setText] = useState(qs)
  const [cursor, setCursor] = useState('')
  const [items, setItems] = useState<Package[]>([])
  useEffect(() => setText(qs), [qs])
  const page = useAsync(
    () => get<Page<Package>>('/packages' + q({ q: qs, protocol, org, limit: '50', cursor })),
    [qs, protocol, org, cursor],
  )
  useEffect(() => {
    if (!page.data) return
    setItems((prev) => (cursor ? [...prev, ...page.data!.items] : page.data!.items))
  }, [page.data])
  useEffect(() => setCursor(''), [qs, protocol, org])
  const submit = (e: Event) => {
    e.preventDefault()
    go(['packages'], { q: text.trim(), protocol, org })
  }
  return (
    <section>
      <h1>Packages</h1>
      <form class="filters" role="search" onSubmit={submit}>
        <div class="field grow">
          <label for="pkg-q">Name starts with</label>
          <input id="pkg-q" type="search" value={text} placeholder="@acme/ or requests" onInput={(e) => setText(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="pkg-protocol">Protocol</label>
          <select id="pkg-protocol" value={protocol} onChange={(e) => go(['packages'], { q: text.trim(), protocol: e.currentTarget.value, org })}>
            <option value="">All</option>
            {protocols.map((p) => (
              <option key={p} value={p}>
                {protocolNames[p]}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="pkg-org">Organization</label>
          <input id="pkg-org" value={org} placeholder="any" onChange={(e) => go(['packages'], { q: text.trim(), protocol, org: e.currentTarget.value.trim() })} />
        </div>
        <button type="submit" class="primary">
          Search
        </button>
      </form>
      <ErrorBox error={page.error} onRetry={page.reload} />
      {page.loading && items.length === 0 ? <Loading label="Searching…" /> : null}
      {!page.loading && !page.error && items.length === 0 ? (
        <Empty>
          {qs || protocol || org
            ? 'No hosted package matches. Names match from their start (for npm scopes include the @).'
            : 'No hosted package yet, or none you may read. Mirrored packages appear here once published to an organization.'}
        </Empty>
      ) : null}
      {items.length > 0 ? (
        <ul class="packages">
          {items.map((p) => (
            <li key={p.id}>
              <a href={href(['packages', p.id])} class="pkg-name">
                {p.displayName || p.name}
              </a>{' '}
              <Badge>{protocolNames[p.protocol] || p.protocol}</Badge>
              {p.description ? <p class="muted">{p.description}</p> : null}
              <p class="muted small">updated {when(p.updatedAt)}</p>
            </li>
          ))}
        </ul>
      ) : null}
      {page.data?.nextCursor ? (
        <button type="button" disabled={page.loading} onClick={() => setCursor(page.data!.nextCursor!)}>
          {page.loading ? 'Loading…' : 'More'}
        </button>
      ) : null}
    </section>
  )
}

interface NpmMeta {
  distTags?: Record<string, string>
  fields?: { readme?: string; description?: string }
}
interface PypiMeta {
  description?: string
  descriptionContentType?: string
  summary?: string
}

/** readmeOf finds a README in the protocol data the API returned, if any. */
export function readmeOf(p: Package, versions: Version[]): { text: string; markdown: boolean } | null {
  if (p.protocol === 'npm') {
    const r = (p.meta as NpmMeta | undefined)?.fields?.readme
    if (typeof r === 'string' && r.trim() && r !== 'ERROR: No README data found!') return { text: r, markdown: true }
  }
  if (p.protocol === 'pypi') {
    for (let i = versions.length - 1; i >= 0; i--) {
      const m = versions[i].meta as PypiMeta | undefined
      if (m && typeof m.description === 'string' && m.description.trim()) {
        const ct = (m.descriptionContentType || '').toLowerCase()
        return { text: m.description, markdown: ct.startsWith('text/markdown') }
      }
    }
  }
  return null
}

function Readme({ text, markdown }: { text: string; markdown: boolean }) {
  const html = useMemo(() => (markdown ? renderMarkdown(text) : ''), [text, markdown])
  if (!markdown) return <pre class="readme-plain">{text}</pre>
  // The one place that inserts HTML: sanitized by renderMarkdown.
  return <div class="readme" dangerouslySetInnerHTML={{ __html: html }} />
}

export function PackagePage({ id }: { id: string }) {
  const { me } = useMe()
  const [showDeleted, setShowDeleted] = useState(false)
  const pkg = useAsync(() => get<Package>('/packages/' + seg(id)), [id])
  const versions = useAsync(
    () => get<Page<Version>>(`/packages/${seg(id)}/versions?limit=1000${showDeleted ? '&deleted=true' : ''}`),
    [id, showDeleted],
  )
  const org = useAsync(async () => (pkg.data ? get<Org>('/organizations/' + seg(pkg.data.orgId)).catch(() => null) : null), [pkg.data?.orgId])
  const base = useAsync(publicUrl, [])
  const act = useAction()
  if (pkg.error) {
    return (
      <section>
        <h1>{id}</h1>
        <ErrorBox error={pkg.error} onRetry={pkg.reload} />
        <a href={href(['packages'])}>All packages</a>
      </section>
    )
  }
  if (!pkg.data) return <Loading label="Loading the package…" />
  const p = pkg.data
  const vs = versions.data?.items ?? []
  const tags = p.protocol === 'npm' ? (p.meta as NpmMeta | undefined)?.distTags ?? {} : {}
  const tagsOf = (v: string) => Object.entries(tags).filter(([, tv]) => tv === v).map(([t]) => t)
  // Newest first, by publication (the API's order is the store's).
  const sorted = [...vs].sort((a, b) => (a.publishedAt < b.publishedAt ? 1 : a.publishedAt > b.publishedAt ? -1 : 0))
  const live = sorted.filter((v) => !v.deleted && !v.yanked)
  const latest = tags.latest || (live.length ? live[0].version : sorted.length ? sorted[0].version : '')
  const readme = versions.data ? readmeOf(p, vs) : null
  const orgName = org.data?.name || p.orgId
  const nameOf = (uid?: string) => (uid && uid === me.user.id ? me.user.username : uid || '—')
  return (
    <section>
      <p class="crumbs">
        <a href={href(['packages'])}>Packages</a> / <a href={href(['packages'], { protocol: p.protocol })}>{protocolNames[p.protocol] || p.protocol}</a>
      </p>
      <h1>
        {p.displayName || p.name} <Badge>{protocolNames[p.protocol] || p.protocol}</Badge>
      </h1>
      {p.description ? <p>{p.description}</p> : null}
      <p class="muted">
        In <a href={href(['orgs', orgName])}>{orgName}</a>
        {p.repoId ? (
          <>
            {' '}· <a href={href(['repos', p.repoId])}>repository</a>
          </>
        ) : null}{' '}
        · created {when(p.createdAt)} · updated {when(p.updatedAt)}
      </p>

      <h2>Install</h2>
      {base.data && latest ? <Snippet label={`Install with ${clientOf(p.protocol)}`} code={installSnippet(p.protocol, p.name, latest, base.data)} /> : <Loading />}
      <p class="small">
        <a href={href(['connect'])}>Configure your client for this server</a>
      </p>

      {Object.keys(tags).length > 0 ? (
        <>
          <h2>Dist-tags</h2>
          <ul class="tags">
            {Object.entries(tags).map(([t, v]) => (
              <li key={t}>
                <Badge>{t}</Badge> {v}
              </li>
            ))}
          </ul>
        </>
      ) : null}

      <h2>Versions</h2>
      <label class="inline">
        <input type="checkbox" checked={showDeleted} onChange={(e) => setShowDeleted(e.currentTarget.checked)} /> Show deleted versions
      </label>
      <ErrorBox error={act.error} />
      <Show a={versions} label="Loading versions…">
        {() =>
          vs.length === 0 ? (
            <Empty>No version is published.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="versions">
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Published</th>
                    <th scope="col">Files</th>
                    <th scope="col">
                      <span class="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {sorted.map((v) => (
                    <tr key={v.version} class={v.deleted ? 'deleted' : ''}>
                      <td>
                        <strong>{v.version}</strong>{' '}
                        {tagsOf(v.version).map((t) => (
                          <Badge key={t}>{t}</Badge>
                        ))}
                        {v.yanked ? (
                          <Badge kind="bad">
                            yanked{v.yankReason ? ': ' : ''}
                            {v.yankReason}
                          </Badge>
                        ) : null}
                        {v.deleted ? <Badge kind="bad">deleted</Badge> : null}
                      </td>
                      <td>
                        {when(v.publishedAt)}
                        <div class="muted small">by {nameOf(v.publishedBy)}</div>
                      </td>
                      <td>
                        <ul class="files">
                          {v.files.map((f) => (
                            <li key={f.name}>
                              <span class="file">{f.name}</span> <span class="muted">{bytes(f.size)}</span>
                            </li>
                          ))}
                        </ul>
                      </td>
                      <td>
                        {!v.deleted ? (
                          <button
                            type="button"
                            class="danger small"
                            disabled={act.busy}
                            onClick={() => {
                              if (!confirm(`Delete ${p.name} ${v.version}? It can never be published again.`)) return
                              act.run(() => call('DELETE', `/packages/${seg(p.id)}/versions/${seg(v.version)}`)).then((ok) => ok && versions.reload())
                            }}
                          >
                            Delete<span class="sr-only"> version {v.version}</span>
                          </button>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>

      <h2>README</h2>
      {versions.data === undefined ? (
        <Loading />
      ) : readme ? (
        <Readme text={readme.text} markdown={readme.markdown} />
      ) : (
        <Empty>No README is stored for this package.</Empty>
      )}
    </section>
  )
}

function clientOf(protocol: string): string {
  return (
    { npm: 'npm', pypi: 'pip', oci: 'docker or podman', cargo: 'cargo', maven: 'Maven', composer: 'Composer', rubygems: 'gem', go: 'go' }[protocol] ||
    protocol
  )
}
