import { afterEach, describe, expect, it, vi } from 'vitest'
import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import type { ReactNode } from 'react'
import { DeploymentActions, PodActions } from './WorkloadActions'
import { parseReplicas, scaleQuestion } from '../lib/actions'
import type { Me } from '../lib/api'

function withRole(children: ReactNode, role: Me['role']) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
  client.setQueryData(['me'], { user_id: 'u', actor: 'a@example.com', org_id: 'o', org: 'default', role, auth: 'session' })
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>
}

describe('replica counts', () => {
  it('are whole numbers from 0 to 10000', () => {
    expect(parseReplicas(' 3 ')).toEqual({ replicas: 3 })
    expect(parseReplicas('0')).toEqual({ replicas: 0 })
    expect(parseReplicas('10000')).toEqual({ replicas: 10000 })
    for (const bad of ['', '-1', '1.5', 'three', '10001', '1e3']) expect(parseReplicas(bad)).toHaveProperty('error')
  })
  it('are confirmed in words', () => {
    expect(scaleQuestion('api', 1, 3)).toBe('Scale deployment “api” up from 1 to 3 replicas?')
    expect(scaleQuestion('api', 3, 1)).toBe('Scale deployment “api” down from 3 to 1 replica?')
    expect(scaleQuestion('api', 2, 2)).toBe('Deployment “api” already wants 2 replicas. Scale anyway?')
  })
})

describe('workload actions', () => {
  afterEach(() => vi.restoreAllMocks())

  it('are hidden from viewers', () => {
    render(withRole(<><DeploymentActions id="d" name="api" desired={1} /><PodActions id="p" name="web" /></>, 'viewer'))
    expect(screen.queryByRole('button')).toBeNull()
  })

  it('ask first, send one idempotency key per confirmation, and show the change', async () => {
    const fetch = vi.spyOn(globalThis, 'fetch').mockResolvedValue(
      new Response(JSON.stringify({ cluster_id: 'c', kind: 'deployment', namespace: 'apps', name: 'api', action: 'scale', change: 'replicas 1 -> 3', replicas: 3, restarted_at: null }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      }),
    )
    render(withRole(<DeploymentActions id="d" name="api" desired={1} />, 'operator'))
    fireEvent.change(screen.getByRole('spinbutton'), { target: { value: '3' } })
    fireEvent.click(screen.getByRole('button', { name: 'Scale' }))
    expect(fetch).not.toHaveBeenCalled()
    expect(screen.getByRole('alertdialog').textContent).toContain('Scale deployment “api” up from 1 to 3 replicas?')
    fireEvent.click(screen.getByRole('button', { name: 'Confirm' }))
    await waitFor(() => expect(screen.getByTestId('scale-result').textContent).toBe('Done: replicas 1 -> 3'))
    expect(fetch).toHaveBeenCalledTimes(1)
    const [url, init] = fetch.mock.calls[0] as [string, RequestInit]
    expect(url).toBe('/api/v1/k8s/deployments/d/scale')
    expect(init.body).toBe('{"replicas":3}')
    const key = new Headers(init.headers).get('idempotency-key')
    expect(key).toMatch(/^[0-9a-f-]{36}$/)

    fireEvent.change(screen.getByRole('spinbutton'), { target: { value: '-2' } })
    expect((screen.getByRole('button', { name: 'Scale' }) as HTMLButtonElement).disabled).toBe(true)
  })

  it('cancel leaves the pod alone', () => {
    const fetch = vi.spyOn(globalThis, 'fetch')
    render(withRole(<PodActions id="p" name="web" />, 'admin'))
    fireEvent.click(screen.getByRole('button', { name: 'Delete pod' }))
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }))
    expect(fetch).not.toHaveBeenCalled()
    expect(screen.queryByRole('alertdialog')).toBeNull()
  })
})
