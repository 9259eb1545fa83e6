import { describe, expect, it, vi } from 'vitest'
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { MemoryRouter, useLocation, useNavigate } from 'react-router'
import { useListState } from '../lib/listState'
import { ExportLinks, Pager } from './Pager'
import { ListControls } from './ListControls'
import { Table } from './ui'
import { tableSort } from '../lib/tableSorts'
import { useScrollToHash } from '../lib/scroll'
import { Chips } from './Chips'
import { FleetGroups } from './Fleet'
import type { FleetGroup } from '../lib/api'

function Where() {
  const location = useLocation()
  return <output data-testid="where">{location.search}</output>
}

function PagedList({ total }: { total: number }) {
  const state = useListState('ns')
  const shown = Math.max(0, Math.min(state.limit, total - state.offset))
  return (
    <>
      <Pager label="namespaces" state={state} shown={shown} total={total} nextCursor={`after-${state.offset + shown}`} />
      <Where />
      <output data-testid="cursor">{state.cursor ?? 'none'}</output>
      <output data-testid="from-end">{state.fromEnd ?? 'none'}</output>
    </>
  )
}

describe('Pager', () => {
  it('pages a 10,000-row list to its last row, with the page in the URL', () => {
    render(
      <MemoryRouter initialEntries={['/c?keep=1']}>
        <PagedList total={10_000} />
      </MemoryRouter>,
    )
    expect(screen.getByTestId('pager-range').textContent).toBe('1–50 of 10,000')
    expect((screen.getByRole('button', { name: 'First page of namespaces' }) as HTMLButtonElement).disabled).toBe(true)
    fireEvent.click(screen.getByRole('button', { name: 'Last page of namespaces' }))
    expect(screen.getByTestId('pager-range').textContent).toBe('9,951–10,000 of 10,000')
    expect(screen.getByTestId('where').textContent).toBe('?keep=1&ns.page=200')
    expect((screen.getByRole('button', { name: 'Next page of namespaces' }) as HTMLButtonElement).disabled).toBe(true)
    fireEvent.click(screen.getByRole('button', { name: 'Previous page of namespaces' }))
    expect(screen.getByTestId('where').textContent).toBe('?keep=1&ns.page=199')
    fireEvent.click(screen.getByRole('button', { name: 'First page of namespaces' }))
    expect(screen.getByTestId('where').textContent).toBe('?keep=1')
  })
  it('reaches the next page by the hub\'s cursor, any other by offset', () => {
    render(
      <MemoryRouter initialEntries={['/c']}>
        <PagedList total={10_000} />
      </MemoryRouter>,
    )
    expect(screen.getByTestId('cursor').textContent).toBe('none')
    fireEvent.click(screen.getByRole('button', { name: 'Next page of namespaces' }))
    expect(screen.getByTestId('where').textContent).toBe('?ns.page=2')
    expect(screen.getByTestId('cursor').textContent).toBe('after-50')
    fireEvent.click(screen.getByRole('button', { name: 'Next page of namespaces' }))
    expect(screen.getByTestId('cursor').textContent).toBe('after-100')
    fireEvent.click(screen.getByRole('button', { name: 'Previous page of namespaces' }))
    expect(screen.getByTestId('where').textContent).toBe('?ns.page=2')
    expect(screen.getByTestId('cursor').textContent).toBe('none')
    fireEvent.click(screen.getByRole('button', { name: 'Last page of namespaces' }))
    expect(screen.getByTestId('cursor').textContent).toBe('none')
    expect(screen.getByTestId('from-end').textContent).toBe('50')
    expect(screen.getByTestId('where').textContent).toBe('?ns.page=200')
    fireEvent.click(screen.getByRole('button', { name: 'Previous page of namespaces' }))
    expect(screen.getByTestId('from-end').textContent).toBe('none')
  })
  it('reads a short last page from the end with its own row count', () => {
    render(
      <MemoryRouter initialEntries={['/c']}>
        <PagedList total={1_007} />
      </MemoryRouter>,
    )
    fireEvent.click(screen.getByRole('button', { name: 'Last page of namespaces' }))
    expect(screen.getByTestId('from-end').textContent).toBe('7')
    expect(screen.getByTestId('pager-range').textContent).toBe('1,001–1,007 of 1,007')
  })
  it('starts where the URL says and shows no buttons for one page', () => {
    const { unmount } = render(
      <MemoryRouter initialEntries={['/c?ns.page=3']}>
        <PagedList total={1_000} />
      </MemoryRouter>,
    )
    expect(screen.getByTestId('pager-range').textContent).toBe('101–150 of 1,000')
    expect(screen.getByText('Page 3 of 20')).toBeTruthy()
    unmount()
    render(
      <MemoryRouter>
        <PagedList total={7} />
      </MemoryRouter>,
    )
    expect(screen.getByTestId('pager-range').textContent).toBe('1–7 of 7')
    expect(screen.queryByRole('button')).toBeNull()
  })
})

