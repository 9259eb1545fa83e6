// The README's screenshot: the dashboard of a running `kubeworkz-demo` fleet, 1280×800, light
// theme, in Debian's Chromium (playwright-core, headless), as `run.mjs` launches it.
//
//   node e2e/screenshot.mjs http://127.0.0.1:PORT ../../docs/images/dashboard.png
//
// Logs in as the demo's admin (ADMIN_EMAIL, ADMIN_PASSWORD override it) and waits until every
// cluster card and the fleet's cost per day are shown.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { chromium } from 'playwright-core'

const [hub, out] = process.argv.slice(2)
if (!hub || !out) {
  process.stderr.write('usage: node e2e/screenshot.mjs HUB_URL OUT.png\n')
  process.exit(64)
}
const email = process.env.ADMIN_EMAIL || 'admin@localhost'
const password = process.env.ADMIN_PASSWORD || 'kubeworkz-demo'
const clusters = Number(process.env.CLUSTERS || 3)

const profile = mkdtempSync(join(tmpdir(), 'kubeworkz-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
  colorScheme: 'light',
})
try {
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(60_000)
  await page.goto(`${hub.replace(/\/$/, '')}/admin/kubernetes`)
  await page.waitForURL(/\/login$/)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(/\/admin\/kubernetes$/)
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="cluster-card"]').length === n, clusters)
  // The totals' cost per day reads "—" until the cost query has answered.
  await page.waitForFunction(() => /\$\d/.test(document.querySelector('[aria-label="Totals"]')?.textContent ?? ''))
  // Charts and badges settle (the event stream keeps a connection open, so no network idle).
  await page.waitForTimeout(1000)
  mkdirSync(dirname(out), { recursive: true })
  await page.screenshot({ path: out })
  process.stderr.write(`wrote ${out}\n`)
} finally {
  await context.close()
  rmSync(profile, { recursive: true, force: true })
}
