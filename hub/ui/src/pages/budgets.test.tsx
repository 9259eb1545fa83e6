import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import { BudgetsPage, money, shareOf } from './Budgets'
import { queryKeys } from '../lib/queries'
import type { Budget, CostAlert } from '../lib/api'

const budget: Budget = {
  id: 'b1',
  name: 'payments',
  scope: 'team',
  scope_key: 'payments',
  amount: '1000.00',
  amount_nanos: 1_000_000_000_000,
  month_start: '2026-12-01T00:00:00Z',
  actual: '340.00',
  actual_nanos: 340_000_000_000,
  forecast: '1020.00',
  forecast_nanos: 1_020_000_000_000,
  elapsed_hours: 240,
  month_hours: 744,
  created_at: '2026-12-01T00:00:00Z',
  updated_at: '2026-12-01T00:00:00Z',
}

const alert: CostAlert = {
  id: 'a1',
  kind: 'budget_forecast',
  budget_id: 'b1',
  scope: 'team',
  scope_key: 'payments',
  period_start: '2026-12-01T00:00:00Z',
  threshold_pct: 100,
  value: '1020.00',
  value_nanos: 1_020_000_000_000,
  reference: '1000.00',
  reference_nanos: 1_000_000_000_000,
  message: 'Budget "payments" (team payments): $1020.00 forecast in 2026-12 reaches 100% of $1000.00',
  created_at: '2026-12-11T09:05:00Z',
}

function page(role: string) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
  client.setQueryData(queryKeys.me, { actor: 'x@example.com', auth: 'session', org: 'default', org_id: 'o', role, user_id: 'u' })
  client.setQueryData(['budgets'], { items: [budget] })
  client.setQueryData(['alerts', ''], { items: [alert], total: 1, limit: 50, offset: 0, next_cursor: null })
  client.setQueryData(['webhooks'], { items: [] })
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <BudgetsPage />
      </MemoryRouter>
    </QueryClientProvider>,
  )
}

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

describe('Budgets', () => {
  it('computes shares and money by hand', () => {
    expect(shareOf(340, 1000)).toBe(34)
    expect(shareOf(1020, 1000)).toBe(102)
    expect(shareOf(5, 0)).toBe(0)
    expect(money('1020.00')).toBe('$1,020.00')
    expect(money('0.5')).toBe('$0.50')
    // Under a cent: up to six decimals, never a misleading $0.00.
    expect(money('0.004312')).toBe('$0.004312')
    expect(money('0.000001')).toBe('$0.000001')
    expect(money('0')).toBe('$0.00')
  })

  it('shows a viewer the budgets with actual and forecast bars and the alerts, without the form', () => {
    page('viewer')
    const row = screen.getByTestId('budget-row')
    expect(row.textContent).toContain('payments')
    expect(row.textContent).toContain('$1,000.00')
    expect(within(row).getByLabelText('$340.00 34% of the budget')).toBeTruthy()
    expect(within(row).getByLabelText('$1,020.00 102% of the budget')).toBeTruthy()
    expect(row.textContent).toContain('240 of 744 hours')
    expect(screen.queryByRole('form', { name: 'New budget' })).toBeNull()
    expect(within(row).queryByRole('button', { name: 'Delete' })).toBeNull()
    const alertRow = screen.getByTestId('alert-row')
    expect(alertRow.textContent).toContain('Forecast')
    expect(alertRow.textContent).toContain('reaches 100% of $1000.00')
  })

  it('lets an admin add a budget: the form posts what was typed', async () => {
    const fetch = vi.fn(async (_url: string, init?: RequestInit) =>
      init?.method === 'POST'
        ? new Response(JSON.stringify(budget), { status: 201, headers: { 'content-type': 'application/json' } })
        : new Response(JSON.stringify({ items: [budget] }), { status: 200, headers: { 'content-type': 'application/json' } }),
    )
    vi.stubGlobal('fetch', fetch)
    page('admin')
    const form = screen.getByRole('form', { name: 'New budget' })
    fireEvent.change(within(form).getByLabelText('Name'), { target: { value: 'shop' } })
    fireEvent.change(within(form).getByLabelText('Scope'), { target: { value: 'namespace' } })
    fireEvent.change(within(form).getByLabelText('Key'), { target: { value: 'shop' } })
    fireEvent.change(within(form).getByLabelText('Dollars a month'), { target: { value: '250.50' } })
    fireEvent.click(within(form).getByRole('button', { name: 'Add budget' }))
    await waitFor(() => expect(fetch).toHaveBeenCalled())
    const [url, init] = fetch.mock.calls.find((c) => c[1]?.method === 'POST') as unknown as [string, RequestInit]
    expect(url).toBe('/api/v1/budgets')
    expect(init.method).toBe('POST')
    expect(JSON.parse(init.body as string)).toEqual({ name: 'shop', scope: 'namespace', scope_key: 'shop', amount: '250.50' })
    expect(within(screen.getByTestId('budget-row')).getByRole('button', { name: 'Delete' })).toBeTruthy()
  })
})
