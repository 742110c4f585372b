import { describe, expect, it } from 'vitest'
import { renderMarkdown } from './markdown'

// Each case is untrusted Markdown and what must not survive it.
const hostile: [string, string][] = [
  ['script tag', '# Hi\n\n<script>window.__pwned = 1</script>\n'],
  ['inline handler', '<img src="x" onerror="window.__pwned = 2">'],
  ['javascript: link', '[click me](javascript:window.__pwned=3)'],
  ['javascript: link with spaces and case', '<a href=" JaVaScRiPt:alert(1)">x</a>'],
  ['entity-encoded javascript:', '<a href="&#106;avascript:alert(1)">x</a>'],
  ['data: link', '[x](data:text/html,<script>alert(1)</script>)'],
  ['vbscript: link', '[x](vbscript:msgbox(1))'],
  ['iframe', '<iframe src="https://example.invalid/"></iframe>'],
  ['svg with script', '<svg><script>alert(1)</script></svg>'],
  ['style attribute', '<p style="position:fixed">x</p>'],
  ['form', '<form action="https://example.invalid/"><input name="a"></form>'],
  ['object', '<object data="x.swf"></object>'],
  ['reference-style javascript link', '[a][1]\n\n[1]: javascript:alert(1)'],
  ['autolink', '<javascript:alert(1)>'],
]

function parse(html: string): HTMLElement {
  const div = document.createElement('div')
  div.innerHTML = html
  return div
}

describe('renderMarkdown', () => {
  it.each(hostile)('renders %s inert', (_, md) => {
    const html = renderMarkdown(md)
    const dom = parse(html)
    expect(dom.querySelector('script, iframe, object, embed, form, input, svg, style')).toBeNull()
    for (const el of Array.from(dom.querySelectorAll('*'))) {
      for (const a of Array.from(el.attributes)) {
        expect(a.name.startsWith('on'), `${el.tagName} ${a.name}`).toBe(false)
        expect(a.name).not.toBe('style')
        expect(a.value.replace(/\s/g, '').toLowerCase()).not.toMatch(/^(javascript|vbscript|data:text):?/)
      }
    }
    for (const a of Array.from(dom.querySelectorAll('a'))) {
      const h = a.getAttribute('href')
      if (h !== null) expect(h).toMatch(/^(https?:|mailto:|#)/)
    }
  })

  it('keeps ordinary Markdown', () => {
    const dom = parse(renderMarkdown('# Title\n\nSome **bold** and [a link](https://example.invalid/x).\n\n```js\nlet a = 1 < 2\n```\n'))
    expect(dom.querySelector('h1')?.textContent).toBe('Title')
    expect(dom.querySelector('strong')?.textContent).toBe('bold')
    const a = dom.querySelector('a')!
    expect(a.getAttribute('href')).toBe('https://example.invalid/x')
    expect(a.getAttribute('rel')).toContain('noopener')
    expect(dom.querySelector('pre code')?.textContent).toBe('let a = 1 < 2\n')
  })

  it('escapes text', () => {
    const dom = parse(renderMarkdown('a <b onclick="x()">b</b> & c'))
    expect(dom.querySelector('b')?.getAttribute('onclick')).toBeNull()
  })
})
