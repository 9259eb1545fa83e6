// /admin/kubernetes: one card per cluster, totals, filters and search.
import { useMemo, useState } from 'react'
import { Link } from 'react-router'
import type { Cluster } from '../lib/api'
import { filterClusters, filterOptions, noFilters, totals, type ClusterFilters } from '../lib/filters'
import { dollars, providerLabel } from '../lib/format'
import { useClusterCostsPerDay, useClusters } from '../lib/queries'
import { relativeTime, useNow } from '../lib/time'
import { HealthBadge } from '../components/HealthBadge'
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
        {options.map((o) => (
          <option key={o} value={o}>{o}</option>
        ))}
      </select>
    </label>
  )
}

export function Dashboard() {
  const clusters = useClusters()
  const costs = useClusterCostsPerDay()
  const now = useNow()
  const [filters, setFilters] = useState<ClusterFilters>(noFilters)
  const all = useMemo(() => clusters.data?.items ?? [], [clusters.data])
  const shown = useMemo(() => filterClusters(all, filters), [all, filters])
  const options = useMemo(() => filterOptions(all), [all])
  const sum = totals(shown)
  const set = (key: keyof ClusterFilters) => (value: string) => setFilters((f) => ({ ...f, [key]: value }))
  // Unknown until at least one shown cluster has a computed hour: "—", not "$0.00".
  const knownCosts = shown.flatMap((c) => costs.data?.get(c.id) ?? [])
  const totalCost = knownCosts.length ? knownCosts.reduce((t, v) => t + v, 0) : undefined
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
      {clusters.data && all.length === 0 && (
        <section className="rounded-lg border border-dashed border-gray-300 p-8 text-center dark:border-gray-700">
          <h2 className="text-lg font-semibold">No clusters yet</h2>
          <p className="mt-2 text-gray-600 dark:text-gray-300">
            Add your first cluster: install the agent with Helm (it connects out to the hub), or paste a kubeconfig and the hub pulls the
            inventory itself. Admins do this under “Register cluster”.
          </p>
        </section>
      )}
      {all.length > 0 && (
        <>
          <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3 lg:grid-cols-6" aria-label="Totals">
            {[
              ['Clusters', sum.clusters],
              ['Nodes', sum.nodes],
              ['Namespaces', sum.namespaces],
              ['Deployments', sum.deployments],
              ['Pods', sum.pods],
              ['Cost/day', dollars(totalCost)],
            ].map(([label, value]) => (
              <div key={label} className="rounded-lg border border-gray-200 bg-white p-3 dark:border-gray-700 dark:bg-gray-900">
                <dt className="text-sm text-gray-600 dark:text-gray-300">{label}</dt>
                <dd className="text-xl font-semibold">{value}</dd>
              </div>
            ))}
          </dl>
          <form role="search" className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-5" onSubmit={(e) => e.preventDefault()}>
            <label className="text-sm font-medium">
              Search
              <input className={inputClass} type="search" placeholder="Name or description" value={filters.search} onChange={(e) => set('search')(e.target.value)} />
            </label>
            <FilterSelect label="Environment" value={filters.environment} options={options.environment} onChange={set('environment')} />
            <FilterSelect label="Provider" value={filters.provider} options={options.provider} onChange={set('provider')} />
            <FilterSelect label="Health" value={filters.health} options={options.health} onChange={set('health')} />
            <FilterSelect label="Tag" value={filters.tag} options={options.tag} onChange={set('tag')} />
          </form>
          {shown.length === 0 ? (
            <p className="text-gray-600 dark:text-gray-300">No cluster matches these filters.</p>
          ) : (
            <ul className="grid grid-cols-1 gap-4 md:grid-cols-2 xl:grid-cols-3" aria-label="Clusters">
              {shown.map((c) => (
                <ClusterCard key={c.id} cluster={c} now={now} costPerDay={costs.data?.get(c.id)} />
              ))}
            </ul>
          )}
        </>
      )}
    </div>
  )
}
