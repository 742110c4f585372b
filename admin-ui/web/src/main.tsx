import { render } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import './style.css'
import { all, get, logout, mayHaveSession, refresh, setSignedOutHandler, type Me } from './api'
import { setProtocols, type Protocol } from './format'
import { href, useRoute } from './router'
import { Loading } from './ui'
import { MeContext } from './me'
import { SignIn } from './pages/signin'
import { Overview } from './pages/overview'
import { PackageList, PackagePage } from './pages/packages'
import { OrgList, OrgPage, TeamPage } from './pages/orgs'
import { RepoPage } from './pages/repos'
import { Tokens } from './pages/tokens'
import { Audit } from './pages/audit'
import { SettingsPage } from './pages/settings'
import { Connect } from './pages/connect'

const nav: { path: string; label: string; admin?: boolean }[] = [
  { path: '', label: 'Overview' },
  { path: 'packages', label: 'Packages' },
  { path: 'orgs', label: 'Organizations' },
  { path: 'tokens', label: 'Tokens' },
  { path: 'audit', label: 'Audit log' },
  { path: 'settings', label: 'Settings', admin: true },
  { path: 'connect', label: 'Connect a client' },
]

function Page({ me }: { me: Me }) {
  const r = useRoute()
  const [a, b, c, d] = r.parts
  switch (a) {
    case undefined:
      return <Overview />
    case 'packages':
      return b ? <PackagePage id={b} /> : <PackageList query={r.query} />
    case 'orgs':
      if (b && c === 'teams' && d) return <TeamPage org={b} team={d} />
      return b ? <OrgPage name={b} tab={c || 'repositories'} /> : <OrgList />
    case 'repos':
      return <RepoPage id={b} />
    case 'tokens':
      return <Tokens />
    case 'audit':
      return <Audit query={r.query} />
    case 'settings':
      return <SettingsPage />
    case 'connect':
      return <Connect />
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no page here. <a href="#/">Back to the overview</a>.
      </p>
      <p class="muted">Signed in as {me.user.username}.</p>
    </section>
  )
}

function Layout({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const r = useRoute()
  const [open, setOpen] = useState(false)
  const current = r.parts[0] || ''
  const first = useRef(true)
  useEffect(() => {
    setOpen(false)
    // After a navigation (not on the first page), move focus to the new
    // page's heading for keyboard and screen-reader users.
    if (first.current) {
      first.current = false
      return
    }
    const h = document.querySelector('main h1') as HTMLElement | null
    if (h) {
      h.tabIndex = -1
      h.focus({ preventScroll: true })
    }
  }, [location.hash])
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); (document.getElementById('main') as HTMLElement)?.focus() }}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/">
          Entrepot
        </a>
        <button type="button" class="menu" aria-expanded={open} aria-controls="nav" onClick={() => setOpen(!open)}>
          Menu
        </button>
        <nav id="nav" class={open ? 'open' : ''} aria-label="Main">
          <ul>
            {nav
              .filter((n) => !n.admin || me.user.platformAdmin)
              .map((n) => (
                <li key={n.path}>
                  <a href={href(n.path ? [n.path] : [])} aria-current={current === n.path ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              ))}
          </ul>
          <div class="who">
            <span title={me.user.email}>{me.user.displayName || me.user.username}</span>
            {me.user.platformAdmin ? <span class="badge">admin</span> : null}
            <button type="button" class="link" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        <Page me={me} />
      </main>
    </>
  )
}

function App() {
  const [me, setMe] = useState<Me | null>(null)
  const [booting, setBooting] = useState(true)

  const loadMe = async () => setMe(await get<Me>('/auth/me'))

  useEffect(() => {
    setSignedOutHandler(() => setMe(null))
    // A reload keeps no token: the refresh cookie brings the session back.
    ;all<Protocol>('/protocols')
      .then(setProtocols, () => undefined) // the lists stay empty; everything else works
      .then(() => (mayHaveSession() ? refresh() : Promise.resolve(false)))
      .then(async (ok) => {
        if (ok) await loadMe()
      })
      .catch(() => setMe(null))
      .finally(() => setBooting(false))
  }, [])

  if (booting) return <Loading label="Starting…" />
  if (!me) return <SignIn onSignedIn={loadMe} />
  return (
    <MeContext.Provider value={{ me, reload: loadMe }}>
      <Layout
        me={me}
        onSignOut={async () => {
          await logout().catch(() => {})
          setMe(null)
          location.hash = '#/'
        }}
      />
    </MeContext.Provider>
  )
}

render(<App />, document.getElementById('app')!)
