import { get, type Stats } from './api'

let cached: Promise<string> | null = null

/**
 * publicUrl is the server's external base URL (PUBLIC_URL, or what the
 * server derives from this request), without a trailing slash, as
 * GET /api/v1/stats reports it; the page's own origin if that fails.
 */
export function publicUrl(): Promise<string> {
  if (!cached) {
    cached = get<Stats>('/stats').then(
      (s) => (s.publicUrl || location.origin).replace(/\/+$/, ''),
      () => {
        cached = null
        return location.origin
      },
    )
  }
  return cached
}
