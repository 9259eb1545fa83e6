// Small shared pieces: badges, panels, tables, loading and error states.
import type { ReactNode } from 'react'
import { Link } from 'react-router'
import { ApiError } from '../lib/api'
import { useIsAdmin } from '../lib/queries'
import { ariaSort, headerSort, type TableSort } from '../lib/sortHeaders'

const badgeColors = {
  gray: 'bg-gray-100 text-gray-800 dark:bg-gray-800 dark:text-gray-100',
  blue: 'bg-blue-100 text-blue-900 dark:bg-blue-950 dark:text-blue-100',
  purple: 'bg-purple-100 text-purple-900 dark:bg-purple-950 dark:text-purple-100',
  green: 'bg-green-100 text-green-900 dark:bg-green-950 dark:text-green-100',
  yellow: 'bg-yellow-100 text-yellow-900 dark:bg-yellow-950 dark:text-yellow-100',
  red: 'bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-100',
}

export function Badge({ color = 'gray', children, title }: { color?: keyof typeof badgeColors; children: ReactNode; title?: string }) {
  return (
    <span title={title} className={`inline-flex items-center rounded px-2 py-0.5 text-xs font-medium ${badgeColors[color]}`}>
      {children}
    </span>
  )
}

export function Panel({ title, children, actions, id }: { title: string; children: ReactNode; actions?: ReactNode; id?: string }) {
  return (
    <section id={id} aria-label={title} className="scroll-mt-4 rounded-lg border border-gray-200 bg-white p-4 shadow-sm dark:border-gray-700 dark:bg-gray-900">
      <div className="mb-3 flex flex-wrap items-center justify-between gap-2">
        <h2 className="text-lg font-semibold">{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  )
}

export function Loading({ what }: { what: string }) {
  return <p role="status" className="text-gray-600 dark:text-gray-300">Loading {what}…</p>
}

export function ErrorBox({ error }: { error: unknown }) {
  const message = error instanceof ApiError || error instanceof Error ? error.message : String(error)
  return (
    <p role="alert" className="rounded border border-red-300 bg-red-50 p-3 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
      {message}
    </p>
  )
}

/** A header cell: a button that sorts when the table sorts by its column (`aria-sort` says
 * which way the rows are), plain text otherwise. */
function HeadCell({ label, sort }: { label: string; sort?: TableSort }) {
  const column = sort?.columns[label]
  if (!sort || !column) {
    return (
      <th scope="col" className="px-2 py-2 font-medium">
        {label}
      </th>
    )
  }
  const state = ariaSort(sort.current, column)
  const arrow = state === 'ascending' ? ' ↑' : state === 'descending' ? ' ↓' : ''
  return (
    <th scope="col" className="px-2 py-2 font-medium" aria-sort={state}>
      <button type="button" className="inline-flex items-center gap-1 font-medium hover:underline" onClick={() => sort.onSort(headerSort(sort.current, column))}>
        {label}
        <span aria-hidden="true">{arrow}</span>
      </button>
    </th>
  )
}

/** `busy`: the rows shown are the previous page's while the next one loads. `sort`: the
 * headers that sort the list on the server. */
export function Table({
  caption,
  head,
  children,
  empty,
  busy,
  sort,
}: {
  caption: string
  head: string[]
  children: ReactNode
  empty?: boolean
  busy?: boolean
  sort?: TableSort
}) {
  return (
    <div className={`overflow-x-auto transition-opacity ${busy ? 'opacity-60' : ''}`} aria-busy={busy || undefined}>
      <table className="w-full text-left text-sm">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr className="border-b border-gray-200 text-gray-600 dark:border-gray-700 dark:text-gray-300">
            {head.map((h) => (
              <HeadCell key={h} label={h} sort={sort} />
            ))}
          </tr>
        </thead>
        <tbody>
          {empty ? (
            <tr>
              <td colSpan={head.length} className="px-2 py-3 text-gray-600 dark:text-gray-300">
                None.
              </td>
            </tr>
          ) : (
            children
          )}
        </tbody>
      </table>
    </div>
  )
}

export const rowClass = 'border-b border-gray-100 last:border-0 dark:border-gray-800'
export const cellClass = 'px-2 py-2'
export const linkClass = 'text-blue-700 underline underline-offset-2 hover:text-blue-900 dark:text-blue-300 dark:hover:text-blue-200'
export const buttonClass =
  'inline-flex items-center gap-1 rounded-md bg-blue-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-blue-800 disabled:opacity-50'
export const secondaryButtonClass =
  'inline-flex items-center gap-1 rounded-md border border-gray-300 bg-white px-3 py-1.5 text-sm font-medium text-gray-900 hover:bg-gray-50 dark:border-gray-600 dark:bg-gray-800 dark:text-gray-100 dark:hover:bg-gray-700'
export const dangerButtonClass =
  'inline-flex items-center gap-1 rounded-md bg-red-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-red-800 disabled:opacity-50'
export const inputClass =
  'w-full rounded-md border border-gray-300 bg-white px-3 py-1.5 text-sm text-gray-900 dark:border-gray-600 dark:bg-gray-800 dark:text-gray-100'

/** Renders its children for admins only: viewers never see mutating controls. */
export function AdminOnly({ children }: { children: ReactNode }) {
  return useIsAdmin() ? <>{children}</> : null
}

/** Where a page sits: Clusters / its cluster (when known) / the rest of the trail. */
export function Breadcrumb({ clusterId, trail }: { clusterId?: string | null; trail: string[] }) {
  return (
    <nav aria-label="Breadcrumb" className="text-sm">
      <Link className={linkClass} to="/admin/kubernetes">
        Clusters
      </Link>
      {clusterId && (
        <>
          {' / '}
          <Link className={linkClass} to={`/admin/kubernetes/clusters/${clusterId}`}>
            cluster
          </Link>
        </>
      )}
      {trail.map((t, i) => (
        <span key={i}> / {t}</span>
      ))}
    </nav>
  )
}
