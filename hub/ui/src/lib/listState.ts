// A table's place in its list (page, sort, filter text), kept in the URL so a reload, the
// back button and a shared link show the same rows. Several tables share one page, so each
// names its parameters with its own prefix (`ns.page`, `pods.sort`…); first-page and default
// values stay out of the URL.
//
// Moving to the next page also keeps the hub's cursor for it in the history entry (not the
// URL, where it would be opaque noise): the hub then seeks to the page by key instead of
// skipping `offset` rows, so page 200 reached page by page costs what page 1 costs. The last
// page reached with Last is read from the list's end (the hub reads the reverse order's first
// rows), so it costs the same; a page opened from a link is read by offset.
import { useCallback } from 'react'
import { useLocation, useSearchParams } from 'react-router'

/** Rows per server page: one screen, so the first paint never waits for a long list. */
export const PAGE_SIZE = 50

export interface ListState {
  /** 0-based page. */
  page: number
  sort: string
  q: string
  limit: number
  offset: number
  /** The hub's cursor for this page, when it was reached with Next. */
  cursor: string | null
  /** The rows of this page when it is the last, reached with Last: read from the list's end. */
  fromEnd: number | null
  /** Moves to `page`; `cursor` is the hub's for it (the `next_cursor` of the page before). */
  setPage: (page: number, cursor?: string | null) => void
  /** Moves to `page`, the last, of `rows` rows, read from the list's end. */
  setLastPage: (page: number, rows: number) => void
  setSort: (sort: string) => void
  /** New filter text starts again at the first page. */
  setQ: (q: string) => void
}

/** The page index in `raw`, or 0 for anything that is not a whole number of at least 1. */
export function parsePage(raw: string | null): number {
  const n = Number(raw)
  return Number.isInteger(n) && n >= 1 ? n - 1 : 0
}

/** The last 0-based page of `total` rows (0 for an empty list). */
export function lastPage(total: number, limit = PAGE_SIZE): number {
  return Math.max(0, Math.ceil(total / limit) - 1)
}

/** `params` with `key` set to `value`, or removed when `value` is the default (empty). */
export function withParam(params: URLSearchParams, key: string, value: string): URLSearchParams {
  const next = new URLSearchParams(params)
  if (value) next.set(key, value)
  else next.delete(key)
  return next
}

/** What the history entry holds per table: the cursor of the page it shows, or for the last
 * page its row count. */
type Cursors = Record<string, { page: number; cursor?: string; fromEnd?: number } | undefined>

export function useListState(prefix: string, defaultSort = ''): ListState {
  const [params, setParams] = useSearchParams()
  const location = useLocation()
  const key = (name: string) => `${prefix}.${name}`
  const page = parsePage(params.get(key('page')))
  const sort = params.get(key('sort')) ?? defaultSort
  const q = params.get(key('q')) ?? ''
  const cursors = ((location.state as { cursors?: Cursors } | null)?.cursors ?? {}) as Cursors
  const kept = cursors[prefix]
  // Paging and typing replace the history entry; a new order pushes one, so the back button
  // returns to the order before it.
  const update = useCallback(
    (changes: Record<string, string>, cursor?: { page: number; cursor?: string; fromEnd?: number }, push = false) =>
      setParams((current) => Object.entries(changes).reduce((p, [k, v]) => withParam(p, `${prefix}.${k}`, v), current), {
        replace: !push,
        state: { cursors: { ...cursors, [prefix]: cursor } },
      }),
    [prefix, setParams, cursors],
  )
  return {
    page,
    sort,
    q,
    limit: PAGE_SIZE,
    offset: page * PAGE_SIZE,
    cursor: (kept && kept.page === page && kept.cursor) || null,
    fromEnd: (kept && kept.page === page && kept.fromEnd) || null,
    setPage: (p, cursor) => update({ page: p > 0 ? String(p + 1) : '' }, cursor ? { page: p, cursor } : undefined),
    setLastPage: (p, rows) => update({ page: p > 0 ? String(p + 1) : '' }, { page: p, fromEnd: rows }),
    setSort: (s) => update({ sort: s === defaultSort ? '' : s, page: '' }, undefined, true),
    setQ: (text) => update({ q: text, page: '' }),
  }
}
