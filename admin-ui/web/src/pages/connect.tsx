import { publicUrl } from '../publicurl'
import { connectSnippets } from '../snippets'
import { href } from '../router'
import { Show, Snippet, useAsync } from '../ui'

export function Connect() {
  const base = useAsync(publicUrl, [])
  return (
    <section>
      <h1>Connect your client</h1>
      <Show a={base}>
        {(b) => {
          const cfgs = connectSnippets(b)
          return (
            <>
              <p>
                This server's public URL is <code>{b}</code>. Replace <code>srg_…</code> with an{' '}
                <a href={href(['tokens'])}>API token</a> scoped to the protocol, and <code>acme</code> with your organization.
              </p>
              <nav aria-label="Clients" class="toc">
                <ul>
                  {cfgs.map((c) => (
                    <li key={c.id}>
                      <a href={`#/connect`} onClick={(e) => { e.preventDefault(); document.getElementById('client-' + c.id)?.scrollIntoView() }}>
                        {c.title}
                      </a>
                    </li>
                  ))}
                </ul>
              </nav>
              {cfgs.map((c) => (
                <article key={c.id} id={'client-' + c.id} class="client">
                  <h2>{c.title}</h2>
                  <p>{c.intro}</p>
                  {c.blocks.map((bl) => (
                    <Snippet key={bl.label} label={bl.label} code={bl.code} />
                  ))}
                </article>
              ))}
            </>
          )
        }}
      </Show>
    </section>
  )
}
