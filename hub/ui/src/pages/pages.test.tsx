import { describe, expect, it } from 'vitest'
import { fireEvent, render, screen, within } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter, Route, Routes, useLocation } from 'react-router'
import { ClusterCard, Dashboard } from './Dashboard'
import { queryKeys } from '../lib/queries'
import { costSeries, pricingLabel } from '../components/CostChart'
import { groupLabel, nextSort, percent } from './Savings'
import { PodUsage } from './Workloads'
import { usageSummary } from '../lib/usage'
import type { Cluster, CostLine } from '../lib/api'

const cluster: Cluster = {
  id: 'c1',
  name: 'prod-eu',
  description: 'Main fleet',
  environment: 'production',
  tags: ['eu'],
  provider: 'eks',
  version: 'v1.36.3',
  api_server_url: 'https://k8s.example.com',
  mode: 'agent',
  enabled: true,
  health: {
    status: 'critical',
    checked_at: '2026-01-01T11:59:00Z',
    reasons: [{ code: 'api_not_ready', severity: 'critical', message: 'apiserver not ready' }],
  },
  last_sync_at: '2026-01-01T11:59:48Z',
  last_error: 'connection refused',
  last_heartbeat_at: null,
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  counts: { nodes: 3, nodes_ready: 2, namespaces: 4, deployments: 5, pods: 17 },
}

describe('ClusterCard', () => {
  it('shows badges, counts, cost, last sync and the last error', () => {
    render(
      <MemoryRouter>
        <ul>
          <ClusterCard cluster={cluster} now={Date.parse('2026-01-01T12:00:00Z')} costPerDay={12.345} />
        </ul>
      </MemoryRouter>,
    )
    const card = screen.getByTestId('cluster-card')
    expect(within(card).getByRole('link', { name: 'prod-eu' }).getAttribute('href')).toBe('/admin/kubernetes/clusters/c1')
    expect(within(card).getByRole('img').getAttribute('title')).toBe('Critical: apiserver not ready')
    for (const text of ['EKS', 'production', 'agent', '#eu', '12 s ago', '$12.35', 'connection refused']) {
      expect(card.textContent).toContain(text)
    }
    expect(within(card).getByTestId('count-pods').textContent).toBe('17')
    expect(within(card).getByTestId('count-nodes').textContent).toBe('3')
  })
})

function Where() {
  const location = useLocation()
  return <output data-testid="where">{location.search}</output>
}

describe('Dashboard', () => {
  it('shows one server page of a large fleet, its filters as chips from the URL', () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
    client.setQueryData(queryKeys.me, null)
    client.setQueryData(queryKeys.clusterCostsPerDay, { lines: [] })
    const query = { provider: 'eks', sort: 'name', limit: 50, offset: 50 }
    client.setQueryData(queryKeys.clusterPage(query), { items: [cluster, { ...cluster, id: 'c2', name: 'prod-us' }], total: 1_200, limit: 50, offset: 50 })
    render(
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={['/admin/kubernetes?provider=eks&clusters.page=2']}>
          <Dashboard />
          <Routes>
            <Route path="*" element={<Where />} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>,
    )
    expect(screen.getAllByTestId('cluster-card').map((c) => c.getAttribute('data-cluster'))).toEqual(['prod-eu', 'prod-us'])
    expect(screen.getByTestId('pager-range').textContent).toBe('51–52 of 1,200')
    expect((screen.getByLabelText('Provider') as HTMLSelectElement).value).toBe('eks')
    fireEvent.click(screen.getByRole('button', { name: 'Remove filter provider: eks' }))
    expect(screen.getByTestId('where').textContent).toBe('')
  })
})

