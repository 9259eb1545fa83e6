// /admin/kubernetes: the fleet grouped with roll-ups, then the clusters one page of cards at a
// time. Filters, order, grouping and page live in the URL; the hub filters, sorts and pages,
// so the page costs the same at 5 clusters and at 2,000.
import { Link, useSearchParams } from 'react-router'
import type { Cluster } from '../lib/api'
import type { FleetGrouping } from '../lib/api'
import {
  CLUSTER_FILTERS,
  CLUSTER_SORTS,
  ENVIRONMENT_VALUES,
  GROUP_FILTER,
  HEALTH_VALUES,
  chipText,
  filtersFrom,
  clusterTotals,
  fleetTotals,
  type ClusterFilter,
} from '../lib/filters'
import { dollars, providerLabel } from '../lib/format'
import { useListState, withParam } from '../lib/listState'
import { exportUrls, useClusterCostsPerDay, useClusterPage, useFleet } from '../lib/queries'
import { relativeTime, useNow } from '../lib/time'
import { Chips } from '../components/Chips'
import { FleetGroups, GROUPINGS } from '../components/Fleet'
import { FilterField } from '../components/ListControls'
import { HealthBadge } from '../components/HealthBadge'
import { ExportLinks, Pager } from '../components/Pager'
import { AdminOnly, Badge, ErrorBox, Loading, buttonClass, inputClass, linkClass } from '../components/ui'

export function ClusterCard({ cluster, now, costPerDay }: { cluster: Cluster; now: number; costPerDay?: number }) {
  const c = cluster
  return (
    <li className="flex flex-col gap-3 rounded-lg border border-gray-200 bg-white p-4 shadow-sm dark:border-gray-700 dark:bg-gray-900" data-testid="cluster-card" data-cluster={c.name}>
      <div className="flex items-start justify-between gap-2">
        <h2 className="text-lg font-semibold">
          <Link className={linkClass} to={`/admin/kubernetes/clusters/${c.id}`}>
            {c.name}
          </Link>
        </h2>
        <HealthBadge health={c.health} />
      </div>
      {c.description && <p className="text-sm text-gray-600 dark:text-gray-300">{c.description}</p>}
      <div className="flex flex-wrap gap-1">
        <Badge color="blue" title="Provider">{providerLabel(c.provider)}</Badge>
        <Badge color="purple" title="Environment">{c.environment}</Badge>
        <Badge title="Mode">{c.mode}</Badge>
        {!c.enabled && <Badge color="red">disabled</Badge>}
        {c.tags.map((t) => (
          <Badge key={t} title="Tag">#{t}</Badge>
        ))}
      </div>
      <dl className="grid grid-cols-3 gap-2 text-sm">
        <div>
          <dt className="text-gray-600 dark:text-gray-300">Nodes</dt>
          <dd className="font-semibold" data-testid="count-nodes">{c.counts.nodes}</dd>
        </div>
        <div>
          <dt className="text-gray-600 dark:text-gray-300">Pods</dt>
          <dd className="font-semibold" data-testid="count-pods">{c.counts.pods}</dd>
        </div>
        <div>
          <dt className="text-gray-600 dark:text-gray-300">Deployments</dt>
          <dd className="font-semibold">{c.counts.deployments}</dd>
        </div>
        <div>
          <dt className="text-gray-600 dark:text-gray-300">Cost/day</dt>
          <dd className="font-semibold">{dollars(costPerDay)}</dd>
        </div>
        <div className="col-span-2">
          <dt className="text-gray-600 dark:text-gray-300">Last sync</dt>
          <dd className="font-semibold" title={c.last_sync_at ?? undefined}>{relativeTime(c.last_sync_at, now)}</dd>
        </div>
      </dl>
      {c.last_error && (
        <p className="rounded bg-red-50 p-2 text-sm text-red-900 dark:bg-red-950 dark:text-red-100">
          <span className="font-medium">Last error: </span>
          {c.last_error}
        </p>
      )}
    </li>
  )
}

function FilterSelect({ label, value, options, onChange }: { label: string; value: string; options: string[]; onChange: (v: string) => void }) {
  return (
    <label className="text-sm font-medium">
      {label}
      <select className={inputClass} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">All</option>
        {/* A value from the URL stays chosen even where the list of values lacks it. */}
        {(value && !options.includes(value) ? [value, ...options] : options).map((o) => (
          <option key={o} value={o}>{o}</option>
        ))}
      </select>
    </label>
  )
}

const count = new Intl.NumberFormat('en-US')

function groupingFrom(raw: string | null): FleetGrouping {
  return GROUPINGS.find((g) => g === raw) ?? 'environment'
}

