// The UI at fleet scale in Debian's Chromium, against a real hub whose store
// `hub/tests/ui_scale.rs` filled through the ingest path (2,000 clusters, 100,000 pods, one
// cluster with 10,000 namespaces, `payments` objects in three clusters).
//
// Environment: HUB_URL, ADMIN_EMAIL, ADMIN_PASSWORD, CLUSTERS, BIG_CLUSTER_ID, BIG_NAMESPACES,
// LAST_NAMESPACE, PAYMENTS_CLUSTERS (comma separated names), CRASHING_PODS, SCREENSHOT_DIR,
// CHROMIUM (default /usr/bin/chromium).
// Output: progress on stderr; one `MEASURE <page> key=value…` line per measured page on
// stdout (the browser's performance timeline: first screen, long tasks while loading and
// while scrolling). Exit status 0 means every check passed.
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Problems, accessible, assert, env, launch, logger, login, reportFailure, screenshots } from './browser.mjs'

const HUB = env('HUB_URL').replace(/\/$/, '')
const CLUSTERS = Number(env('CLUSTERS'))
const BIG = env('BIG_CLUSTER_ID')
const BIG_NAMESPACES = Number(env('BIG_NAMESPACES'))
const LAST_NAMESPACE = env('LAST_NAMESPACE')
const PAYMENTS = env('PAYMENTS_CLUSTERS').split(',').sort()
const CRASHING = Number(env('CRASHING_PODS'))
const SHOTS = env('SCREENSHOT_DIR')
const log = logger('ui-scale')
const count = new Intl.NumberFormat('en-US')

// What each measured page shows as its first screen: the first of its rows in the DOM.
const FIRST_ROWS = {
  dashboard: '[data-testid="cluster-card"]',
  namespaces: '[data-testid="namespace-pods"]',
}

/** Runs in every document before the app: long tasks and when each page's first rows came. */
function instrument(firstRows) {
  window.__longTasks = []
  window.__firstScreen = {}
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration })
  }).observe({ type: 'longtask', buffered: true })
  new MutationObserver(() => {
    for (const [name, selector] of Object.entries(firstRows)) {
      if (!(name in window.__firstScreen) && document.querySelector(selector)) window.__firstScreen[name] = performance.now()
    }
  }).observe(document, { childList: true, subtree: true })
}

const longest = (tasks) => tasks.reduce((m, t) => Math.max(m, t.duration), 0)

/**
 * Opens `url` afresh and measures: the time from navigation to the page's first rows, the
 * long tasks until then, and those while the page is scrolled to its end and back.
 */
async function measure(page, name, url, extra = async () => ({})) {
  await page.goto(url)
  await page.locator(FIRST_ROWS[name]).first().waitFor()
  const firstScreen = await page.evaluate((n) => window.__firstScreen[n], name)
  const loading = await page.evaluate(() => window.__longTasks.slice())
  const scrollFrom = await page.evaluate(() => performance.now())
  for (let i = 0; i < 12; i++) {
    await page.mouse.wheel(0, 600)
    await page.waitForTimeout(50)
  }
  for (let i = 0; i < 12; i++) {
    await page.mouse.wheel(0, -600)
    await page.waitForTimeout(50)
  }
  await page.waitForTimeout(300)
  const scrolling = await page.evaluate((from) => window.__longTasks.filter((t) => t.start >= from), scrollFrom)
  const figures = {
    first_screen_ms: Math.round(firstScreen),
    longest_task_loading_ms: Math.round(longest(loading)),
    long_tasks_scrolling: scrolling.length,
    longest_task_scrolling_ms: Math.round(longest(scrolling)),
    ...(await extra()),
  }
  process.stdout.write(`MEASURE ${name} ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}\n`)
  return figures
}

/** Rows of a CSV the hub wrote (quoted fields may hold commas and doubled quotes). */
function csvRows(text) {
  const rows = []
  for (const line of text.split(/\r?\n/).filter(Boolean)) {
    const fields = []
    let field = ''
    let quoted = false
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]
      if (quoted && ch === '"' && line[i + 1] === '"') {
        field += '"'
        i++
      } else if (ch === '"') quoted = !quoted
      else if (ch === ',' && !quoted) {
        fields.push(field)
        field = ''
      } else field += ch
    }
    fields.push(field)
    rows.push(fields)
  }
  return rows
}

