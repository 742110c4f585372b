export function bytes(n: number | undefined): string {
  if (n === undefined || n === null || isNaN(n)) return '—'
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`
}

export function when(iso: string | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (isNaN(d.getTime()) || d.getFullYear() < 1971) return '—'
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

export function num(n: number | undefined): string {
  return n === undefined || n === null ? '—' : n.toLocaleString()
}

/** Protocol is one row of the server's protocol table (GET /api/v1/protocols). */
export interface Protocol {
  name: string
  title: string
  prefix: string
  served: boolean
}

// The protocol names, titles and mount points, in the server's order: filled by
// setProtocols from GET /api/v1/protocols (cmd/entrepot's protocol
// table) before the first page renders, so that no list is typed here.
export const protocols: string[] = []
export const protocolNames: Record<string, string> = {}
export const protocolPrefixes: Record<string, string> = {}

export function setProtocols(table: Protocol[]) {
  protocols.splice(0, protocols.length, ...table.map((p) => p.name))
  for (const p of table) {
    protocolNames[p.name] = p.title
    protocolPrefixes[p.name] = p.prefix
  }
}
