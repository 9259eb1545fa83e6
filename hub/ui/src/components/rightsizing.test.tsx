import { describe, expect, it, vi } from 'vitest'
import { fireEvent, render, screen, within } from '@testing-library/react'
import type { Recommendation, RecommendationPage } from '../lib/api'
import { recommendationsCsvUrl } from '../lib/queries'
import { RecommendationTable, daysText, savingText } from './RightSizing'

const MIB = 1 << 20

function line(workload: string, saving: number, days: number): Recommendation {
  return {
    cluster_id: 'c1',
    cluster: 'prod-eu',
    namespace: 'web',
    workload_kind: 'Deployment',
    workload,
    pod_template: '7c9d8f6b5',
    container: 'app',
    replicas: 2,
    cpu_request_millis: 1000,
    cpu_recommended_millis: 500,
    cpu_p95_millis: 400,
    memory_request_bytes: 1024 * MIB,
    memory_recommended_bytes: 640 * MIB,
    memory_peak_bytes: 512 * MIB,
    monthly_saving: saving,
    monthly_saving_nanos: Math.round(saving * 1e9),
    hours_of_data: days * 24,
    days_of_data: days,
  }
}

const page = (items: Recommendation[], next: string | null, total = items.length): RecommendationPage => ({
  window: { start: 1_767_225_600_000, end: 1_767_830_400_000 },
  total,
  items,
  next_cursor: next,
})

describe('RightSizing', () => {
  it('says a saving or an extra cost, and the days of data', () => {
    expect(savingText(31.9375)).toBe('$31.94 saved')
    expect(savingText(-8.714375)).toBe('$8.71 more')
    expect(savingText(0)).toBe('$0.00 saved')
    expect(daysText(1)).toBe('1.0 day')
    expect(daysText(2.5)).toBe('2.5 days')
  })

  it('shows current vs recommended requests, the saving and the confidence per line', () => {
    render(
      <RecommendationTable
        page={page([line('web', 31.9375, 2), line('api', -8.714375, 1)], 'next-1', 120)}
        sort="-saving"
        onSort={() => {}}
        pageIndex={0}
        onPage={() => {}}
        csvUrl={recommendationsCsvUrl('7d', '-saving')}
      />,
    )
    const rows = within(screen.getByRole('table')).getAllByRole('row')
    expect(rows).toHaveLength(3)
    expect(rows[1].textContent).toContain('web (Deployment)')
    expect(rows[1].textContent).toContain('1 → 500m')
    expect(rows[1].textContent).toContain('1 GiB → 640 MiB')
    expect(screen.getAllByTestId('saving').map((c) => c.textContent)).toEqual(['$31.94 saved', '$8.71 more'])
    expect(screen.getAllByTestId('days').map((c) => c.textContent)).toEqual(['2.0 days', '1.0 day'])
    expect(screen.getByTestId('rightsizing-range').textContent).toBe('1–2 of 120')
    const csv = screen.getByRole('link', { name: 'Export right-sizing as CSV' })
    expect(csv.getAttribute('href')).toBe('/api/v1/k8s/costs/recommendations?window=7d&sort=-saving&format=csv')
    expect(csv.hasAttribute('download')).toBe(true)
  })

  it('pages forward while the hub gives a cursor and back from any later page, and flips the sort', () => {
    const onPage = vi.fn()
    const onSort = vi.fn()
    const { rerender } = render(
      <RecommendationTable page={page([line('web', 1, 1)], 'c2', 51)} sort="-saving" onSort={onSort} pageIndex={0} onPage={onPage} csvUrl="x" />,
    )
    expect(screen.getByRole('button', { name: '‹ Previous' })).toHaveProperty('disabled', true)
    fireEvent.click(screen.getByRole('button', { name: 'Next ›' }))
    expect(onPage).toHaveBeenCalledWith(1)
    fireEvent.click(screen.getByRole('button', { name: /Largest saving first/ }))
    expect(onSort).toHaveBeenCalledWith('saving')

    rerender(<RecommendationTable page={page([line('api', -1, 1)], null, 51)} sort="saving" onSort={onSort} pageIndex={1} onPage={onPage} csvUrl="x" />)
    expect(screen.getByTestId('rightsizing-range').textContent).toBe('51–51 of 51')
    expect(screen.getByRole('button', { name: 'Next ›' })).toHaveProperty('disabled', true)
    fireEvent.click(screen.getByRole('button', { name: '‹ Previous' }))
    expect(onPage).toHaveBeenCalledWith(-1)
    fireEvent.click(screen.getByRole('button', { name: /Largest extra cost first/ }))
    expect(onSort).toHaveBeenLastCalledWith('-saving')
  })
})