/** The namespaces the hub answers for `query` on the big cluster: [name, pods] per row. */
const apiNamespaces = (page, query) =>
  page.evaluate(async (url) => {
    const r = await fetch(url)
    if (!r.ok) throw new Error(`${url}: ${r.status}`)
    return (await r.json()).items.map((n) => [n.name, String(n.pods)])
  }, `${HUB}/api/v1/k8s/clusters/${BIG}/namespaces?${query}`)

/** Waits until the namespaces table shows the rows the hub answers for `query`, in its order. */
async function rowsMatchTheHub(page, query, what) {
  const want = JSON.stringify(await apiNamespaces(page, query))
  const table = page.getByRole('table', { name: 'Namespaces' })
  const shown = () =>
    table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [r.cells[0].textContent, r.querySelector('[data-testid="namespace-pods"]')?.textContent ?? '']))
  let got = ''
  for (const until = Date.now() + 30_000; Date.now() < until; await page.waitForTimeout(100)) {
    got = JSON.stringify(await shown())
    if (got === want) return JSON.parse(got)
  }
  throw new Error(`${what}: the rows on screen are not the hub's for ${query}:\n screen ${got.slice(0, 300)}\n hub    ${want.slice(0, 300)}`)
}

const resultClusters = async (page) =>
  [...new Set(await page.getByTestId('search-result').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-cluster'))))].sort()

mkdirSync(SHOTS, { recursive: true })
const { context, close } = await launch()
const problems = new Problems()
let exitCode = 0
try {
  await context.addInitScript(instrument, FIRST_ROWS)
  const page = context.pages()[0] ?? (await context.newPage())
  page.setDefaultTimeout(60_000)
  problems.watch(page)
  await login(page, HUB, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'))

  log(`dashboard at ${CLUSTERS} clusters`)
  const clusterPages = page.getByRole('navigation', { name: 'clusters pages' })
  await measure(page, 'dashboard', `${HUB}/admin/kubernetes`)
  await clusterPages.getByText(`1–50 of ${count.format(CLUSTERS)}`).waitFor()
  await page.getByTestId('fleet-group').first().waitFor()
  const totals = page.getByRole('definition').filter({ hasText: count.format(CLUSTERS) })
  assert((await totals.count()) >= 1, `the totals count ${CLUSTERS} clusters`)
  await clusterPages.getByRole('button', { name: 'Last page of clusters' }).click()
  await clusterPages.getByText(`${count.format(CLUSTERS - 49)}–${count.format(CLUSTERS)} of ${count.format(CLUSTERS)}`).waitFor()
  assert(/clusters\.page=/.test(page.url()), `the page is in the URL: ${page.url()}`)
  await accessible(page, 'dashboard at scale', log)

  log(`the ${count.format(BIG_NAMESPACES)}-namespace cluster, paged to its last namespace`)
  const nsPages = page.getByRole('navigation', { name: 'namespaces pages' })
  await measure(page, 'namespaces', `${HUB}/admin/kubernetes/clusters/${BIG}`, async () => {
    // Next seeks by the hub's cursor: the second page follows the first.
    await nsPages.getByRole('button', { name: 'Next page of namespaces' }).click()
    await nsPages.getByText(`51–100 of ${count.format(BIG_NAMESPACES)}`).waitFor()
    const rows = page.getByRole('table', { name: 'Namespaces' }).getByRole('link')
    await rows.filter({ hasText: /^ns-00050$/ }).waitFor()
    const second = await rows.allTextContents()
    assert(second[0] === 'ns-00050' && second.length === 50, `the second page is ns-00050…: ${second[0]}…, ${second.length} rows`)
    const from = Date.now()
    await nsPages.getByRole('button', { name: 'Last page of namespaces' }).click()
    await page.getByRole('link', { name: LAST_NAMESPACE, exact: true }).waitFor()
    return { last_page_ms: Date.now() - from }
  })
  await nsPages.getByText(`${count.format(BIG_NAMESPACES - 49)}–${count.format(BIG_NAMESPACES)} of ${count.format(BIG_NAMESPACES)}`).waitFor()
  await page.reload()
  await page.getByRole('link', { name: LAST_NAMESPACE, exact: true }).waitFor()
  log('a reload keeps the last page (the URL holds it)')

  log('filter the namespaces on the server, and export what the filter shows as CSV')
  const prefix = LAST_NAMESPACE.slice(0, -1)
  await page.getByLabel('Filter namespaces').fill(prefix)
  await nsPages.getByText('1–10 of 10').waitFor()
  assert(page.url().includes(`ns.q=${prefix}`), `the filter is in the URL: ${page.url()}`)
  const [nsDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export namespaces as CSV' }).click()])
  const nsCsv = csvRows(readFileSync(await nsDownload.path(), 'utf8'))
  const names = nsCsv.slice(1).map((row) => row[nsCsv[0].indexOf('name')])
  assert(names.length === 10 && names.every((n) => n.startsWith(prefix)) && names.includes(LAST_NAMESPACE), `the CSV holds the 10 filtered namespaces: ${names.join(', ')}`)

  log('sort the 10,000 namespaces by their pods from the column header, on the server')
  await page.goto(`${HUB}/admin/kubernetes/clusters/${BIG}`)
  const nsTable = page.getByRole('table', { name: 'Namespaces' })
  const podsHeader = nsTable.getByRole('columnheader', { name: 'Pods', exact: true })
  const nameHeader = nsTable.getByRole('columnheader', { name: 'Name', exact: true })
  assert((await nameHeader.getAttribute('aria-sort')) === 'ascending', 'by name at first')
  assert((await nsTable.getByRole('columnheader', { name: 'Team', exact: true }).getByRole('button').count()) === 0, 'a column the hub does not sort has no button')
  await podsHeader.getByRole('button').click()
  await page.waitForURL(/ns\.sort=-pods/)
  const most = await rowsMatchTheHub(page, 'sort=-pods&limit=50', 'most pods first')
  assert((await podsHeader.getAttribute('aria-sort')) === 'descending' && (await nameHeader.getAttribute('aria-sort')) === 'none', 'aria-sort follows the order')
  assert(Number(most[0][1]) > 0 && most.every((row, i) => i === 0 || Number(most[i - 1][1]) >= Number(row[1])), `pods never increase down the page: ${most.slice(0, 6)}`)
  await podsHeader.getByRole('button').click()
  await page.waitForURL(/ns\.sort=pods/)
  await rowsMatchTheHub(page, 'sort=pods&limit=50', 'fewest pods first')
  assert((await podsHeader.getAttribute('aria-sort')) === 'ascending', 'the second click reverses')
  await nsPages.getByRole('button', { name: 'Next page of namespaces' }).click()
  await nsPages.getByText(`51–100 of ${count.format(BIG_NAMESPACES)}`).waitFor()
  await rowsMatchTheHub(page, 'sort=pods&limit=50&offset=50', 'the next page in the same order')
  await page.reload()
  await rowsMatchTheHub(page, 'sort=pods&limit=50&offset=50', 'a reload keeps the order and the page')
  assert((await podsHeader.getAttribute('aria-sort')) === 'ascending', 'a reload keeps aria-sort')
  await page.goBack()
  await page.waitForURL((url) => url.searchParams.get('ns.sort') === '-pods')
  await rowsMatchTheHub(page, 'sort=-pods&limit=50', 'back returns to the order before')
  await accessible(page, 'namespaces sorted by pods', log)
  problems.none('sort walk')

  log('search payments from the header (Ctrl-K): suggestions, then every result')
  await page.keyboard.press('Control+k')
  const box = page.getByRole('combobox', { name: 'Search the fleet' })
  assert(await box.evaluate((el) => el === document.activeElement), 'Ctrl-K focuses the search box')
  await box.pressSequentially('payments', { delay: 30 })
  await page.getByTestId('search-suggestion').first().waitFor()
  await page.getByRole('option', { name: /^All \d+ results for “payments”$/ }).waitFor()
  await box.press('Enter')
  await page.waitForURL(/\/admin\/kubernetes\/search\?q=payments$/)
  await page.getByTestId('search-result').first().waitFor()
  const found = await resultClusters(page)
  assert(JSON.stringify(found) === JSON.stringify(PAYMENTS), `payments is found in ${PAYMENTS.join(', ')}: ${found.join(', ')}`)
  const clusterFacet = page.getByRole('region', { name: 'Cluster facet' })
  assert((await clusterFacet.getByRole('button').count()) === PAYMENTS.length, 'the cluster facet lists the three clusters')
  await accessible(page, 'search results', log)

  log('chips narrow to pods in CrashLoopBackOff')
  await page.getByRole('button', { name: /^Only status CrashLoopBackOff \(\d+\)$/ }).click()
  await page.waitForURL(/status%3ACrashLoopBackOff/)
  await page.getByRole('button', { name: /^Only kind pod \(\d+\)$/ }).click()
  await page.waitForURL(/kind%3Apod/)
  // The URL changes before React renders the new query: wait for what the new answer shows
  // before counting what it shows.
  await page.getByRole('heading', { name: `Results (${CRASHING})` }).waitFor()
  const chips = page.getByRole('list', { name: 'Query terms' }).getByTestId('chip')
  await chips.filter({ hasText: 'kind:pod' }).waitFor()
  assert((await chips.count()) === 3, 'three chips: payments, the status and the kind')
  const rows = page.getByTestId('search-result')
  const kinds = await rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-kind')))
  assert(kinds.length === CRASHING && kinds.every((k) => k === 'pod'), `${CRASHING} pods: ${kinds.join(', ')}`)
  for (const text of await rows.allTextContents()) assert(text.includes('CrashLoopBackOff'), `a crash-looping pod: ${text}`)
  const narrowed = page.url()

  log('export the search as CSV and check its rows')
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export results as CSV' }).click()])
  const csv = csvRows(readFileSync(await download.path(), 'utf8'))
  assert(csv[0].join(',') === 'kind,cluster,namespace,name,status,labels,link', `the CSV header: ${csv[0].join(',')}`)
  const body = csv.slice(1)
  assert(body.length === CRASHING, `${CRASHING} CSV rows: ${body.length}`)
  for (const [kind, cluster, namespace, name, status] of body) {
    assert(kind === 'pod' && PAYMENTS.includes(cluster) && namespace === 'payments' && name.startsWith('payments-api-') && status === 'CrashLoopBackOff', `a CSV row of a crash-looping payments pod: ${[kind, cluster, namespace, name, status]}`)
  }

  log('open one')
  await rows.first().getByRole('link').click()
  await page.getByRole('heading', { name: /^Pod payments-api-/ }).waitFor()
  assert(/\/admin\/kubernetes\/pods\//.test(page.url()), `a pod page: ${page.url()}`)
  const podStatus = await page.getByTestId('pod-status').textContent()
  assert(podStatus === 'CrashLoopBackOff', `the pod page shows its status: ${podStatus}`)

  log('a bad query is explained, with the position')
  await page.goto(`${HUB}/admin/kubernetes/search?q=${encodeURIComponent('payments colour:red')}`)
  await page.getByRole('alert').filter({ hasText: /colour/ }).waitFor()
  await page.getByTestId('query-caret').waitFor()
  problems.list = problems.list.filter((p) => !/status of 400/.test(p))
  problems.none('search walk')

  log('screenshots: light and dark, desktop and phone')
  const shots = [
    ['dashboard', `${HUB}/admin/kubernetes`, () => page.getByTestId('fleet-group').first().waitFor()],
    ['search', narrowed, () => page.getByTestId('search-result').first().waitFor()],
    ['namespaces-by-pods', `${HUB}/admin/kubernetes/clusters/${BIG}?ns.sort=-pods`, () => page.getByTestId('namespace-pods').first().waitFor()],
  ]
  await screenshots(page, SHOTS, shots, log, { prefix: 'scale-', fullPage: false })
  problems.none('screenshots')
  log('all checks passed')
} catch (err) {
  exitCode = 1
  await reportFailure(err, context, problems, join(SHOTS, 'scale-failure.png'), log)
} finally {
  await close()
}
process.exit(exitCode)
