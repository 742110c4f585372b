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

export const protocols = ['npm', 'pypi', 'oci', 'cargo', 'maven', 'composer', 'rubygems', 'go']

export const protocolNames: Record<string, string> = {
  npm: 'npm',
  pypi: 'PyPI',
  oci: 'OCI',
  cargo: 'Cargo',
  maven: 'Maven',
  composer: 'Composer',
  rubygems: 'RubyGems',
  go: 'Go',
}
