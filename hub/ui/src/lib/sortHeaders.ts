// Column headers that sort a server-paged table: a click asks the hub for the column's order,
// a second click for the reverse. The order lives in the table's ListState (the URL), so the
// header shows what the rows on screen were sorted by, whoever set it.

/** What a header sorts by: the API's `sort` key of its column. */
export interface SortColumn {
  /** The API's sort key (`name`, `restarts`…). */
  sort: string
  /** Counts read best largest first (restarts, pods): the first click sorts descending. */
  descendingFirst?: boolean
}

/** A header's state for `aria-sort`. */
export type AriaSort = 'ascending' | 'descending' | 'none'

/** The sort a click on `column`'s header asks for: its first direction, or the other one
 * when the table already sorts that way. */
export function headerSort(current: string, column: SortColumn): string {
  const ascending = column.sort
  const descending = `-${column.sort}`
  const [first, second] = column.descendingFirst ? [descending, ascending] : [ascending, descending]
  return current === first ? second : first
}

/** How a table sorted by `current` reads under `column`'s header. */
export function ariaSort(current: string, column: SortColumn): AriaSort {
  if (current === column.sort) return 'ascending'
  if (current === `-${column.sort}`) return 'descending'
  return 'none'
}

/** The headers of `columns` whose sort the list offers (`sorts`, the API's keys with an
 * optional `-`): a header never offers an order the hub would refuse. */
export function offeredColumns(columns: Record<string, SortColumn>, sorts: [string, string][]): Record<string, SortColumn> {
  const keys = new Set(sorts.map(([value]) => value.replace(/^-/, '')))
  return Object.fromEntries(Object.entries(columns).filter(([, column]) => keys.has(column.sort)))
}

/** A table's sorting: its current order (never empty: the default when the URL has none),
 * the headers that sort, and where a click goes. */
export interface TableSort {
  current: string
  columns: Record<string, SortColumn>
  onSort: (sort: string) => void
}
