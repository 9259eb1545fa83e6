// Single sign-on in Debian's Chromium (playwright-core, headless): the login page's "Sign in
// with …" buttons, Dex's own login form, the signed-in banner, logout, and a refused sign-in
// explained in words on the login page. Driven by `hub/tests/sso_ui_e2e.rs`, which starts the
// real hub and a real Dex.
//
// Environment: HUB_URL, SSO_EMAIL, SSO_PASSWORD, ALLOWED_PROVIDER, REFUSED_PROVIDER (the
// buttons' names), SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium). Exit status 0 means
// every check passed; progress goes to stderr.
import { mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

function env(name) {
  const value = process.env[name]
  if (!value) throw new Error(`missing environment variable ${name}`)
  return value
}

const HUB = env('HUB_URL').replace(/\/$/, '')
const EMAIL = env('SSO_EMAIL')
const PASSWORD = env('SSO_PASSWORD')
const ALLOWED = env('ALLOWED_PROVIDER')
const REFUSED = env('REFUSED_PROVIDER')
const SHOTS = env('SCREENSHOT_DIR')
const TIMEOUT = 30_000

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`)
}

function log(...parts) {
  process.stderr.write(`[sso-e2e] ${parts.join(' ')}\n`)
}

const problems = []

/** Signs in at Dex's own login form, which the hub's button led to. */
async function signInAtDex(page) {
  await page.waitForURL((url) => !url.href.startsWith(HUB), { timeout: TIMEOUT })
  log('at the identity provider:', new URL(page.url()).pathname)
  await page.locator('input[name="login"]').fill(EMAIL)
  await page.locator('input[name="password"]').fill(PASSWORD)
  await page.locator('button[type="submit"]').click()
}

const profile = mkdtempSync(join(tmpdir(), 'kubeworkz-chromium-'))
mkdirSync(SHOTS, { recursive: true })
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
  colorScheme: 'light',
})
let exitCode = 0
try {
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(TIMEOUT)
  page.on('console', (msg) => {
    if (msg.type() === 'error' && page.url().startsWith(HUB)) problems.push(`console error on ${page.url()}: ${msg.text()}`)
  })
  page.on('pageerror', (err) => problems.push(`page error on ${page.url()}: ${err.message}`))

  log('the login page offers each provider')
  await page.goto(`${HUB}/login`)
  const allowed = page.getByRole('link', { name: `Sign in with ${ALLOWED}` })
  await allowed.waitFor()
  await page.getByRole('link', { name: `Sign in with ${REFUSED}` }).waitFor()
  await page.screenshot({ path: join(SHOTS, 'sso-login.png') })

  log('sign in through the provider')
  await allowed.click()
  await signInAtDex(page)
  await page.getByTestId('session-banner').waitFor({ timeout: TIMEOUT })
  const banner = await page.getByTestId('session-banner').textContent()
  assert(banner.includes(EMAIL), `the banner names the user: ${banner}`)
  assert((await page.getByTestId('role').textContent()) === 'viewer', 'the provider\'s default role')
  await page.screenshot({ path: join(SHOTS, 'sso-signed-in.png') })

  log('log out')
  await page.getByRole('button', { name: 'Log out' }).click()
  await page.waitForURL(`${HUB}/login`)

  log('a refused sign-in comes back in words')
  await page.getByRole('link', { name: `Sign in with ${REFUSED}` }).click()
  await signInAtDex(page)
  await page.waitForURL((url) => url.href.startsWith(`${HUB}/login`), { timeout: TIMEOUT })
  const alert = await page.getByRole('alert').textContent()
  assert(alert.includes('none of your groups'), `the login page says why: ${alert}`)
  assert(page.url().includes('sso_error='), 'the reason came in the URL')
  await page.screenshot({ path: join(SHOTS, 'sso-refused.png') })
  assert((await page.context().cookies(HUB)).every((c) => c.name !== 'kubeworkz_session' || c.value === ''), 'no session after a refused sign-in')

  assert(problems.length === 0, problems.join('\n'))
  log('every check passed')
} catch (err) {
  log('FAILED:', err.stack ?? err)
  exitCode = 1
} finally {
  await context.close()
}
process.exit(exitCode)
