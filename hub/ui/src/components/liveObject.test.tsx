import { afterEach, describe, expect, it, vi } from 'vitest'
import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { LiveObjectPanels } from './LiveObject'

function renderPanels() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  return render(
    <QueryClientProvider client={client}>
      <LiveObjectPanels kind="deployments" id="d-1" />
    </QueryClientProvider>,
  )
}

afterEach(() => vi.unstubAllGlobals())

describe('LiveObjectPanels', () => {
  it('shows the events with warnings marked and the YAML only when asked', async () => {
    const fetchMock = vi.fn(async (url: string) => {
      if (url === '/api/v1/k8s/deployments/d-1/events') {
        return new Response(
          JSON.stringify([
            { type: 'Warning', reason: 'FailedCreate', message: 'quota exceeded', count: 3, last_seen: null, source: 'replicaset-controller' },
            { type: 'Normal', reason: 'ScalingReplicaSet', message: 'Scaled up to 2', count: 1, last_seen: '2026-01-01T00:00:00Z', source: 'deployment-controller' },
          ]),
          { status: 200, headers: { 'content-type': 'application/json' } },
        )
      }
      if (url === '/api/v1/k8s/deployments/d-1/yaml') return new Response('kind: Deployment\n', { status: 200 })
      return new Response('{}', { status: 404 })
    })
    vi.stubGlobal('fetch', fetchMock)
    renderPanels()
    expect(fetchMock).not.toHaveBeenCalled()
    fireEvent.click(screen.getByText('Show the events'))
    const rows = await screen.findAllByTestId('event-row')
    expect(rows).toHaveLength(2)
    expect(rows[0].textContent).toContain('Warning')
    expect(rows[0].textContent).toContain('quota exceeded')
    expect(fetchMock.mock.calls.some(([url]) => String(url).endsWith('/yaml'))).toBe(false)
    fireEvent.click(screen.getByText('Show the live YAML'))
    await waitFor(() => expect(screen.getByTestId('live-yaml').textContent).toBe('kind: Deployment\n'))
  })

  it("shows the hub's refusal in words", async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () =>
        new Response(JSON.stringify({ error: { code: 'conflict', message: "not enabled in this agent's chart (operations.events)", request_id: 'r' } }), {
          status: 409,
          headers: { 'content-type': 'application/json' },
        }),
      ),
    )
    renderPanels()
    fireEvent.click(screen.getByText('Show the events'))
    expect(await screen.findByText("not enabled in this agent's chart (operations.events)")).toBeTruthy()
  })
})
