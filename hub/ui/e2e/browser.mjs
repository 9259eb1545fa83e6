// What the browser walks share: settings from the environment, checks, Debian's Chromium
// (playwright-core, headless) in a throwaway profile, logging in, console and page errors
// collected per walk, and axe-core. Progress goes to stderr with the walk's tag.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

const require = createRequire(import.meta.url)
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

export const TIMEOUT = 60_000

export function env(name) {
  const value = process.env[name]
  if (!value) throw new Error(`missing environment variable ${name}`)
  return value
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`)
}

/** A logger to stderr that tags each line with the walk's name. */
export function logger(tag) {
  return (...parts) => process.stderr.write(`[${tag}] ${parts.join(' ')}\n`)
}

/** Console errors and uncaught page errors of the pages watched, for a walk to assert none. */
export class Problems {
  list = []
  watch(page) {
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.list.push(`console error on ${page.url()}: ${msg.text()}`)
    })
    page.on('pageerror', (err) => this.list.push(`page error on ${page.url()}: ${err.message}`))
  }
  none(where) {
    assert(this.list.length === 0, `${where}: ${this.list.join('\n')}`)
  }
}

/** axe-core on the current page: serious and critical violations fail the run. */
export async function accessible(page, name, log) {
  // Evaluated through the DevTools protocol, so the hub's CSP (scripts from 'self' only)
  // does not apply to it.
  await page.evaluate(axeSource)
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }))
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  const text = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ')}`)
  assert(bad.length === 0, `accessibility of ${name}:\n${text.join('\n')}`)
  log(`axe ${name}: no serious or critical violations (${result.violations.length} minor)`)
}

/** Chromium with a fresh profile; `close()` also removes the profile. */
export async function launch(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'kubeworkz-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    ...options,
  })
  const close = async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  }
  return { context, close }
}

export async function login(page, hub, email, password) {
  await page.goto(`${hub}/`)
  await page.waitForURL(/\/login$/, { timeout: TIMEOUT })
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL(/\/admin\/kubernetes$/, { timeout: TIMEOUT })
  await page.getByTestId('session-banner').waitFor({ timeout: TIMEOUT })
}

/** Logs a failed walk with the console errors seen, and screenshots its page to `path`. */
export async function reportFailure(err, context, problems, path, log) {
  log(`FAILED: ${err.stack ?? err}`)
  if (problems.list.length) log(`console/page errors:\n${problems.list.join('\n')}`)
  try {
    const page = context.pages()[0]
    if (page) await page.screenshot({ path, fullPage: true })
  } catch {
    // the browser may be gone
  }
}

/**
 * Screenshots each of `pages` ([name, url, ready]) in light and dark, at desktop and phone
 * size, as `${dir}/${prefix}${name}-${theme}-${device}.png`; `afterDevice(device)` runs after
 * each device's pages. Leaves the page at desktop size in the light theme.
 */
export async function screenshots(page, dir, pages, log, { prefix = '', settleMs = 0, fullPage = true, afterDevice = async () => {} } = {}) {
  for (const theme of ['light', 'dark']) {
    await page.evaluate((t) => localStorage.setItem('kubeworkz-theme', t), theme)
    for (const [device, size] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ]) {
      await page.setViewportSize(size)
      for (const [name, url, ready] of pages) {
        await page.goto(url)
        await ready()
        if (settleMs) await page.waitForTimeout(settleMs)
        const path = join(dir, `${prefix}${name}-${theme}-${device}.png`)
        await page.screenshot({ path, fullPage })
        log(`screenshot ${path}`)
      }
      await afterDevice(device)
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 })
  await page.evaluate(() => localStorage.setItem('kubeworkz-theme', 'light'))
}
