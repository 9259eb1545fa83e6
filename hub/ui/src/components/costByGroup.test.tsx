import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { CostByGroup, lineLabel, spread } from './CostByGroup'
import type { CostLine } from '../lib/api'

const resource = (cost: number) => ({ billed: 1, cost, efficiency: null, requested: 1, used: 0 })

function line(key: string, total: number, workload: CostLine['workload']): CostLine {
  return {
    key,
    start: 0,
    end: 3_600_000,
    cpu: resource(total * 0.8),
    memory: resource(total * 0.2),
    storage_gib_hours: 0,
    storage_cost: 0,
    network_egress_gib: null,
    network_cost: 0,
    gpu_hours: 0,
    gpu_cost: 0,
    total_cost: total,
    total_nanos: total * 1e9,
    usage_unknown: false,
    idle_clamped: false,
    workload,
  }
}

const agent = line('DaemonSet/ops/agent', 0.2, {
  cluster: 'c1',
  cluster_name: 'prod-eu',
  kind: 'DaemonSet',
  namespace: 'ops',
  name: 'agent',
  pods: 3,
  nodes: 3,
})
const storage = line('__storage__/data', 0.003, {
  cluster: 'c1',
  cluster_name: 'prod-eu',
  kind: '__storage__',
  namespace: 'data',
  name: '',
  pods: 0,
  nodes: 0,
})

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

describe('CostByGroup', () => {
  it('says what each workload line is and where it ran', () => {
    expect(lineLabel(agent)).toBe('prod-eu · DaemonSet ops/agent')
    expect(spread(agent)).toBe('3 pods on 3 nodes')
    expect(lineLabel(storage)).toBe('prod-eu · Storage (claims) · data')
    expect(spread(storage)).toBe('')
    const idle = line('__idle__', 1, { ...storage.workload!, kind: '__idle__', namespace: '', cluster_name: null })
    expect(lineLabel(idle)).toBe('c1 · Idle capacity')
    expect(lineLabel(line('web', 1, undefined))).toBe('web')
    expect(spread({ workload: { ...agent.workload!, pods: 1, nodes: 1 } })).toBe('1 pod on 1 node')
  })

  it('asks for the workload grouping and shows its lines, then regroups on request', async () => {
    const fetch = vi.fn(async (url: string) => {
      const byWorkload = url.includes('aggregate=workload')
      const lines = byWorkload ? [agent, storage] : [line('ops', 0.2, undefined), line('data', 0.003, undefined)]
      const body = { window: { start: 0, end: 1 }, lines, total: line('total', 0.203, undefined), pricing: [] }
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
    })
    vi.stubGlobal('fetch', fetch)
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    render(
      <QueryClientProvider client={client}>
        <CostByGroup />
      </QueryClientProvider>,
    )
    await waitFor(() => expect(screen.getAllByTestId('cost-line')).toHaveLength(2))
    expect(fetch.mock.calls[0][0]).toBe('/api/v1/k8s/costs?aggregate=workload&window=24h&include_idle=false')
    const [first] = screen.getAllByTestId('cost-line')
    expect(first.textContent).toContain('DaemonSet ops/agent')
    expect(first.textContent).toContain('3 pods on 3 nodes')
    expect(first.textContent).toContain('$0.20')
    expect(screen.getByTestId('cost-total').textContent).toBe('Total $0.20')
    expect(screen.getByRole('link', { name: 'CSV' }).getAttribute('href')).toBe(
      '/api/v1/k8s/costs?aggregate=workload&window=24h&include_idle=false&format=csv',
    )
    fireEvent.change(screen.getByLabelText('Cost group'), { target: { value: 'namespace' } })
    await waitFor(() => expect(screen.getAllByTestId('cost-line')[0].textContent).toContain('ops'))
    expect(screen.queryByText('Ran on')).toBeNull()
  })
})
