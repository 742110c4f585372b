// Small shared pieces: loading, error and empty states, an async-data
// hook, a copy button. Text is always passed as JSX children, which Preact
// escapes: no user-supplied string ever becomes markup.
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from './api'

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> {label}
    </p>
  )
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null
  const e = error as ApiError
  const msg = e && e.message ? e.message : String(error)
  return (
    <div class="error" role="alert">
      <strong>{e && e.status ? `Error ${e.status}: ` : 'Error: '}</strong>
      {msg}
      {e && e.requestId ? <span class="muted"> (request id {e.requestId})</span> : null}
      {onRetry ? (
        <button type="button" class="link" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  )
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>
}

export interface Async<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  reload: () => void
}

/** useAsync runs fn when deps change and on reload; stale answers are dropped. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true })
  const [tick, setTick] = useState(0)
  const seq = useRef(0)
  useEffect(() => {
    const n = ++seq.current
    setState((s) => ({ data: s.data, loading: true }))
    fn().then(
      (data) => n === seq.current && setState({ data, loading: false }),
      (error) => n === seq.current && setState({ error, loading: false }),
    )
  }, [...deps, tick])
  const reload = useCallback(() => setTick((t) => t + 1), [])
  return { data: state.data, error: state.error, loading: state.loading, reload }
}

/** useAction wraps a form submission: busy flag, error, success message. */
export function useAction() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState('')
  const run = async (fn: () => Promise<unknown>, success = '') => {
    setBusy(true)
    setError(null)
    setDone('')
    try {
      await fn()
      setDone(success)
      return true
    } catch (e) {
      setError(e)
      return false
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, done, run, setError }
}

/** Async renders the three states of an Async. */
export function Show<T>({ a, children, label }: { a: Async<T>; children: (d: T) => ComponentChildren; label?: string }) {
  if (a.error) return <ErrorBox error={a.error} onRetry={a.reload} />
  if (a.data === undefined) return <Loading label={label} />
  return <>{children(a.data)}</>
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text)
    return
  }
  const ta = document.createElement('textarea')
  ta.value = text
  ta.setAttribute('readonly', '')
  ta.style.position = 'fixed'
  ta.style.opacity = '0'
  document.body.appendChild(ta)
  ta.select()
  document.execCommand('copy')
  ta.remove()
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState('')
  return (
    <button
      type="button"
      class="copy"
      onClick={() =>
        copyText(text).then(
          () => setState('Copied'),
          () => setState('Copy failed: select the text'),
        )
      }
    >
      {state || label}
      <span class="sr-only" aria-live="polite">
        {state}
      </span>
    </button>
  )
}

export function Snippet({ code, label }: { code: string; label: string }) {
  return (
    <div class="snippet">
      <div class="snippet-head">
        <span>{label}</span>
        <CopyButton text={code} />
      </div>
      <pre tabIndex={0} aria-label={label}>
        <code>{code}</code>
      </pre>
    </div>
  )
}

export function Badge({ children, kind = '' }: { children: ComponentChildren; kind?: string }) {
  return <span class={`badge ${kind}`}>{children}</span>
}
