// /admin/kubernetes/search?q=…: every match of a query across the fleet, with facets to narrow
// it, its terms as removable chips, cursor paging and downloads. The URL holds the query (and
// the page's cursor), so the view is a link to share; chips and facets edit the query string.
import { useState, type FormEvent } from 'react'
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router'
import { ApiError } from '../lib/api'
import type { Facet, FacetName } from '../lib/api'
import { PAGE_SIZE } from '../lib/listState'
import { searchExportUrls, useSearch } from '../lib/queries'
import { addTerm, facetTerm, hitRoute, removeTerm, splitTerms, totalText } from '../lib/searchQuery'
import { Chips } from '../components/Chips'
import { ExportLinks, rangeText } from '../components/Pager'
import { Badge, ErrorBox, Loading, Panel, Table, buttonClass, cellClass, inputClass, linkClass, rowClass, secondaryButtonClass } from '../components/ui'

const FACETS: [FacetName, string][] = [
  ['kind', 'Kind'],
  ['cluster', 'Cluster'],
  ['namespace', 'Namespace'],
  ['status', 'Status'],
]

/** The hub's words for a query it cannot read, with a caret under the character at fault. */
export function QueryError({ q, error }: { q: string; error: unknown }) {
  if (!(error instanceof ApiError) || error.code !== 'bad_query') return <ErrorBox error={error} />
  const at = error.position
  return (
    <div role="alert" className="rounded border border-red-300 bg-red-50 p-3 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
      <p>{error.message}</p>
      {at != null && at >= 1 && (
        <pre className="mt-2 overflow-x-auto text-sm" aria-label={`The problem is at character ${at}`} data-testid="query-caret">
          {q}
          {'\n'}
          {' '.repeat(at - 1)}^
        </pre>
      )}
    </div>
  )
}

function FacetList({ name, title, facets, onPick }: { name: FacetName; title: string; facets: Facet[]; onPick: (name: FacetName, f: Facet) => void }) {
  if (facets.length === 0) return null
  return (
    <section aria-label={`${title} facet`}>
      <h3 className="mb-1 text-sm font-semibold">{title}</h3>
      <ul className="space-y-0.5 text-sm">
        {facets.map((f) => (
          <li key={f.value} className="flex justify-between gap-2">
            <button type="button" className={`${linkClass} truncate text-left`} onClick={() => onPick(name, f)} aria-label={`Only ${title.toLowerCase()} ${f.label} (${f.count})`}>
              {f.label}
            </button>
            <span className="text-gray-600 dark:text-gray-300">{f.count.toLocaleString('en-US')}</span>
          </li>
        ))}
      </ul>
    </section>
  )
}

