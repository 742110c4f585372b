// READMEs are untrusted: a package's author wrote them. They are rendered
// with marked and then sanitized by DOMPurify, which drops scripts, event
// handlers, styles, forms and frames; links keep only http(s), mailto and
// in-page targets (javascript:, data: and every other scheme are removed),
// and open without a referrer. This is the only HTML the dashboard ever
// inserts; everything else is text.
import { Marked } from 'marked'
import DOMPurify from 'dompurify'

const marked = new Marked({ gfm: true, breaks: false, async: false })

const safeHref = /^(https?:|mailto:|#)/i

let purify: ReturnType<typeof DOMPurify> | null = null

function sanitizer() {
  if (purify) return purify
  purify = DOMPurify(window)
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      const h = node.getAttribute('href')
      if (h !== null && !safeHref.test(h.trim())) node.removeAttribute('href')
      node.setAttribute('rel', 'noopener noreferrer nofollow')
      node.setAttribute('target', '_blank')
    }
    if (node.tagName === 'IMG') {
      const s = node.getAttribute('src') || ''
      // Remote images are blocked by the CSP anyway; say so with the alt text.
      if (!/^(https?:|data:image\/)/i.test(s.trim())) node.removeAttribute('src')
    }
  })
  return purify
}

/** renderMarkdown turns untrusted Markdown into sanitized HTML. */
export function renderMarkdown(md: string): string {
  const raw = marked.parse(md) as string
  return sanitizer().sanitize(raw, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math'],
    FORBID_ATTR: ['style', 'srcset', 'action', 'formaction'],
    ALLOW_DATA_ATTR: false,
  }) as string
}
