import { all, get, q, text, type AuditEntry, type Stats } from '../api'
import { bytes, num, protocolNames, when } from '../format'
import { useMe } from '../me'
import { ErrorBox, Empty, Loading, Show, useAsync } from '../ui'
import { href } from '../router'

/** sample is one line of the Prometheus text format. */
interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** parseMetrics reads the Prometheus text exposition format (no timestamps needed). */
export function parseMetrics(body: string): Sample[] {
  const out: Sample[] = []
  for (const line of body.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
      let l: RegExpExecArray | null
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
    }
    out.push({ name: m[1], labels, value: Number(m[4]) })
  }
  return out
}

export interface Traffic {
  hits: number
  misses: number
  stale: number
  bytesServed: number
  requests: number
}

export function traffic(samples: Sample[]): Traffic {
  const t: Traffic = { hits: 0, misses: 0, stale: 0, bytesServed: 0, requests: 0 }
  for (const s of samples) {
    if (s.name === 'entrepot_cache_requests_total') {
      if (s.labels.result === 'hit') t.hits += s.value
      else if (s.labels.result === 'miss') t.misses += s.value
      else if (s.labels.result === 'stale') t.stale += s.value
    } else if (s.name === 'entrepot_http_response_bytes_total' && s.labels.protocol !== 'ui') {
      t.bytesServed += s.value
    } else if (s.name === 'entrepot_http_requests_total' && s.labels.protocol !== 'ui') {
      t.requests += s.value
    }
  }
  return t
}

interface Health {
  status: string
  version: string
  components: Record<string, { status: string; backend?: string; error?: string }>
  upstreams: Record<string, { status: string; error?: string; checked?: string }>
}

function Card({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="card">
      <div class="card-value">{value}</div>
      <div class="card-label">{label}</div>
      {hint ? <div class="muted small">{hint}</div> : null}
    </div>
  )
}

export function Overview() {
  const { me } = useMe()
  const stats = useAsync(() => get<Stats>('/stats'), [])
  const metrics = useAsync(async () => traffic(parseMetrics(await text('/metrics'))), [])
  const health = useAsync(async () => JSON.parse(await text('/health')) as Health, [])
  const since = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString()
  const activity = useAsync(
    async () => (await all<AuditEntry>('/audit' + q({ from: since }), 5000)).slice(-10).reverse(),
    [],
  )
  const m = metrics.data
  const lookups = m ? m.hits + m.misses + m.stale : 0
  return (
    <section>
      <h1>Overview</h1>
      <Show a={stats} label="Counting packages…">
        {(s) => (
          <>
            <div class="cards">
              <Card label="packages" value={num(s.packages)} />
              <Card label="versions" value={num(s.versions)} />
              <Card label="hosted storage" value={bytes(s.bytes)} hint={`${num(s.files)} files`} />
              <Card
                label="cache hit ratio"
                value={m ? (lookups ? `${Math.round(((m.hits + m.stale) / lookups) * 100)} %` : '—') : '…'}
                hint={m ? `${num(m.hits)} hits, ${num(m.misses)} misses since start` : undefined}
              />
              <Card label="bytes served" value={m ? bytes(m.bytesServed) : '…'} hint={m ? `${num(m.requests)} requests since start` : undefined} />
            </div>
            {s.partial ? <p class="muted">Counted the first packages only; the catalog is larger.</p> : null}
            <h2>Packages per protocol</h2>
            {s.protocols.length === 0 ? (
              <Empty>
                No hosted packages yet. <a href={href(['connect'])}>Connect a client</a> and publish one.
              </Empty>
            ) : (
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Protocol</th>
                      <th scope="col" class="num">Packages</th>
                      <th scope="col" class="num">Versions</th>
                      <th scope="col" class="num">Storage</th>
                    </tr>
                  </thead>
                  <tbody>
                    {s.protocols.map((p) => (
                      <tr key={p.protocol}>
                        <td>
                          <a href={href(['packages'], { protocol: p.protocol })}>{protocolNames[p.protocol] || p.protocol}</a>
                        </td>
                        <td class="num">{num(p.packages)}</td>
                        <td class="num">{num(p.versions)}</td>
                        <td class="num">{bytes(p.bytes)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </>
        )}
      </Show>
      {metrics.error ? <ErrorBox error={metrics.error} /> : null}

      <h2>Health</h2>
      <Show a={health} label="Checking health…">
        {(h) => (
          <>
            <p>
              Server <Status s={h.status} /> <span class="muted">version {h.version}</span>
            </p>
            <ul class="health">
              {Object.entries(h.components).map(([k, v]) => (
                <li key={k}>
                  <Status s={v.status} /> {k} <span class="muted">{v.backend}</span> {v.error ? <span class="muted">— {v.error}</span> : null}
                </li>
              ))}
            </ul>
            <h3>Upstreams</h3>
            {Object.keys(h.upstreams).length === 0 ? (
              <Empty>No upstream is configured: only hosted packages are served.</Empty>
            ) : (
              <ul class="health">
                {Object.entries(h.upstreams).map(([k, v]) => (
                  <li key={k}>
                    <Status s={v.status} /> {k} {v.checked ? <span class="muted">checked {when(v.checked)}</span> : null}
                    {v.error ? <span class="muted"> — {v.error}</span> : null}
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </Show>

      <h2>Recent activity</h2>
      {activity.error ? (
        (activity.error as { status?: number }).status === 403 ? (
          <Empty>The audit log is for platform administrators and organization owners.</Empty>
        ) : (
          <ErrorBox error={activity.error} onRetry={activity.reload} />
        )
      ) : activity.data === undefined ? (
        <Loading />
      ) : activity.data.length === 0 ? (
        <Empty>Nothing happened in the last seven days.</Empty>
      ) : (
        <ul class="activity">
          {activity.data.map((e, i) => (
            <li key={i}>
              <span class="muted">{when(e.time)}</span> <code>{e.action}</code> {e.target} <Outcome o={e.outcome} />
            </li>
          ))}
        </ul>
      )}
      {me.user.platformAdmin || me.organizations.some((o) => o.role !== 'member') ? (
        <p>
          <a href={href(['audit'])}>The whole audit log</a>
        </p>
      ) : null}
    </section>
  )
}

function Status({ s }: { s: string }) {
  return <span class={`badge ${s === 'ok' ? 'ok' : 'bad'}`}>{s}</span>
}

export function Outcome({ o }: { o: string }) {
  return <span class={`badge ${o === 'success' ? 'ok' : 'bad'}`}>{o}</span>
}
