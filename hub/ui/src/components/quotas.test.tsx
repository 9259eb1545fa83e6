import { describe, expect, it } from 'vitest'
import { render, screen, within } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { type NamespaceHealth, type NamespaceQuotas, queryKeys } from '../lib/queries'
import { QuotasPanels, quotaText } from './QuotasPanel'

const bounds: NamespaceQuotas = {
  quotas: [
    {
      id: 'q-1',
      name: 'compute-resources',
      scopes: ['NotTerminating'],
      resources: [
        { resource: 'pods', hard: '10', used: '5', percent_used: 50, level: 'ok' },
        { resource: 'requests.cpu', hard: '4', used: '4', percent_used: 100, level: 'exhausted' },
        { resource: 'requests.memory', hard: '20Gi', used: '19Gi', percent_used: 95, level: 'near' },
        { resource: 'limits.memory', hard: '8Gi', used: '10Gi', percent_used: 125, level: 'exhausted' },
        { resource: 'services', hard: '5', used: null, percent_used: null, level: 'unknown' },
      ],
    },
  ],
  limit_ranges: [
    {
      id: 'l-1',
      name: 'defaults',
      limits: [{ type: 'Container', resource: 'cpu', default: '500m', default_request: '250m', min: null, max: '2', max_limit_request_ratio: '4' }],
    },
  ],
}

const health: NamespaceHealth = {
  status: 'degraded',
  reasons: [
    { code: 'pods_failing', severity: 'degraded', message: 'pods failing: 1 in CrashLoopBackOff (payments/api-0)' },
    { code: 'quotas_exhausted', severity: 'degraded', message: 'quota compute-resources in payments: requests.cpu 4/4 used' },
  ],
}

function renderPanels() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
  client.setQueryData(queryKeys.namespaceQuotas('ns-1'), bounds)
  client.setQueryData(queryKeys.namespaceHealth('ns-1'), health)
  render(
    <QueryClientProvider client={client}>
      <QuotasPanels namespaceId="ns-1" />
    </QueryClientProvider>,
  )
}

describe('quota bars', () => {
  it('say used of hard, the share and how full in words', () => {
    const [pods, cpu, memory, , services] = bounds.quotas[0].resources
    expect(quotaText(pods)).toBe('pods: 5 of 10 used (50%)')
    expect(quotaText(cpu)).toBe('requests.cpu: 4 of 4 used (100%), used up')
    expect(quotaText(memory)).toBe('requests.memory: 19Gi of 20Gi used (95%), nearly used up')
    expect(quotaText(services)).toBe('services: not counted yet, 5 allowed')
  })

  it('are meters with their values, capped at the maximum, per quota', () => {
    renderPanels()
    const quota = screen.getByRole('region', { name: 'Quota compute-resources' })
    const meters = within(quota).getAllByRole('meter')
    expect(meters).toHaveLength(5)
    const cpu = within(quota).getByRole('meter', { name: 'requests.cpu' })
    expect(cpu.getAttribute('aria-valuenow')).toBe('100')
    expect(cpu.getAttribute('aria-valuemax')).toBe('100')
    expect(cpu.getAttribute('aria-valuetext')).toBe('requests.cpu: 4 of 4 used (100%), used up')
    const over = within(quota).getByRole('meter', { name: 'limits.memory' })
    expect(over.getAttribute('aria-valuenow')).toBe('100')
    expect(over.getAttribute('aria-valuetext')).toContain('10Gi of 8Gi used (125%)')
    expect(within(quota).getByRole('meter', { name: 'services' }).getAttribute('aria-valuenow')).toBe('0')
    expect(screen.getAllByTestId('quota-bar').map((b) => b.getAttribute('data-level'))).toEqual(['ok', 'exhausted', 'near', 'exhausted', 'unknown'])
    expect(quota.textContent).toContain('scopes: NotTerminating')
  })
})

describe('namespace bounds and health', () => {
  it('list limit ranges as a table and the health reasons', () => {
    renderPanels()
    const table = screen.getByRole('table', { name: 'Limit ranges' })
    const cells = within(table).getAllByRole('cell').map((c) => c.textContent)
    expect(cells).toEqual(['defaults', 'Container', 'cpu', '250m', '500m', '—', '2', '4'])
    const reasons = screen.getByRole('list', { name: 'Health reasons' })
    expect(within(reasons).getAllByRole('listitem').map((li) => li.textContent)).toEqual(health.reasons.map((r) => r.message))
    expect(screen.getByText('Degraded')).toBeTruthy()
  })
})
