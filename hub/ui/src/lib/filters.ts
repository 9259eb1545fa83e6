// The dashboard's cluster filters: kept in the URL (so a filtered fleet is a link to share)
// and applied by the hub, which filters, sorts and pages the cluster list on the server.
import type { Cluster } from './api'
import type { FleetGroup, FleetGrouping } from './api'

/** The filters people set, by the name of the hub's list parameter. */
export const CLUSTER_FILTERS = ['environment', 'provider', 'health', 'tag', 'search'] as const
export type ClusterFilter = (typeof CLUSTER_FILTERS)[number]
export type ClusterFilters = Partial<Record<ClusterFilter, string>>

/** Orders the hub's cluster list knows, with what people read for each. */
export const CLUSTER_SORTS: [string, string][] = [
  ['name', 'Name'],
  ['-name', 'Name, Z–A'],
  ['health', 'Health, worst first'],
  ['-last_sync', 'Last sync, newest first'],
  ['environment', 'Environment'],
  ['-created_at', 'Newest first'],
]

export const HEALTH_VALUES = ['healthy', 'degraded', 'critical', 'unknown']
export const ENVIRONMENT_VALUES = ['production', 'staging', 'development']

/** The filters set in `params` (empty values are no filter). */
export function filtersFrom(params: URLSearchParams): ClusterFilters {
  const out: ClusterFilters = {}
  for (const key of CLUSTER_FILTERS) {
    const value = params.get(key)?.trim()
    if (value) out[key] = value
  }
  return out
}

/** What a chip reads for one filter. */
export function chipText(key: ClusterFilter, value: string): string {
  return key === 'search' ? `“${value}”` : `${key}: ${value}`
}

/** The fleet grouping a filter narrows to one group of. */
export const GROUP_FILTER: Record<FleetGrouping, ClusterFilter> = { environment: 'environment', provider: 'provider', tag: 'tag' }

/** The name people read for a group key (the hub's `""` gathers clusters without one). */
export function groupLabel(key: string): string {
  return key === '' ? 'none' : key
}

export interface FleetTotals {
  clusters: number
  healthy: number
  attention: number
  nodes: number
  pods: number
  cost: number
}

/** The whole fleet's sums, from a grouping where each cluster sits in exactly one group. */
export function fleetTotals(groups: FleetGroup[]): FleetTotals {
  return groups.reduce(
    (t, g) => ({
      clusters: t.clusters + g.clusters,
      healthy: t.healthy + g.healthy,
      attention: t.attention + g.degraded + g.critical,
      nodes: t.nodes + g.nodes,
      pods: t.pods + g.pods,
      cost: t.cost + g.cost_month_to_date,
    }),
    { clusters: 0, healthy: 0, attention: 0, nodes: 0, pods: 0, cost: 0 },
  )
}

/** The same sums from the clusters themselves, for a fleet whose every cluster is at hand. */
export function clusterTotals(clusters: Cluster[]): FleetTotals {
  return clusters.reduce(
    (t, c) => {
      const health = c.health?.status
      return {
        clusters: t.clusters + 1,
        healthy: t.healthy + (health === 'healthy' ? 1 : 0),
        attention: t.attention + (health === 'degraded' || health === 'critical' ? 1 : 0),
        nodes: t.nodes + c.counts.nodes,
        pods: t.pods + c.counts.pods,
        cost: t.cost,
      }
    },
    { clusters: 0, healthy: 0, attention: 0, nodes: 0, pods: 0, cost: 0 },
  )
}

/** The worst health among a group's clusters: what its roll-up badge shows. */
export function groupHealth(g: FleetGroup): 'critical' | 'degraded' | 'unknown' | 'healthy' {
  if (g.critical > 0) return 'critical'
  if (g.degraded > 0) return 'degraded'
  if (g.unknown > 0 && g.healthy === 0) return 'unknown'
  return 'healthy'
}
