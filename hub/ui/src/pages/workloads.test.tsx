import { describe, expect, it } from 'vitest'
import { render, screen } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter, Route, Routes } from 'react-router'
import { workloadStatus, type CronJobData, type JobData, type StatefulSetData } from '../lib/projections'
import { queryKeys } from '../lib/queries'
import { WorkloadDetail, workloadFacts } from './WorkloadDetail'
import { TopOwner } from './Workloads'

const db: StatefulSetData = {
  replicas: { desired: 3, current: 3, ready: 2, available: 2, updated: 1 },
  service_name: 'db-headless',
  update_strategy: { RollingUpdate: { partition: 1, max_unavailable: null } },
  images: ['postgres:16'],
}

const failedRun: JobData = {
  owner: { kind: 'CronJob', name: 'nightly' },
  completions: 1,
  parallelism: 1,
  succeeded: 0,
  failed: 6,
  active: 0,
  state: 'Failed',
  start_time: Date.parse('2026-01-01T02:00:00Z'),
  completion_time: null,
  images: ['report:2'],
}

const nightly: CronJobData = {
  schedule: '0 2 * * *',
  time_zone: 'Europe/Berlin',
  suspend: false,
  concurrency_policy: 'Forbid',
  last_schedule: Date.parse('2026-01-01T02:00:00Z'),
  last_successful: null,
  active: 1,
  images: ['report:2'],
}

describe('workload status', () => {
  it('says ready of desired, node counts, a Job failures and a CronJob schedule', () => {
    expect(workloadStatus('statefulsets', db)).toEqual({ text: '2/3 ready', ok: false })
    expect(workloadStatus('daemonsets', { counts: { desired: 4, current: 4, ready: 4, available: 4, updated: 4, misscheduled: 1 }, update_strategy: 'RollingUpdate', images: [] })).toEqual({
      text: '4/4 nodes ready, 1 misscheduled',
      ok: false,
    })
    expect(workloadStatus('jobs', failedRun)).toEqual({ text: 'Failed: 0/1 succeeded, 6 failed', ok: false })
    expect(workloadStatus('cronjobs', { ...nightly, suspend: true })).toEqual({ text: '0 2 * * *, suspended', ok: true })
  })

  it('lists the facts of each kind', () => {
    expect(workloadFacts('statefulsets', db)).toContainEqual(['Update strategy', 'RollingUpdate, partition 1'])
    expect(workloadFacts('jobs', failedRun)).toContainEqual(['Started by', 'CronJob nightly'])
    expect(workloadFacts('cronjobs', nightly)).toContainEqual(['Last schedule', '2026-01-01T02:00:00Z'])
    expect(workloadFacts('cronjobs', nightly)).toContainEqual(['Schedule', '0 2 * * * (Europe/Berlin)'])
  })
})

describe('TopOwner', () => {
  it('links a held workload to its page and names the rest', () => {
    const { rerender } = render(
      <MemoryRouter>
        <TopOwner owner={{ kind: 'CronJob', name: 'nightly', id: 'c-1' }} />
      </MemoryRouter>,
    )
    expect(screen.getByRole('link', { name: 'CronJob nightly' }).getAttribute('href')).toBe('/admin/kubernetes/workloads/cronjobs/c-1')
    rerender(
      <MemoryRouter>
        <TopOwner owner={{ kind: 'Rollout', name: 'canary', id: null }} />
      </MemoryRouter>,
    )
    expect(screen.queryByRole('link')).toBeNull()
    expect(document.body.textContent).toContain('Rollout canary')
    rerender(
      <MemoryRouter>
        <TopOwner owner={null} />
      </MemoryRouter>,
    )
    expect(document.body.textContent).toContain('none (a bare pod)')
  })
})

describe('WorkloadDetail', () => {
  it("shows a StatefulSet's facts and its pods linked to their pages", () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
    const set = { id: 's-1', cluster_id: 'c1', namespace: 'data', name: 'db', data: db, first_seen_at: '', updated_at: '', status: null }
    client.setQueryData(queryKeys.workload('statefulsets', 's-1'), set)
    const pod = {
      id: 'p-1',
      cluster_id: 'c1',
      namespace: 'data',
      name: 'db-0',
      status: 'Running',
      first_seen_at: '',
      updated_at: '',
      data: { node: 'node-a', phase: 'Running', owner: { kind: 'StatefulSet', name: 'db' }, containers: [], ready: true, start_time: null, qos_class: 'Burstable', labels: {}, reason: null },
    }
    const page = { page: 0, limit: 50, offset: 0, cursor: null, fromEnd: null, sort: '', q: '' }
    client.setQueryData(queryKeys.workloadPods('statefulsets', 's-1', page), { items: [pod], total: 1, limit: 50, offset: 0, next_cursor: null })
    render(
      <QueryClientProvider client={client}>
        <MemoryRouter initialEntries={['/admin/kubernetes/workloads/statefulsets/s-1']}>
          <Routes>
            <Route path="/admin/kubernetes/workloads/:kind/:id" element={<WorkloadDetail />} />
          </Routes>
        </MemoryRouter>
      </QueryClientProvider>,
    )
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('StatefulSet db')
    expect(screen.getByTestId('workload-service').textContent).toBe('db-headless')
    expect(screen.getByTestId('workload-ready').textContent).toBe('2 of 3')
    expect(screen.getByRole('link', { name: 'db-0' }).getAttribute('href')).toBe('/admin/kubernetes/pods/p-1')
  })
})
