import { describe, expect, it } from 'vitest'
import { relativeTime } from './time'
import { filterClusters, filterOptions, noFilters, totals } from './filters'
import { bytes, cpu, dollars, providerLabel } from './format'
import type { Cluster } from './api'

const NOW = Date.parse('2026-01-01T12:00:00Z')

function cluster(name: string, over: Partial<Cluster> = {}): Cluster {
  return {
    id: name,
    name,
    description: '',
    environment: 'production',
    tags: [],
    provider: 'kind',
    version: 'v1.36.3',
    api_server_url: null,
    mode: 'pull',
    enabled: true,
    health: null,
    last_sync_at: null,
    last_error: null,
    last_heartbeat_at: null,
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    counts: { nodes: 1, nodes_ready: 1, namespaces: 2, deployments: 3, pods: 4 },
    ...over,
  }
}

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

describe('filterClusters', () => {
  const all = [
    cluster('alpha', { environment: 'staging', tags: ['gpu'], health: { status: 'degraded', reasons: [], checked_at: '' } }),
    cluster('bravo', { provider: 'eks', description: 'Training fleet' }),
    cluster('charlie', { provider: null }),
  ]
  it('matches search on name and description, case-insensitively', () => {
    expect(filterClusters(all, { ...noFilters, search: 'FLEET' }).map((c) => c.name)).toEqual(['bravo'])
    expect(filterClusters(all, { ...noFilters, search: 'arl' }).map((c) => c.name)).toEqual(['charlie'])
  })
  it('combines environment, provider, health and tag', () => {
    expect(filterClusters(all, { ...noFilters, environment: 'staging' }).map((c) => c.name)).toEqual(['alpha'])
    expect(filterClusters(all, { ...noFilters, provider: 'unknown' }).map((c) => c.name)).toEqual(['charlie'])
    expect(filterClusters(all, { ...noFilters, health: 'unknown' }).map((c) => c.name)).toEqual(['bravo', 'charlie'])
    expect(filterClusters(all, { ...noFilters, tag: 'gpu', health: 'degraded' }).map((c) => c.name)).toEqual(['alpha'])
    expect(filterClusters(all, { ...noFilters, tag: 'gpu', environment: 'production' })).toEqual([])
  })
  it('offers each distinct value once and totals what is shown', () => {
    expect(filterOptions(all).provider).toEqual(['eks', 'kind', 'unknown'])
    expect(filterOptions(all).health).toEqual(['degraded', 'unknown'])
    expect(totals(all)).toEqual({ clusters: 3, nodes: 3, pods: 12, deployments: 9, namespaces: 6 })
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
