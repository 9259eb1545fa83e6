import { describe, expect, it } from 'vitest'
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { MemoryRouter, Route, Routes, useLocation } from 'react-router'
import { ApiError } from '../lib/api'
import type { SearchHit, SearchPage as Answer } from '../lib/api'
import { queryKeys } from '../lib/queries'
import { addTerm, facetTerm, groupByKind, hitRoute, removeTerm, splitTerms } from '../lib/searchQuery'
import { SearchPage, QueryError } from '../pages/Search'
import { SearchBox, SUGGESTIONS, isPaletteKey } from './SearchBox'

const hit = (kind: string, name: string, over: Partial<SearchHit> = {}): SearchHit => ({
  kind,
  id: `${kind}-${name}`,
  cluster_id: 'c1',
  cluster_name: 'prod-eu',
  namespace: kind === 'cluster' ? '' : 'payments',
  name,
  status: '',
  labels: {},
  link: `/admin/kubernetes/${kind}s/${kind}-${name}`,
  ...over,
})

function Where() {
  const location = useLocation()
  return <output data-testid="where">{location.pathname + location.search}</output>
}

/** The app's routes that matter here, with answers already in the cache (nothing is fetched). */
function withAnswers(at: string, answers: [readonly unknown[], Answer][], children: React.ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: Infinity } } })
  for (const [key, answer] of answers) client.setQueryData(key, answer)
  return (
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[at]}>
        {children}
        <Routes>
          <Route path="*" element={<Where />} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>
  )
}

describe('search query terms', () => {
  it('split at spaces outside quotes', () => {
    expect(splitTerms(' payments  kind:pod -label:tier=batch "two words" cluster:"a b" ')).toEqual([
      'payments',
      'kind:pod',
      '-label:tier=batch',
      '"two words"',
      'cluster:"a b"',
    ])
    expect(splitTerms('')).toEqual([])
  })
  it('drop one term, or add a facet term once', () => {
    expect(removeTerm('payments kind:pod "a b"', 1)).toBe('payments "a b"')
    expect(addTerm('payments', facetTerm('status', 'CrashLoopBackOff', 'CrashLoopBackOff'))).toBe('payments status:CrashLoopBackOff')
    expect(addTerm('payments kind:pod', 'kind:pod')).toBe('payments kind:pod')
    expect(facetTerm('cluster', 'uuid-1', 'prod eu')).toBe('cluster:"prod eu"')
    expect(facetTerm('namespace', 'payments', 'payments')).toBe('ns:payments')
  })
  it('group hits by kind in the order they come, and open namespaces with their title', () => {
    const hits = [hit('pod', 'a'), hit('namespace', 'payments'), hit('pod', 'b')]
    expect(groupByKind(hits).map(([kind, g]) => [kind, g.map((h) => h.name)])).toEqual([
      ['pod', ['a', 'b']],
      ['namespace', ['payments']],
    ])
    expect(hitRoute(hits[1])).toBe('/admin/kubernetes/namespaces/namespace-payments?cluster=c1&name=payments')
    expect(hitRoute(hits[0])).toBe('/admin/kubernetes/pods/pod-a')
  })
})

describe('SearchBox', () => {
  const answer: Answer = {
    items: [hit('pod', 'payments-1'), hit('namespace', 'payments'), hit('pod', 'payments-2')],
    facets: { kind: [], cluster: [], namespace: [], status: [] },
    total: 3,
    total_is_estimate: false,
    next_cursor: null,
  }
  it('opens with Ctrl-K or ⌘K only', () => {
    expect(isPaletteKey({ key: 'k', ctrlKey: true, metaKey: false })).toBe(true)
    expect(isPaletteKey({ key: 'K', ctrlKey: false, metaKey: true })).toBe(true)
    expect(isPaletteKey({ key: 'k', ctrlKey: false, metaKey: false })).toBe(false)
  })
  it('shows results as you type, grouped by kind, and opens one with the keyboard', async () => {
    render(withAnswers('/admin/kubernetes', [[queryKeys.search('payments', SUGGESTIONS, null), answer]], <SearchBox />))
    const box = screen.getByRole('combobox', { name: 'Search the fleet' })
    act(() => {
      fireEvent.keyDown(window, { key: 'k', ctrlKey: true })
    })
    expect(document.activeElement).toBe(box)
    fireEvent.change(box, { target: { value: 'payments' } })
    await waitFor(() => expect(screen.getAllByTestId('search-suggestion')).toHaveLength(3))
    const listbox = screen.getByRole('listbox', { name: 'Search results' })
    expect(within(listbox).getAllByRole('group').map((g) => g.getAttribute('aria-label'))).toEqual(['pod', 'namespace'])
    expect(screen.getByRole('option', { name: 'All 3 results for “payments”' })).toBeTruthy()
    fireEvent.keyDown(box, { key: 'ArrowDown' })
    fireEvent.keyDown(box, { key: 'ArrowDown' })
    fireEvent.keyDown(box, { key: 'ArrowDown' })
    expect(box.getAttribute('aria-activedescendant')).toBe(screen.getAllByRole('option')[2].id)
    fireEvent.keyDown(box, { key: 'Enter' })
    expect(screen.getByTestId('where').textContent).toBe('/admin/kubernetes/namespaces/namespace-payments?cluster=c1&name=payments')
  })
  it('opens the results page on Enter without a chosen result', () => {
    render(withAnswers('/admin/kubernetes', [], <SearchBox />))
    const box = screen.getByRole('combobox', { name: 'Search the fleet' })
    fireEvent.change(box, { target: { value: 'kind:pod payments' } })
    fireEvent.keyDown(box, { key: 'Enter' })
    expect(screen.getByTestId('where').textContent).toBe('/admin/kubernetes/search?q=kind%3Apod+payments')
  })
})