export function Dashboard() {
  const [params, setParams] = useSearchParams()
  const list = useListState('clusters', 'name')
  const filters = filtersFrom(params)
  const by = groupingFrom(params.get('group'))
  const clusters = useClusterPage({ ...filters, sort: list.sort }, list)
  const costs = useClusterCostsPerDay()
  const fleet = useFleet(by)
  // Each cluster has exactly one environment: that grouping sums to the fleet.
  const byEnvironment = useFleet('environment')
  const providers = useFleet('provider')
  const tags = useFleet('tag')
  const now = useNow()
  const setFilter = (key: ClusterFilter) => (value: string) =>
    setParams((p) => withParam(withParam(p, key, value), 'clusters.page', ''), { replace: true })
  const clearFilters = () => setParams((p) => CLUSTER_FILTERS.reduce((next, key) => withParam(next, key, ''), withParam(p, 'clusters.page', '')), { replace: true })
  const anyFilter = Object.keys(filters).length > 0
  const page = clusters.data
  // Without the fleet's roll-ups, a fleet that fits on one unfiltered page sums itself.
  const whole = page && !anyFilter && page.items.length === page.total ? page.items : undefined
  const total = byEnvironment.data ? fleetTotals(byEnvironment.data.groups) : whole ? clusterTotals(whole) : undefined
  const unfiltered = anyFilter ? undefined : page?.total
  // The fleet's groups name every value; without them, the values on this page.
  const options = (groups: { key: string }[] | undefined, onPage: (c: Cluster) => (string | null)[]) =>
    [...new Set(groups ? groups.map((g) => g.key) : (page?.items ?? []).flatMap(onPage))].filter((k): k is string => Boolean(k)).sort()
  // Unknown until at least one cluster has a computed hour: "—", not "$0.00".
  const dayCosts = costs.data ? [...costs.data.values()] : []
  const costPerDay = dayCosts.length ? dayCosts.reduce((t, v) => t + v, 0) : undefined
  const empty = page && page.total === 0 && !anyFilter
  const exports = exportUrls.clusters({ ...filters, sort: list.sort })
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 className="text-2xl font-bold">Kubernetes clusters</h1>
        <AdminOnly>
          <Link to="/admin/kubernetes/register" className={buttonClass}>
            Register cluster
          </Link>
        </AdminOnly>
      </div>
      {clusters.isPending && <Loading what="clusters" />}
      {clusters.error && <ErrorBox error={clusters.error} />}
      {empty && (
        <section className="rounded-lg border border-dashed border-gray-300 p-8 text-center dark:border-gray-700">
          <h2 className="text-lg font-semibold">No clusters yet</h2>
          <p className="mt-2 text-gray-600 dark:text-gray-300">
            Add your first cluster: install the agent with Helm (it connects out to the hub), or paste a kubeconfig and the hub pulls the
            inventory itself. Admins do this under “Register cluster”.
          </p>
        </section>
      )}
      {page && !empty && (
        <>
          <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-6" aria-label="Totals">
            {[
              ['Clusters', total ? count.format(total.clusters) : unfiltered != null ? count.format(unfiltered) : '—'],
              ['Healthy', total ? count.format(total.healthy) : '—'],
              ['Need attention', total ? count.format(total.attention) : '—'],
              ['Nodes', total ? count.format(total.nodes) : '—'],
              ['Pods', total ? count.format(total.pods) : '—'],
              ['Cost/day', dollars(costPerDay)],
            ].map(([label, value]) => (
              <div key={label} className="rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-700 dark:bg-gray-900">
                <dt className="text-sm text-gray-600 dark:text-gray-300">{label}</dt>
                <dd className="text-xl font-semibold">{value}</dd>
              </div>
            ))}
          </dl>
          <FleetGroups
            by={by}
            onBy={(g) => setParams((p) => withParam(p, 'group', g === 'environment' ? '' : g), { replace: true })}
            groups={fleet.data?.groups}
            error={fleet.error}
            linkTo={(key) => `?${withParam(withParam(params, GROUP_FILTER[by], key), 'clusters.page', '')}`}
          />
          <form role="search" aria-label="Filter clusters" className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-6" onSubmit={(e) => e.preventDefault()}>
            <FilterField label="Search" placeholder="Name or description" value={filters.search ?? ''} onChange={setFilter('search')} />
            <FilterSelect label="Environment" value={filters.environment ?? ''} options={ENVIRONMENT_VALUES} onChange={setFilter('environment')} />
            <FilterSelect label="Provider" value={filters.provider ?? ''} options={options(providers.data?.groups, (c) => [c.provider ?? null])} onChange={setFilter('provider')} />
            <FilterSelect label="Health" value={filters.health ?? ''} options={HEALTH_VALUES} onChange={setFilter('health')} />
            <FilterSelect label="Tag" value={filters.tag ?? ''} options={options(tags.data?.groups, (c) => c.tags)} onChange={setFilter('tag')} />
            <label className="text-sm font-medium">
              Sort
              <select className={inputClass} value={list.sort} onChange={(e) => list.setSort(e.target.value)}>
                {CLUSTER_SORTS.map(([value, text]) => (
                  <option key={value} value={value}>{text}</option>
                ))}
              </select>
            </label>
          </form>
          {(anyFilter || exports) && (
            <div className="flex flex-wrap items-center justify-between gap-2">
              <Chips
                label="Cluster filters"
                chips={Object.entries(filters).map(([key, value]) => ({ id: key, text: chipText(key as ClusterFilter, value) }))}
                onRemove={(key) => setFilter(key as ClusterFilter)('')}
                onClear={clearFilters}
              />
              <ExportLinks label="clusters" urls={exports} />
            </div>
          )}
          {page.items.length === 0 ? (
            <p className="text-gray-600 dark:text-gray-300">No cluster matches these filters.</p>
          ) : (
            <ul
              className={`grid grid-cols-1 gap-4 transition-opacity md:grid-cols-2 xl:grid-cols-3 ${clusters.isPlaceholderData ? 'opacity-60' : ''}`}
              aria-label="Clusters"
              aria-busy={clusters.isPlaceholderData || undefined}
            >
              {page.items.map((c: Cluster) => (
                <ClusterCard key={c.id} cluster={c} now={now} costPerDay={costs.data?.get(c.id)} />
              ))}
            </ul>
          )}
          <Pager label="clusters" state={list} shown={page.items.length} total={page.total} nextCursor={page.next_cursor} />
        </>
      )}
    </div>
  )
}
