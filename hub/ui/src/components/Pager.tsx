// The controls under every server-paged table: which rows are shown out of how many, the way
// to any page (first, previous, next, last), and the list's downloads.
import type { ListState } from '../lib/listState'
import { lastPage } from '../lib/listState'
import { secondaryButtonClass } from './ui'

const count = new Intl.NumberFormat('en-US')

/** "1–50 of 10,000"; "0 of 0" for an empty list. */
export function rangeText(offset: number, shown: number, total: number): string {
  if (total === 0 || shown === 0) return `0 of ${count.format(total)}`
  return `${count.format(offset + 1)}–${count.format(offset + shown)} of ${count.format(total)}`
}

export function Pager({
  label,
  state,
  shown,
  total,
  nextCursor,
}: {
  label: string
  state: Pick<ListState, 'page' | 'limit' | 'offset' | 'setPage' | 'setLastPage'>
  shown: number
  total: number
  /** The hub's cursor for the next page, when the list answers one. */
  nextCursor?: string | null
}) {
  const last = lastPage(total, state.limit)
  const go = (page: number) => () => state.setPage(page)
  const atStart = state.page === 0
  const atEnd = state.page >= last
  return (
    <nav aria-label={`${label} pages`} className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
      <span aria-live="polite" data-testid="pager-range">
        {rangeText(state.offset, shown, total)}
      </span>
      {total > state.limit && (
        <span className="flex flex-wrap gap-1">
          <button type="button" className={secondaryButtonClass} onClick={go(0)} disabled={atStart} aria-label={`First page of ${label}`}>
            « First
          </button>
          <button type="button" className={secondaryButtonClass} onClick={go(state.page - 1)} disabled={atStart} aria-label={`Previous page of ${label}`}>
            ‹ Previous
          </button>
          <span className="self-center px-1">
            Page {count.format(state.page + 1)} of {count.format(last + 1)}
          </span>
          <button type="button" className={secondaryButtonClass} onClick={() => state.setPage(state.page + 1, nextCursor)} disabled={atEnd} aria-label={`Next page of ${label}`}>
            Next ›
          </button>
          <button type="button" className={secondaryButtonClass} onClick={() => state.setLastPage(last, total - last * state.limit)} disabled={atEnd} aria-label={`Last page of ${label}`}>
            Last »
          </button>
        </span>
      )}
    </nav>
  )
}

/**
 * CSV and JSON downloads of a whole list: plain links, so the browser streams the file.
 * Nothing while the hub has no download of the list (`urls` is `null`).
 */
export function ExportLinks({ label, urls }: { label: string; urls: { csv: string; json: string } | null }) {
  if (!urls) return null
  return (
    <span className="flex gap-1" role="group" aria-label={`Export ${label}`}>
      <a className={secondaryButtonClass} href={urls.csv} download aria-label={`Export ${label} as CSV`}>
        CSV
      </a>
      <a className={secondaryButtonClass} href={urls.json} download aria-label={`Export ${label} as JSON`}>
        JSON
      </a>
    </span>
  )
}