describe('SearchPage', () => {
  const answer: Answer = {
    items: [hit('pod', 'payments-1', { status: 'CrashLoopBackOff', labels: { app: 'payments' } }), hit('deployment', 'payments', { cluster_name: 'prod-us' })],
    facets: {
      kind: [
        { value: 'pod', label: 'pod', count: 40 },
        { value: 'deployment', label: 'deployment', count: 3 },
      ],
      cluster: [{ value: 'c1', label: 'prod-eu', count: 20 }],
      namespace: [],
      status: [{ value: 'CrashLoopBackOff', label: 'CrashLoopBackOff', count: 7 }],
    },
    total: 123,
    total_is_estimate: false,
    next_cursor: 'next-1',
  }
  const at = '/admin/kubernetes/search?q=payments'
  const page = () => render(withAnswers(at, [[queryKeys.search('payments', 50, null), answer]], <SearchPage />))
  it('lists the matches with facets, the range and downloads of every match', () => {
    page()
    const rows = screen.getAllByTestId('search-result')
    expect(rows.map((r) => r.getAttribute('data-cluster'))).toEqual(['prod-eu', 'prod-us'])
    expect(rows[0].textContent).toContain('CrashLoopBackOff')
    expect(rows[0].textContent).toContain('app=payments')
    expect(screen.getByTestId('pager-range').textContent).toBe('1–2 of 123')
    expect(screen.getByRole('link', { name: 'Export results as CSV' }).getAttribute('href')).toBe('/api/v1/k8s/search/export?q=payments&format=csv')
    expect(screen.getByRole('link', { name: 'Export results as JSON' }).getAttribute('href')).toBe('/api/v1/k8s/search/export?q=payments&format=json')
  })
  it('narrows by a facet into the query string, and chips take terms out', () => {
    page()
    fireEvent.click(screen.getByRole('button', { name: 'Only status CrashLoopBackOff (7)' }))
    expect(screen.getByTestId('where').textContent).toBe('/admin/kubernetes/search?q=payments+status%3ACrashLoopBackOff')
    expect(screen.getAllByTestId('chip').map((c) => c.textContent)).toEqual(['payments×', 'status:CrashLoopBackOff×'])
    fireEvent.click(screen.getByRole('button', { name: 'Remove filter payments' }))
    expect(screen.getByTestId('where').textContent).toBe('/admin/kubernetes/search?q=status%3ACrashLoopBackOff')
  })
  it('pages forward by cursor and back', () => {
    page()
    fireEvent.click(screen.getByRole('button', { name: 'Next ›' }))
    expect(screen.getByTestId('where').textContent).toBe('/admin/kubernetes/search?q=payments&cursor=next-1')
    // The first page stays on screen while the next one loads; "Previous" leads back to it.
    fireEvent.click(screen.getByRole('button', { name: '‹ Previous' }))
    expect(screen.getByTestId('where').textContent).toBe('/admin/kubernetes/search?q=payments')
  })
})

describe('QueryError', () => {
  it('says what is wrong and points at the character', () => {
    const error = new ApiError(400, 'bad_query', 'unknown key "colour" at character 10', 10)
    render(<QueryError q="payments colour:red" error={error} />)
    expect(screen.getByRole('alert').textContent).toContain('unknown key "colour" at character 10')
    expect(screen.getByTestId('query-caret').textContent).toBe('payments colour:red\n         ^')
  })
  it('shows other failures as they are', () => {
    render(<QueryError q="x" error={new ApiError(500, 'internal', 'the store is down')} />)
    expect(screen.getByRole('alert').textContent).toBe('the store is down')
  })
})
