import { useEffect, useState } from 'preact/hooks'
import { call, get, type Settings } from '../api'
import { ErrorBox, Show, useAction, useAsync } from '../ui'

export function SettingsPage() {
  const s = useAsync(() => get<Settings>('/admin/auth/settings'), [])
  const [form, setForm] = useState<Settings>({})
  const act = useAction()
  useEffect(() => s.data && setForm(s.data), [s.data])
  return (
    <section>
      <h1>Platform settings</h1>
      <Show a={s}>
        {() => (
          <form
            onSubmit={(e) => {
              e.preventDefault()
              act.run(() => call('PUT', '/admin/auth/settings', form), 'Saved.').then((ok) => ok && s.reload())
            }}
          >
            <fieldset>
              <legend>Access</legend>
              <label class="inline">
                <input
                  type="checkbox"
                  checked={!!form.anonymousMirrorReads}
                  onChange={(e) => setForm({ ...form, anonymousMirrorReads: e.currentTarget.checked })}
                />{' '}
                Anonymous clients may read mirrored packages
              </label>
              <p class="muted small">Off: every read of a mirrored (public, proxied) package needs credentials. Takes effect at once.</p>
              <label class="inline">
                <input
                  type="checkbox"
                  checked={!!form.userOrganizations}
                  onChange={(e) => setForm({ ...form, userOrganizations: e.currentTarget.checked })}
                />{' '}
                Any signed-in user may create organizations
              </label>
              <p class="muted small">Off: only platform administrators create organizations.</p>
            </fieldset>
            <ErrorBox error={act.error} />
            {act.done ? <p role="status" class="ok-text">{act.done}</p> : null}
            <button type="submit" class="primary" disabled={act.busy}>
              {act.busy ? 'Saving…' : 'Save settings'}
            </button>
          </form>
        )}
      </Show>
      <h2>Authentication providers</h2>
      <p class="muted">External identity providers (OIDC, LDAP) are configured on the server; active ones appear on the sign-in page.</p>
    </section>
  )
}
