import { describe, expect, it, vi, beforeEach } from 'vitest'
import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter } from 'react-router'
import type { ReactNode } from 'react'
import { HealthBadge } from './HealthBadge'
import { AdminOnly } from './ui'
import { KubeconfigForm, splitTags, validateRegistration } from '../pages/Register'
import { Login } from '../pages/Login'
import { SIGNED_OUT_KEY, type Me } from '../lib/api'

function withProviders(children: ReactNode, me: Me | null = null) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
  client.setQueryData(['me'], me)
  return (
    <QueryClientProvider client={client}>
      <MemoryRouter>{children}</MemoryRouter>
    </QueryClientProvider>
  )
}

const me = (role: 'admin' | 'viewer'): Me => ({ user_id: 'u', actor: 'a@example.com', org_id: 'o', org: 'default', role, auth: 'session' })

describe('HealthBadge', () => {
  it('names the status and gives the reasons on hover', () => {
    render(
      <HealthBadge
        health={{
          status: 'degraded',
          checked_at: '2026-01-01T00:00:00Z',
          reasons: [
            { code: 'nodes_not_ready', severity: 'degraded', message: '1 of 3 nodes not ready' },
            { code: 'metrics_unavailable', severity: 'degraded', message: 'metrics unavailable' },
          ],
        }}
      />,
    )
    const badge = screen.getByRole('img')
    expect(badge.textContent).toBe('Degraded')
    expect(badge.getAttribute('title')).toBe('Degraded: 1 of 3 nodes not ready; metrics unavailable')
    expect(badge.getAttribute('aria-label')).toContain('1 of 3 nodes not ready')
    expect(badge.getAttribute('data-health')).toBe('degraded')
  })
  it('is unknown before the first verdict', () => {
    render(<HealthBadge health={null} />)
    expect(screen.getByRole('img').textContent).toBe('Unknown')
  })
})

describe('AdminOnly', () => {
  it('shows mutating controls to admins only', () => {
    const control = (
      <AdminOnly>
        <button type="button">Delete</button>
      </AdminOnly>
    )
    const { unmount } = render(withProviders(control, me('admin')))
    expect(screen.queryByRole('button', { name: 'Delete' })).not.toBeNull()
    unmount()
    render(withProviders(control, me('viewer')))
    expect(screen.queryByRole('button', { name: 'Delete' })).toBeNull()
  })
})

describe('registration', () => {
  beforeEach(() => vi.restoreAllMocks())

  it('validates before sending', () => {
    expect(validateRegistration({ name: ' ', kubeconfig: '' })).toEqual(['name is required', 'paste a kubeconfig or choose a file'])
    expect(validateRegistration({ name: 'x'.repeat(64), kubeconfig: 'a' })).toEqual(['name must be at most 63 characters'])
    expect(validateRegistration({ name: 'prod', kubeconfig: 'apiVersion: v1' })).toEqual([])
    expect(splitTags(' eu, gpu ,,x ')).toEqual(['eu', 'gpu', 'x'])
  })

  it('shows local problems without calling the API', async () => {
    const fetch = vi.spyOn(globalThis, 'fetch')
    render(withProviders(<KubeconfigForm onRegistered={() => {}} />, me('admin')))
    fireEvent.click(screen.getByRole('button', { name: 'Register' }))
    expect((await screen.findByRole('alert')).textContent).toContain('name is required')
    expect(fetch).not.toHaveBeenCalled()
  })

  it("shows the API's error verbatim", async () => {
    const message = 'kubeconfig: line 3 column 1: mapping values are not allowed in this context'
    const fetch = vi.spyOn(globalThis, 'fetch').mockResolvedValue(
      new Response(JSON.stringify({ error: { code: 'unprocessable', message, request_id: 'r' } }), {
        status: 422,
        headers: { 'content-type': 'application/json' },
      }),
    )
    const registered = vi.fn()
    render(withProviders(<KubeconfigForm onRegistered={registered} />, me('admin')))
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'prod' } })
    fireEvent.change(screen.getByLabelText('Tags (comma separated)'), { target: { value: 'eu, gpu' } })
    fireEvent.change(screen.getByLabelText('Kubeconfig (YAML)'), { target: { value: 'a: b: c' } })
    fireEvent.click(screen.getByRole('button', { name: 'Register' }))
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe(message))
    expect(registered).not.toHaveBeenCalled()
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe('/api/v1/k8s/clusters')
    expect(JSON.parse(String(init?.body))).toMatchObject({ name: 'prod', tags: ['eu', 'gpu'], kubeconfig: 'a: b: c' })
  })
})

describe('login', () => {
  beforeEach(() => vi.restoreAllMocks())

  it('asks for the organization only when the hub needs it', async () => {
    const message = 'this email and password match users in several organizations (acme, default): log in again with "organization" set to one of them'
    const answers = [
      new Response(JSON.stringify({ error: { code: 'conflict', message, request_id: 'r' } }), {
        status: 409,
        headers: { 'content-type': 'application/json' },
      }),
      new Response(JSON.stringify(me('viewer')), { status: 200, headers: { 'content-type': 'application/json' } }),
    ]
    const fetch = vi.spyOn(globalThis, 'fetch').mockImplementation(async (url) => (String(url).includes('/auth/login') ? answers.shift()! : json({ items: [] })))
    render(withProviders(<Login />))
    expect(screen.queryByLabelText('Organization')).toBeNull()
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'sam@example.com' } })
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'a-long-enough-password' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    await waitFor(() => expect(screen.getByRole('alert').textContent).toBe(message))
    const logins = () => fetch.mock.calls.filter(([url]) => String(url).includes('/auth/login'))
    expect(JSON.parse(String(logins()[0][1]?.body))).toEqual({ email: 'sam@example.com', password: 'a-long-enough-password' })
    fireEvent.change(screen.getByLabelText('Organization'), { target: { value: 'acme' } })
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }))
    await waitFor(() => expect(logins()).toHaveLength(2))
    expect(JSON.parse(String(logins()[1][1]?.body))).toEqual({ email: 'sam@example.com', password: 'a-long-enough-password', organization: 'acme' })
  })

  it('offers each identity provider and says why a single sign-on ended', async () => {
    vi.spyOn(globalThis, 'fetch').mockImplementation(async () => json({ items: [{ id: 'p1', display_name: 'Dex' }] }))
    sessionStorage.setItem(SIGNED_OUT_KEY, 'signed out by your identity provider')
    render(withProviders(<Login />))
    const button = await screen.findByRole('link', { name: 'Sign in with Dex' })
    expect(button.getAttribute('href')).toBe('/api/v1/auth/oidc/p1/login')
    expect(screen.getByRole('alert').textContent).toBe('signed out by your identity provider')
    expect(sessionStorage.getItem(SIGNED_OUT_KEY)).toBeNull()
  })
})

function json(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
}
