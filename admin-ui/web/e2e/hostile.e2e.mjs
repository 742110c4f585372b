// Stored-XSS regression test in Debian's headless Chromium, driven by
// playwright-core (admin-ui/hostile_e2e_test.go starts the binary, stores
// the hostile files and runs this script). It signs in to the dashboard as
// the bootstrap admin, so that the refresh cookie an attacker's script
// would use is there, then opens every hostile URL on the dashboard's
// origin and checks that no script ran: the page title is not changed and
// no beacon reached the recorder. A control page with the same script,
// served without Entrepot's headers from the recorder's origin, must run,
// which proves that the checks would see an execution.
//
// Environment: BASE_URL, ADMIN_PASSWORD, PLAYWRIGHT_CORE, CHROMIUM,
// WORK_DIR, URLS (JSON list of paths on BASE_URL), CONTROL_URL,
// HTTP_USER, HTTP_PASSWORD (Basic credentials for private artifacts).
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const env = (k) => {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}
const BASE = env('BASE_URL').replace(/\/+$/, '')
const { chromium } = await import(pathToFileURL(join(env('PLAYWRIGHT_CORE'), 'index.mjs')).href)

const context = await chromium.launchPersistentContext(mkdtempSync(join(env('WORK_DIR'), 'chromium-')), {
  executablePath: env('CHROMIUM'),
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  httpCredentials: { username: env('HTTP_USER'), password: env('HTTP_PASSWORD') },
  timeout: 60_000,
})
context.setDefaultTimeout(15_000)
const page = context.pages()[0] || (await context.newPage())
const failures = []

// open navigates to url and reports what the browser did: "rendered" with
// the title, or "download" when the answer was an attachment.
async function open(url) {
  await page.goto('about:blank')
  const download = page.waitForEvent('download', { timeout: 3000 }).then(() => true, () => false)
  try {
    await page.goto(url, { waitUntil: 'load' })
  } catch (e) {
    // An attachment aborts the navigation ("Download is starting").
    if (await download) return { how: 'download' }
    return { how: 'error', detail: String(e) }
  }
  await page.waitForTimeout(500) // let an onload or a timer run
  return { how: 'rendered', title: await page.title(), marker: await page.evaluate(() => window.__pwned === true).catch(() => false) }
}

// The admin signs in: the refresh cookie is set for the dashboard's origin.
await page.goto(BASE + '/')
const login = await page.evaluate(async (pw) => {
  const r = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'admin', password: pw }),
    credentials: 'include',
  })
  return r.status
}, env('ADMIN_PASSWORD'))
if (login !== 200) failures.push(`admin login: ${login}`)

const control = await open(env('CONTROL_URL'))
console.log('control', JSON.stringify(control))
if (control.how !== 'rendered' || control.title !== 'pwned') failures.push(`the control page's script did not run: ${JSON.stringify(control)}`)

for (const path of JSON.parse(env('URLS'))) {
  const r = await open(BASE + path)
  console.log(path, JSON.stringify(r))
  if (r.how === 'rendered' && (r.title === 'pwned' || r.marker)) failures.push(`script ran at ${path}`)
  if (r.how === 'error') failures.push(`${path}: ${r.detail}`)
}
await context.close()
if (failures.length) {
  console.error(failures.join('\n'))
  process.exit(1)
}
console.log('no hostile script ran')
