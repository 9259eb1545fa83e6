import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { WebhooksPanel, deliveryOutcome } from './WebhooksPanel'
import { queryKeys } from '../lib/queries'
import type { Delivery, Webhook } from '../lib/api'

const hook: Webhook = {
  id: 'w1',
  name: 'ops',
  url: 'https://hooks.slack.com/services/T0/B0/SECRET',
  url_masked: 'https://hooks.slack.com/services/***/***/***',
  format: 'slack',
  enabled: true,
  created_at: '2026-12-01T00:00:00Z',
  updated_at: '2026-12-01T00:00:00Z',
  last_delivery: { event: 'alert', status: 'failed', at: '2026-12-02T10:00:00Z' },
}

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })

function delivery(status: string, attempt: { status_code?: number | null; error?: string | null }): Delivery {
  return {
    id: 'd1',
    endpoint_id: 'w1',
    endpoint_name: 'ops',
    event: 'test',
    status,
    attempts: 1,
    next_attempt_at: null,
    created_at: '2026-12-02T10:00:00Z',
    finished_at: '2026-12-02T10:00:01Z',
    attempt_log: [{ attempt: 1, at: '2026-12-02T10:00:00Z', duration_ms: 12, ...attempt }],
  }
}

function panel(role: string, items: Webhook[] = [hook]) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
  client.setQueryData(queryKeys.me, { actor: 'x@example.com', auth: 'session', org: 'default', org_id: 'o', role, user_id: 'u' })
  client.setQueryData(['webhooks'], { items })
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <WebhooksPanel />
      </MemoryRouter>
    </QueryClientProvider>,
  )
}

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

describe('Webhooks', () => {
  it('words a delivery by its last attempt', () => {
    expect(deliveryOutcome(delivery('delivered', { status_code: 204 }))).toBe('delivered (HTTP 204)')
    expect(deliveryOutcome(delivery('failed', { error: 'refused to connect to 127.0.0.1: a loopback address' }))).toBe(
      'failed: refused to connect to 127.0.0.1: a loopback address',
    )
    expect(deliveryOutcome({ status: 'pending', attempt_log: [] })).toBe('pending')
  })

  it('shows a viewer the masked endpoint and its last delivery, without controls', () => {
    panel('viewer')
    const row = screen.getByTestId('webhook-row')
    expect(row.textContent).toContain('ops')
    expect(row.textContent).toContain('https://hooks.slack.com/services/***/***/***')
    expect(row.textContent).not.toContain('SECRET')
    expect(row.textContent).toContain('enabled')
    expect(row.textContent).toContain('signing secret set')
    expect(within(screen.getByTestId('webhook-last')).getByText('failed')).toBeTruthy()
    expect(screen.queryByRole('form', { name: 'New webhook' })).toBeNull()
    expect(screen.queryByRole('button')).toBeNull()
  })

  it('lets an admin add an endpoint and shows its secret once', async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) =>
      init?.method === 'POST' ? json({ ...hook, id: 'w2', name: 'new', secret: 'whsec_abc' }, 201) : json({ items: [hook] }),
    )
    vi.stubGlobal('fetch', fetch)
    panel('admin', [])
    const form = screen.getByRole('form', { name: 'New webhook' })
    fireEvent.change(within(form).getByLabelText('Webhook name'), { target: { value: 'new' } })
    fireEvent.change(within(form).getByLabelText('URL'), { target: { value: 'http://receiver.example/hook' } })
    fireEvent.click(within(form).getByRole('button', { name: 'Add webhook' }))
    await waitFor(() => expect((screen.getByLabelText('Signing secret') as HTMLInputElement).value).toBe('whsec_abc'))
    const [url, init] = fetch.mock.calls.find((c) => c[1]?.method === 'POST') as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/webhooks')
    expect(JSON.parse(init.body as string)).toEqual({ name: 'new', url: 'http://receiver.example/hook', format: 'json' })
    fireEvent.click(screen.getByRole('button', { name: 'Done' }))
    expect(screen.queryByLabelText('Signing secret')).toBeNull()
  })

  it('sends a test and shows the egress refusal; disables; deletes only after confirming', async () => {
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (url.endsWith('/test')) return json(delivery('failed', { error: 'refused to connect to localhost: loopback' }))
      if (init?.method === 'PUT') return json({ ...hook, enabled: false })
      if (init?.method === 'DELETE') return new Response(null, { status: 204 })
      return json({ items: [hook] })
    })
    vi.stubGlobal('fetch', fetch)
    panel('admin')
    const row = screen.getByTestId('webhook-row')
    fireEvent.click(within(row).getByRole('button', { name: 'Send test' }))
    await waitFor(() =>
      expect(screen.getByTestId('webhook-test-result').textContent).toBe('Test delivery failed: refused to connect to localhost: loopback'),
    )

    fireEvent.click(within(row).getByRole('button', { name: 'Disable' }))
    await waitFor(() => expect(fetch.mock.calls.some((c) => c[1]?.method === 'PUT')).toBe(true))
    const put = fetch.mock.calls.find((c) => c[1]?.method === 'PUT') as unknown as [string, RequestInit]
    expect(put[0]).toBe('/api/v1/webhooks/w1')
    expect(JSON.parse(put[1].body as string)).toEqual({ name: 'ops', url: hook.url, format: 'slack', enabled: false })

    fireEvent.click(within(row).getByRole('button', { name: 'Delete' }))
    expect(fetch.mock.calls.some((c) => c[1]?.method === 'DELETE')).toBe(false)
    fireEvent.click(within(row).getByRole('button', { name: 'Confirm delete' }))
    await waitFor(() => expect(fetch.mock.calls.some((c) => c[1]?.method === 'DELETE')).toBe(true))
  })
})