function ControlledList({ takes }: { takes: { sort: boolean; q: boolean } }) {
  const state = useListState('ns')
  const sorts: [string, string][] = [
    ['name', 'Name'],
    ['-pods', 'Most pods'],
  ]
  return (
    <>
      <ListControls label="namespaces" state={state} takes={takes} sorts={sorts} />
      <Where />
    </>
  )
}

describe('ListControls', () => {
  it('filters and sorts through the URL, back to the first page', async () => {
    render(
      <MemoryRouter initialEntries={['/c?ns.page=4']}>
        <ControlledList takes={{ sort: true, q: true }} />
      </MemoryRouter>,
    )
    fireEvent.change(screen.getByLabelText('Sort namespaces'), { target: { value: '-pods' } })
    expect(screen.getByTestId('where').textContent).toBe('?ns.sort=-pods')
    fireEvent.change(screen.getByLabelText('Filter namespaces'), { target: { value: 'kube' } })
    await waitFor(() => expect(screen.getByTestId('where').textContent).toBe('?ns.sort=-pods&ns.q=kube'))
    fireEvent.change(screen.getByLabelText('Sort namespaces'), { target: { value: 'name' } })
    expect(screen.getByTestId('where').textContent).toBe('?ns.q=kube')
  })
  it('offers nothing for a list the hub neither filters nor sorts', () => {
    render(
      <MemoryRouter>
        <ControlledList takes={{ sort: false, q: false }} />
      </MemoryRouter>,
    )
    expect(screen.queryByRole('combobox')).toBeNull()
    expect(screen.queryByRole('searchbox')).toBeNull()
  })
})

describe('ExportLinks', () => {
  it('links each format for the browser to download, or shows nothing without them', () => {
    const { unmount } = render(<ExportLinks label="pods" urls={{ csv: '/x?format=csv', json: '/x?format=json' }} />)
    const csv = screen.getByRole('link', { name: 'Export pods as CSV' })
    expect(csv.getAttribute('href')).toBe('/x?format=csv')
    expect(csv.hasAttribute('download')).toBe(true)
    expect(screen.getByRole('link', { name: 'Export pods as JSON' }).getAttribute('href')).toBe('/x?format=json')
    unmount()
    const { container } = render(<ExportLinks label="pods" urls={null} />)
    expect(container.innerHTML).toBe('')
  })
})

describe('Chips', () => {
  it('removes one filter or all', () => {
    const onRemove = vi.fn()
    const onClear = vi.fn()
    const chips = [
      { id: 'environment', text: 'environment: production' },
      { id: 'tag', text: 'tag: gpu' },
    ]
    render(<Chips label="Cluster filters" chips={chips} onRemove={onRemove} onClear={onClear} />)
    fireEvent.click(screen.getByRole('button', { name: 'Remove filter tag: gpu' }))
    expect(onRemove).toHaveBeenCalledWith('tag')
    fireEvent.click(screen.getByRole('button', { name: 'Clear all' }))
    expect(onClear).toHaveBeenCalled()
  })
  it('shows nothing without filters', () => {
    const { container } = render(<Chips label="Cluster filters" chips={[]} onRemove={() => {}} />)
    expect(container.innerHTML).toBe('')
  })
})

describe('FleetGroups', () => {
  const group = (key: string, over: Partial<FleetGroup>): FleetGroup => ({
    key,
    clusters: 812,
    healthy: 800,
    degraded: 10,
    critical: 2,
    unknown: 0,
    nodes: 9000,
    pods: 400_000,
    cost_month_to_date: 1234.56,
    ...over,
  })
  it('rolls up each group and links to the list narrowed to a group', () => {
    render(
      <MemoryRouter>
        <FleetGroups
          by="provider"
          onBy={() => {}}
          groups={[group('eks', {}), group('', { clusters: 3, healthy: 3, degraded: 0, critical: 0 })]}
          linkTo={(key) => `?provider=${key}`}
        />
      </MemoryRouter>,
    )
    const [eks, none] = screen.getAllByTestId('fleet-group')
    for (const text of ['eks', 'critical', '812', '9,000', '400,000', '$1234.56']) expect(eks.textContent).toContain(text)
    expect(none.textContent).toContain('none')
    expect(none.textContent).toContain('healthy')
    expect(within(none).queryByRole('link')).toBeNull()
    expect(within(eks).getByRole('link', { name: 'Show the clusters of provider eks' }).getAttribute('href')).toBe('/?provider=eks')
  })
  it('says when the fleet cannot be read', () => {
    render(<FleetGroups by="tag" onBy={() => {}} error={new Error('no fleet')} linkTo={() => ''} />)
    expect(screen.getByRole('alert').textContent).toBe('no fleet')
  })
})