describe('costSeries', () => {
  const line = (start: string, cpu: number, memory: number): CostLine => ({
    key: 'web',
    start: Date.parse(start),
    end: Date.parse(start) + 86_400_000,
    cpu: { billed: 1, requested: 1, used: 0.5, efficiency: 0.5, cost: cpu },
    memory: { billed: 2, requested: 2, used: 1, efficiency: 0.5, cost: memory },
    storage_gib_hours: 24,
    storage_cost: 0.5,
    network_egress_gib: null,
    network_cost: 0,
    gpu_hours: 0,
    gpu_cost: 0,
    total_cost: cpu + memory + 0.5,
    total_nanos: (cpu + memory + 0.5) * 1e9,
    usage_unknown: false,
    idle_clamped: false,
  })
  it('stacks cpu, memory, storage, network and GPUs per step', () => {
    const costs = { steps: [line('2026-01-01T00:00:00Z', 1, 2), line('2026-01-02T00:00:00Z', 3, 4)] }
    expect(costSeries(costs, 'day')).toEqual([
      { at: '2026-01-01', cpu: 1, memory: 2, storage: 0.5, network: 0, gpu: 0 },
      { at: '2026-01-02', cpu: 3, memory: 4, storage: 0.5, network: 0, gpu: 0 },
    ])
    expect(costSeries({ steps: [line('2026-01-01T13:00:00Z', 1, 1)] }, 'hour')[0].at).toBe('01-01 13h')
  })
})

describe('pricingLabel', () => {
  it('names each pricing with its hours', () => {
    expect(
      pricingLabel([
        { mode: 'node', catalog_date: '2024-06-01', cluster_hours: 48 },
        { mode: 'unit', catalog_date: null, cluster_hours: 24 },
        { mode: null, catalog_date: null, cluster_hours: 3 },
      ]),
    ).toBe('node prices (catalog 2024-06-01): 48 h; unit prices: 24 h; pricing not recorded: 3 h')
    expect(pricingLabel([])).toBe('no hours computed')
  })
})

describe('Savings', () => {
  it('shows shares as whole percentages', () => {
    expect(percent(0.675)).toBe('68%')
    expect(percent(1)).toBe('100%')
    expect(percent(null)).toBe('—')
  })
  it('a header click sorts its column its default way, then the other', () => {
    expect(nextSort('key', 'waste')).toBe('-waste')
    expect(nextSort('-waste', 'waste')).toBe('waste')
    expect(nextSort('waste', 'waste')).toBe('-waste')
    expect(nextSort('-waste', 'efficiency')).toBe('efficiency')
    expect(nextSort('efficiency', 'efficiency')).toBe('-efficiency')
  })
  it('names a workload with its cluster, other groups as they are', () => {
    expect(groupLabel({ key: 'Deployment/web/web', cluster: 'prod' })).toBe('prod · Deployment/web/web')
    expect(groupLabel({ key: 'web', cluster: null })).toBe('web')
  })
})

describe('PodUsage', () => {
  const point = (start: string, cpu: number, memory: number, max: number) => ({
    start,
    cpu_millicores: cpu,
    memory_bytes: memory,
    memory_max_bytes: max,
  })
  it('says so when nothing was recorded', () => {
    render(<PodUsage series={{ step_seconds: 3600, points: [point('2026-01-01T10:00:00Z', 0, 0, 0)] }} />)
    expect(screen.getByTestId('pod-usage-empty').textContent).toBe('No usage recorded yet.')
  })
  it('shows the average and peak of the hours with data', () => {
    const series = {
      step_seconds: 3600,
      points: [
        point('2026-01-01T09:00:00Z', 0, 0, 0),
        point('2026-01-01T10:00:00Z', 100, 1 << 20, 2 << 20),
        point('2026-01-01T11:00:00Z', 300, 3 << 20, 4 << 20),
      ],
    }
    expect(usageSummary(series)).toEqual({
      hours: 2,
      cpuAvgMillicores: 200,
      cpuPeakMillicores: 300,
      memoryAvgBytes: 2 << 20,
      memoryMaxBytes: 4 << 20,
    })
    render(<PodUsage series={series} />)
    const text = screen.getByTestId('pod-usage').textContent
    for (const shown of ['200m', '300m', '2 MiB', '4 MiB', 'Over 2 hours']) {
      expect(text).toContain(shown)
    }
  })
})
