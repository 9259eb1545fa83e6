// The Savings page's right-sizing list: per workload container (the replicas of a Deployment
// share one line), the current and recommended CPU and memory requests, the monthly saving of
// all replicas (or the extra cost of an under-requested container) and the days of data behind
// it. The hub sorts by saving and pages by cursor; the CSV download is every line.
import { useState } from 'react'
import type { Recommendation, RecommendationPage } from '../lib/api'
import { bytes, cpu, dollars } from '../lib/format'
import { recommendationsCsvUrl, useRecommendations, type SavingSort } from '../lib/queries'
import { ErrorBox, Loading, Table, cellClass, rowClass, secondaryButtonClass } from './ui'

/** Rows per page of the list. */
const LIMIT = 50

/** The monthly change in words: a saving, or the extra cost of asking for more. */
export function savingText(monthly: number): string {
  if (monthly < 0) return `${dollars(-monthly)} more`
  return `${dollars(monthly)} saved`
}

/** The confidence: days of data, one decimal. */
export function daysText(days: number): string {
  return `${days.toFixed(1)} ${days === 1 ? 'day' : 'days'}`
}

/** "now → recommended", `—` for a missing request. */
function change(now: string, next: string) {
  return `${now} → ${next}`
}

function Row({ line }: { line: Recommendation }) {
  return (
    <tr className={rowClass}>
      <td className={cellClass}>{line.cluster}</td>
      <td className={cellClass}>{line.namespace}</td>
      <td className={cellClass}>
        {line.workload} <span className="text-gray-500 dark:text-gray-400">({line.workload_kind})</span>
      </td>
      <td className={cellClass}>{line.container}</td>
      <td className={cellClass}>{line.replicas}</td>
      <td className={cellClass} title={`p95 ${cpu(line.cpu_p95_millis)}`}>
        {change(cpu(line.cpu_request_millis), cpu(line.cpu_recommended_millis))}
      </td>
      <td className={cellClass} title={`peak ${bytes(line.memory_peak_bytes)}`}>
        {change(bytes(line.memory_request_bytes), bytes(line.memory_recommended_bytes))}
      </td>
      <td className={`${cellClass} ${line.monthly_saving < 0 ? 'text-red-700 dark:text-red-300' : ''}`} data-testid="saving">
        {savingText(line.monthly_saving)}
      </td>
      <td className={cellClass} data-testid="days">
        {daysText(line.days_of_data)}
      </td>
    </tr>
  )
}

/** One page of the list with its sort, paging and download controls. */
export function RecommendationTable({
  page,
  sort,
  onSort,
  pageIndex,
  onPage,
  csvUrl,
}: {
  page: RecommendationPage
  sort: SavingSort
  onSort: (sort: SavingSort) => void
  /** 0-based index of the page shown. */
  pageIndex: number
  /** Moves to the previous page (`-1`) or the next (`+1`). */
  onPage: (step: -1 | 1) => void
  csvUrl: string
}) {
  const first = pageIndex * LIMIT
  return (
    <div>
      <div className="mb-2 flex flex-wrap items-center gap-2">
        <button type="button" className={secondaryButtonClass} onClick={() => onSort(sort === '-saving' ? 'saving' : '-saving')}>
          {sort === '-saving' ? 'Largest saving first ↓' : 'Largest extra cost first ↑'}
        </button>
        <a className={secondaryButtonClass} href={csvUrl} download aria-label="Export right-sizing as CSV">
          CSV
        </a>
      </div>
      <Table
        caption="Right-sizing per workload container"
        head={['Cluster', 'Namespace', 'Workload', 'Container', 'Replicas', 'CPU request', 'Memory request', 'Monthly', 'Data']}
        empty={page.items.length === 0}
      >
        {page.items.map((line) => (
          <Row key={`${line.cluster_id}/${line.namespace}/${line.workload_kind}/${line.workload}/${line.container}`} line={line} />
        ))}
      </Table>
      <nav aria-label="Right-sizing pages" className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
        <span data-testid="rightsizing-range">
          {page.items.length === 0 ? `0 of ${page.total}` : `${first + 1}–${first + page.items.length} of ${page.total}`}
        </span>
        <span className="flex gap-1">
          <button type="button" className={secondaryButtonClass} disabled={pageIndex === 0} onClick={() => onPage(-1)}>
            ‹ Previous
          </button>
          <button type="button" className={secondaryButtonClass} disabled={!page.next_cursor} onClick={() => onPage(1)}>
            Next ›
          </button>
        </span>
      </nav>
    </div>
  )
}

/** The list over `window`: the cursors of the pages visited are kept to go back. */
export function RightSizing({ window }: { window: string }) {
  const [sort, setSort] = useState<SavingSort>('-saving')
  const [cursors, setCursors] = useState<(string | null)[]>([null])
  const cursor = cursors[cursors.length - 1]
  const list = useRecommendations({ window, sort, limit: LIMIT, cursor })
  const onSort = (next: SavingSort) => {
    setSort(next)
    setCursors([null])
  }
  const onPage = (step: -1 | 1) => {
    if (step < 0) setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c))
    else if (list.data?.next_cursor) setCursors((c) => [...c, list.data.next_cursor ?? null])
  }
  return (
    <>
      <p className="mb-2 text-sm text-gray-600 dark:text-gray-300">
        Recommended requests per workload container: CPU at the 95th percentile of hourly usage + 25 %, memory at the peak + 25 %, from at least a day of
        data. The saving is a month at the cluster's unit prices, for every replica.
      </p>
      {list.isPending && <Loading what="recommendations" />}
      {list.error && <ErrorBox error={list.error} />}
      {list.data && (
        <RecommendationTable
          page={list.data}
          sort={sort}
          onSort={onSort}
          pageIndex={cursors.length - 1}
          onPage={onPage}
          csvUrl={recommendationsCsvUrl(window, sort)}
        />
      )}
    </>
  )
}