function Sections({ ready }: { ready: boolean }) {
  useScrollToHash(ready)
  return (
    <>
      <section id="namespaces" />
      <section id="nodes" />
    </>
  )
}

describe('useScrollToHash', () => {
  it('scrolls to the section the fragment names once the page has rendered it', () => {
    const scrolled: string[] = []
    const original = Element.prototype.scrollIntoView
    Element.prototype.scrollIntoView = function (this: Element) {
      scrolled.push(this.id)
    }
    try {
      const { rerender } = render(
        <MemoryRouter initialEntries={['/admin/kubernetes/clusters/c1#nodes']}>
          <Sections ready={false} />
        </MemoryRouter>,
      )
      expect(scrolled).toEqual([])
      rerender(
        <MemoryRouter initialEntries={['/admin/kubernetes/clusters/c1#nodes']}>
          <Sections ready />
        </MemoryRouter>,
      )
      expect(scrolled).toEqual(['nodes'])
    } finally {
      Element.prototype.scrollIntoView = original
    }
  })
})

describe('Table', () => {
  it('marks the previous page\'s rows as busy while the next page loads', () => {
    const { container, rerender } = render(
      <Table caption="Namespaces" head={['Name']} busy>
        <tr>
          <td>ns-00000</td>
        </tr>
      </Table>,
    )
    expect(container.firstElementChild?.getAttribute('aria-busy')).toBe('true')
    rerender(
      <Table caption="Namespaces" head={['Name']}>
        <tr>
          <td>ns-00050</td>
        </tr>
      </Table>,
    )
    expect(container.firstElementChild?.hasAttribute('aria-busy')).toBe(false)
  })
})

function SortedPods() {
  const state = useListState('pods')
  const navigate = useNavigate()
  return (
    <>
      <Table caption="Pods" head={['Name', 'Status', 'Ready', 'Node', 'Restarts']} sort={tableSort('namespacePods', state)}>
        <tr>
          <td>web-0</td>
        </tr>
      </Table>
      <button type="button" onClick={() => navigate(-1)}>
        Back
      </button>
      <Where />
    </>
  )
}

describe('sortable headers', () => {
  const header = (name: string) => screen.getByRole('columnheader', { name: new RegExp(`^${name}`) })
  it('sort on the server through the URL, reverse, and go back with the history', () => {
    render(
      <MemoryRouter initialEntries={['/ns?pods.page=3']}>
        <SortedPods />
      </MemoryRouter>,
    )
    expect(header('Name').getAttribute('aria-sort')).toBe('ascending')
    expect(header('Restarts').getAttribute('aria-sort')).toBe('none')
    // Ready has no order on the hub: plain text, no button.
    expect(header('Ready').getAttribute('aria-sort')).toBeNull()
    expect(within(header('Ready')).queryByRole('button')).toBeNull()
    fireEvent.click(within(header('Restarts')).getByRole('button'))
    expect(screen.getByTestId('where').textContent).toBe('?pods.sort=-restarts')
    expect(header('Restarts').getAttribute('aria-sort')).toBe('descending')
    expect(header('Name').getAttribute('aria-sort')).toBe('none')
    fireEvent.click(within(header('Restarts')).getByRole('button'))
    expect(screen.getByTestId('where').textContent).toBe('?pods.sort=restarts')
    expect(header('Restarts').getAttribute('aria-sort')).toBe('ascending')
    fireEvent.click(screen.getByRole('button', { name: 'Back' }))
    expect(screen.getByTestId('where').textContent).toBe('?pods.sort=-restarts')
    fireEvent.click(screen.getByRole('button', { name: 'Back' }))
    expect(screen.getByTestId('where').textContent).toBe('?pods.page=3')
    expect(header('Name').getAttribute('aria-sort')).toBe('ascending')
  })
  it('start from the order in the URL', () => {
    render(
      <MemoryRouter initialEntries={['/ns?pods.sort=-node']}>
        <SortedPods />
      </MemoryRouter>,
    )
    expect(header('Node').getAttribute('aria-sort')).toBe('descending')
    fireEvent.click(within(header('Node')).getByRole('button'))
    expect(screen.getByTestId('where').textContent).toBe('?pods.sort=node')
    fireEvent.click(within(header('Name')).getByRole('button'))
    expect(screen.getByTestId('where').textContent).toBe('')
  })
})