export function SearchPage() {
  const [params, setParams] = useSearchParams()
  const navigate = useNavigate()
  const location = useLocation()
  const q = params.get('q') ?? ''
  const cursor = params.get('cursor')
  // Cursors of the pages before this one, for "Previous": kept in the history entry, since a
  // cursor only leads forward.
  const behind: string[] = (location.state as { behind?: string[] } | null)?.behind ?? []
  const [draft, setDraft] = useState(q)
  const [shownQ, setShownQ] = useState(q)
  if (q !== shownQ) {
    setShownQ(q)
    setDraft(q)
  }
  const results = useSearch(q, { limit: PAGE_SIZE, cursor })
  const setQuery = (next: string) => setParams(next.trim() ? { q: next.trim() } : {})
  const submit = (e: FormEvent) => {
    e.preventDefault()
    setQuery(draft)
  }
  const toPage = (nextCursor: string | null, nextBehind: string[]) => {
    const p = new URLSearchParams({ q })
    if (nextCursor) p.set('cursor', nextCursor)
    navigate(`?${p}`, { state: { behind: nextBehind } })
  }
  const page = results.data
  const offset = behind.length * PAGE_SIZE
  const terms = splitTerms(q)
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-bold">Search</h1>
      <form onSubmit={submit} className="flex flex-wrap gap-2" role="search" aria-label="Search the fleet">
        <label htmlFor="search-query" className="sr-only">
          Query
        </label>
        <input
          id="search-query"
          className={`${inputClass} flex-1`}
          type="search"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          placeholder='payments kind:pod status:CrashLoopBackOff label:app=web cluster:prod-*'
        />
        <button type="submit" className={buttonClass}>
          Search
        </button>
      </form>
      <p className="text-sm text-gray-600 dark:text-gray-300">
        Terms combine with AND: free text, <code>kind:</code>, <code>cluster:</code>, <code>ns:</code>, <code>label:k=v</code>, <code>status:</code>,{' '}
        <code>health:</code>, <code>node:</code>, <code>image:</code>, <code>env:</code>, <code>provider:</code>; <code>-</code> negates, <code>*</code> matches any text,
        quotes keep phrases.
      </p>
      <Chips label="Query terms" chips={terms.map((t, i) => ({ id: String(i), text: t }))} onRemove={(i) => setQuery(removeTerm(q, Number(i)))} onClear={() => setQuery('')} />
      {!q.trim() && <p>Type a query to search every cluster.</p>}
      {q.trim() && results.isPending && <Loading what="results" />}
      {q.trim() && results.error && <QueryError q={q} error={results.error} />}
      {page && q.trim() && (
        <div className="grid grid-cols-1 gap-6 lg:grid-cols-[14rem_1fr]">
          <aside className="space-y-4" aria-label="Facets">
            {FACETS.map(([name, title]) => (
              <FacetList key={name} name={name} title={title} facets={page.facets[name] ?? []} onPick={(n, f) => setQuery(addTerm(q, facetTerm(n, f.value, f.label)))} />
            ))}
          </aside>
          <Panel title={`Results (${totalText(page.total, page.total_is_estimate)})`} actions={<ExportLinks label="results" urls={searchExportUrls(q)} />}>
            <Table caption={`Results for ${q}`} busy={results.isPlaceholderData} head={['Kind', 'Name', 'Cluster', 'Namespace', 'Status', 'Labels']} empty={page.items.length === 0}>
              {page.items.map((hit) => (
                <tr key={`${hit.kind}/${hit.id}`} className={rowClass} data-testid="search-result" data-kind={hit.kind} data-cluster={hit.cluster_name}>
                  <td className={cellClass}>
                    <Badge>{hit.kind}</Badge>
                  </td>
                  <td className={cellClass}>
                    <Link className={linkClass} to={hitRoute(hit)}>
                      {hit.name}
                    </Link>
                  </td>
                  <td className={cellClass}>{hit.cluster_name}</td>
                  <td className={cellClass}>{hit.namespace || '—'}</td>
                  <td className={cellClass}>{hit.status || '—'}</td>
                  <td className={`${cellClass} break-all text-xs`}>
                    {Object.entries(hit.labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')}
                  </td>
                </tr>
              ))}
            </Table>
            <nav aria-label="Result pages" className="mt-3 flex flex-wrap items-center justify-between gap-2 text-sm">
              <span aria-live="polite" data-testid="pager-range">
                {page.total_is_estimate && page.items.length > 0 ? `${(offset + 1).toLocaleString('en-US')}–${(offset + page.items.length).toLocaleString('en-US')} of ${totalText(page.total, true)}` : rangeText(offset, page.items.length, page.total)}
              </span>
              {(cursor || page.next_cursor) && (
                <span className="flex gap-1">
                  <button type="button" className={secondaryButtonClass} disabled={!cursor} onClick={() => toPage(null, [])}>
                    « First
                  </button>
                  <button type="button" className={secondaryButtonClass} disabled={behind.length === 0} onClick={() => toPage(behind[behind.length - 1] || null, behind.slice(0, -1))}>
                    ‹ Previous
                  </button>
                  <button type="button" className={secondaryButtonClass} disabled={!page.next_cursor} onClick={() => toPage(page.next_cursor ?? null, [...behind, cursor ?? ''])}>
                    Next ›
                  </button>
                </span>
              )}
            </nav>
          </Panel>
        </div>
      )}
    </div>
  )
}
