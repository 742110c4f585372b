// Routing in the URL's fragment (#/packages/npm%3A...): the server serves
// one page at / and never has to guess which paths belong to the
// dashboard and which to a protocol mount (/npm/, /v2/, /pypi/...).
import { useEffect, useState } from 'preact/hooks'

export interface Route {
  parts: string[] // decoded path segments
  query: URLSearchParams
}

export function parse(hash: string): Route {
  const h = hash.replace(/^#/, '')
  const [path, qs = ''] = h.split('?', 2)
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p)
      } catch {
        return p
      }
    })
  return { parts, query: new URLSearchParams(qs) }
}

/** href builds a fragment link from raw segments and an optional query. */
export function href(segments: string[], query?: Record<string, string | undefined>): string {
  let h = '#/' + segments.map(encodeURIComponent).join('/')
  if (query) {
    const u = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v) u.set(k, v)
    const s = u.toString()
    if (s) h += '?' + s
  }
  return h
}

export function go(segments: string[], query?: Record<string, string | undefined>) {
  location.hash = href(segments, query)
}

export function useRoute(): Route {
  const [r, setR] = useState(() => parse(location.hash))
  useEffect(() => {
    const on = () => setR(parse(location.hash))
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return r
}
