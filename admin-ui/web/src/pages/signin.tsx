import { useState } from 'preact/hooks'
import { get, login, loginLDAP, type Page, type Provider } from '../api'
import { ErrorBox, useAction, useAsync } from '../ui'

export function SignIn({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const act = useAction()
  const providers = useAsync(() => get<Page<Provider>>('/auth/providers'), [])
  const submit = (e: Event) => {
    e.preventDefault()
    act.run(async () => {
      await login(name.trim(), password)
      setPassword('')
      await onSignedIn()
    })
  }
  const active = providers.data?.items ?? []
  return (
    <main id="main" class="signin">
      <h1>Sign in to Entrepot</h1>
      <form onSubmit={submit} aria-describedby="signin-error">
        <label for="login">Email or username</label>
        <input id="login" name="username" autoComplete="username" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <div id="signin-error">
          <ErrorBox error={act.error} />
        </div>
        <button type="submit" class="primary" disabled={act.busy}>
          {act.busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {active.length > 0 ? (
        <div class="providers">
          <p>Or sign in with</p>
          {active.map((p) =>
            p.kind === 'ldap' && p.loginUrl ? (
              <LDAPSignIn key={p.id} provider={p} onSignedIn={onSignedIn} />
            ) : p.loginUrl && p.loginUrl.startsWith('/') ? (
              <a key={p.id} class="button" href={p.loginUrl}>
                {p.name}
              </a>
            ) : (
              <button key={p.id} type="button" disabled title="This provider offers no browser sign-in yet">
                {p.name} ({p.kind})
              </button>
            ),
          )}
        </div>
      ) : null}
    </main>
  )
}

// LDAPSignIn is a directory's own username and password form: the
// provider's button opens it, and it posts to the provider's loginUrl.
function LDAPSignIn({ provider, onSignedIn }: { provider: Provider; onSignedIn: () => Promise<void> }) {
  const [open, setOpen] = useState(false)
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const act = useAction()
  const base = `ldap-${provider.id}`
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)} aria-expanded="false" aria-controls={base}>
        {provider.name} ({provider.kind})
      </button>
    )
  }
  const submit = (e: Event) => {
    e.preventDefault()
    act.run(async () => {
      await loginLDAP(provider.loginUrl!, name.trim(), password)
      setPassword('')
      await onSignedIn()
    })
  }
  return (
    <form id={base} class="ldap-signin" onSubmit={submit} aria-label={`Sign in with ${provider.name}`} aria-describedby={`${base}-error`}>
      <label for={`${base}-user`}>{provider.name} username</label>
      <input id={`${base}-user`} name="username" autoComplete="username" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for={`${base}-password`}>Password</label>
      <input
        id={`${base}-password`}
        name="password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onInput={(e) => setPassword(e.currentTarget.value)}
      />
      <div id={`${base}-error`}>
        <ErrorBox error={act.error} />
      </div>
      <button type="submit" class="primary" disabled={act.busy}>
        {act.busy ? 'Signing in…' : `Sign in with ${provider.name}`}
      </button>
    </form>
  )
}
