// The dashboard's filters, applied to the cluster list on the client so typing in the
// search box answers at once.
import type { Cluster } from './api'

export interface ClusterFilters {
  search: string
  environment: string
  provider: string
  health: string
  tag: string
}

export const noFilters: ClusterFilters = { search: '', environment: '', provider: '', health: '', tag: '' }

/** The health a cluster is filtered by: its verdict, or `unknown` before the first one. */
export function healthOf(c: Cluster): string {
  return c.health?.status ?? 'unknown'
}

export function filterClusters(clusters: Cluster[], f: ClusterFilters): Cluster[] {
  const needle = f.search.trim().toLowerCase()
  return clusters.filter(
    (c) =>
      (!needle || c.name.toLowerCase().includes(needle) || c.description.toLowerCase().includes(needle)) &&
      (!f.environment || c.environment === f.environment) &&
      (!f.provider || (c.provider ?? 'unknown') === f.provider) &&
      (!f.health || healthOf(c) === f.health) &&
      (!f.tag || c.tags.includes(f.tag)),
  )
}

/** The distinct values each filter can take among `clusters`, sorted. */
export function filterOptions(clusters: Cluster[]) {
  const sorted = (values: string[]) => [...new Set(values)].sort()
  return {
    environment: sorted(clusters.map((c) => c.environment)),
    provider: sorted(clusters.map((c) => c.provider ?? 'unknown')),
    health: sorted(clusters.map(healthOf)),
    tag: sorted(clusters.flatMap((c) => c.tags)),
  }
}

export interface Totals {
  clusters: number
  nodes: number
  pods: number
  deployments: number
  namespaces: number
}

export function totals(clusters: Cluster[]): Totals {
  return clusters.reduce(
    (t, c) => ({
      clusters: t.clusters + 1,
      nodes: t.nodes + c.counts.nodes,
      pods: t.pods + c.counts.pods,
      deployments: t.deployments + c.counts.deployments,
      namespaces: t.namespaces + c.counts.namespaces,
    }),
    { clusters: 0, nodes: 0, pods: 0, deployments: 0, namespaces: 0 },
  )
}
