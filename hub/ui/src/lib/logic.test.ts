import { describe, expect, it } from 'vitest'
import { relativeTime } from './time'
import { chipText, clusterTotals, filtersFrom, fleetTotals, groupHealth, groupLabel } from './filters'
import type { Cluster } from './api'
import { lastPage, parsePage, withParam } from './listState'
import { rangeText } from '../components/Pager'
import type { FleetGroup } from './api'
import { bytes, cpu, dollars, providerLabel } from './format'
import { containerState } from './projections'
import { totalText } from './searchQuery'

const NOW = Date.parse('2026-01-01T12:00:00Z')

describe('relativeTime', () => {
  it('counts seconds, minutes, hours and days', () => {
    expect(relativeTime('2026-01-01T11:59:48Z', NOW)).toBe('12 s ago')
    expect(relativeTime('2026-01-01T11:57:00Z', NOW)).toBe('3 min ago')
    expect(relativeTime('2026-01-01T09:00:00Z', NOW)).toBe('3 h ago')
    expect(relativeTime('2025-12-28T12:00:00Z', NOW)).toBe('4 d ago')
  })
  it('says never for a missing or broken time, just now for a clock ahead', () => {
    expect(relativeTime(null, NOW)).toBe('never')
    expect(relativeTime('not a time', NOW)).toBe('never')
    expect(relativeTime('2026-01-01T12:00:05Z', NOW)).toBe('just now')
  })
})

describe('cluster filters', () => {
  it('reads the set filters from the URL and ignores blanks and other parameters', () => {
    const params = new URLSearchParams('environment=staging&tag=&search=%20pay%20&clusters.page=3&group=tag')
    expect(filtersFrom(params)).toEqual({ environment: 'staging', search: 'pay' })
  })
  it('names each chip by its filter; free text in quotes', () => {
    expect(chipText('provider', 'eks')).toBe('provider: eks')
    expect(chipText('search', 'pay')).toBe('“pay”')
  })
})

describe('fleet roll-ups', () => {
  const group = (key: string, over: Partial<FleetGroup> = {}): FleetGroup => ({
    key,
    clusters: 10,
    healthy: 10,
    degraded: 0,
    critical: 0,
    unknown: 0,
    nodes: 30,
    pods: 300,
    cost_month_to_date: 1.5,
    ...over,
  })
  it('sums the groups of a partition into the fleet totals', () => {
    const groups = [group('production', { healthy: 7, degraded: 2, critical: 1 }), group('staging')]
    expect(fleetTotals(groups)).toEqual({ clusters: 20, healthy: 17, attention: 3, nodes: 60, pods: 600, cost: 3 })
    expect(fleetTotals([])).toEqual({ clusters: 0, healthy: 0, attention: 0, nodes: 0, pods: 0, cost: 0 })
  })
  it('sums a fleet from its clusters when every one is at hand', () => {
    const c = (health: string | null, nodes: number, pods: number) =>
      ({ health: health ? { status: health, reasons: [], checked_at: '' } : null, counts: { nodes, nodes_ready: nodes, namespaces: 1, deployments: 1, pods } }) as Cluster
    expect(clusterTotals([c('healthy', 3, 12), c('degraded', 2, 4), c('critical', 1, 3), c(null, 1, 1)])).toEqual({
      clusters: 4,
      healthy: 1,
      attention: 2,
      nodes: 7,
      pods: 20,
      cost: 0,
    })
  })
  it('shows the worst health of a group, and unknown only when none is judged healthy', () => {
    expect(groupHealth(group('a', { critical: 1, degraded: 3 }))).toBe('critical')
    expect(groupHealth(group('a', { degraded: 1 }))).toBe('degraded')
    expect(groupHealth(group('a', { healthy: 0, unknown: 10 }))).toBe('unknown')
    expect(groupHealth(group('a', { healthy: 9, unknown: 1 }))).toBe('healthy')
    expect(groupLabel('')).toBe('none')
  })
})

describe('list state', () => {
  it('reads 1-based pages from the URL, anything else as the first', () => {
    expect(parsePage('3')).toBe(2)
    for (const raw of [null, '', '0', '-2', '1.5', 'x']) expect(parsePage(raw)).toBe(0)
  })
  it('knows the last page of any total', () => {
    expect(lastPage(0)).toBe(0)
    expect(lastPage(50)).toBe(0)
    expect(lastPage(51)).toBe(1)
    expect(lastPage(10_000)).toBe(199)
  })
  it('keeps default values out of the URL', () => {
    const p = new URLSearchParams('a=1&ns.page=2')
    expect(withParam(p, 'ns.page', '').toString()).toBe('a=1')
    expect(withParam(p, 'ns.q', 'kube').toString()).toBe('a=1&ns.page=2&ns.q=kube')
    expect(p.toString()).toBe('a=1&ns.page=2')
  })
  it('says which rows are shown out of how many', () => {
    expect(rangeText(0, 50, 10_000)).toBe('1–50 of 10,000')
    expect(rangeText(9_950, 50, 10_000)).toBe('9,951–10,000 of 10,000')
    expect(rangeText(0, 0, 0)).toBe('0 of 0')
  })
})

describe('format', () => {
  it('shows quantities in units people read', () => {
    expect(cpu(2000)).toBe('2')
    expect(cpu(250)).toBe('250m')
    expect(cpu(null)).toBe('—')
    expect(bytes(8 * 1024 ** 3)).toBe('8 GiB')
    expect(bytes(1536)).toBe('1.5 KiB')
    expect(providerLabel('eks')).toBe('EKS')
    expect(providerLabel(null)).toBe('unknown')
  })

  it('never shows a cost that is not zero as $0.00', () => {
    expect(dollars(0)).toBe('$0.00')
    expect(dollars(0.0004)).toBe('< $0.01')
    expect(dollars(0.005)).toBe('$0.01')
    expect(dollars(12.345)).toBe('$12.35')
    expect(dollars(null)).toBe('—')
  })
})

describe('containerState', () => {
  it('names each state with its reason', () => {
    expect(containerState(null)).toBe('—')
    expect(containerState('Running')).toBe('Running')
    expect(containerState({ Waiting: { reason: 'CrashLoopBackOff' } })).toBe('Waiting: CrashLoopBackOff')
    expect(containerState({ Waiting: { reason: null } })).toBe('Waiting')
    expect(containerState({ Terminated: { reason: 'OOMKilled', exit_code: 137 } })).toBe('Terminated: OOMKilled (137)')
    expect(containerState({ Terminated: { reason: null, exit_code: 2 } })).toBe('Terminated: exit code (2)')
  })
})

describe('totalText', () => {
  it('says a counted-up-to total is a lower bound', () => {
    expect(totalText(9, false)).toBe('9')
    expect(totalText(12345, false)).toBe('12,345')
    expect(totalText(1001, true)).toBe('1,000+')
  })
})
