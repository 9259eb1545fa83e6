// The search and fleet endpoints as the API contract describes them (docs/api.md, "Search"
// and "Fleet"), for the UI to be built while the hub's document does not have them yet. Once
// `api-types.ts` has these operations, their generated types replace this module.
import { apiUrl, request } from './api'

/** One match of a search. `link` is the UI route of the object. */
export interface SearchHit {
  kind: string
  id: string
  cluster_id: string
  cluster_name: string
  namespace: string | null
  name: string
  status: string | null
  labels: Record<string, string>
  link: string
}

/** How many matches have one value of a facet (`label` is what people read). */
export interface Facet {
  value: string
  label: string
  count: number
}

export type FacetName = 'kind' | 'cluster' | 'namespace' | 'status'

export interface SearchPage {
  items: SearchHit[]
  facets: Partial<Record<FacetName, Facet[]>>
  total: number
  next_cursor: string | null
}

/** The fleet's roll-up of the clusters that share one environment, provider or tag. */
export interface FleetGroup {
  key: string
  clusters: number
  healthy: number
  degraded: number
  critical: number
  unknown: number
  nodes: number
  pods: number
  cost_month_to_date: number
}

export type FleetGrouping = 'environment' | 'provider' | 'tag'

const SEARCH = '/api/v1/k8s/search'
const SEARCH_EXPORT = '/api/v1/k8s/search/export'
const FLEET = '/api/v1/k8s/fleet'

// The contract's paths are not in the generated `paths` yet, so these URLs are built untyped.
const url = (path: string, query: object) => apiUrl(path as never, {} as never, query)

export function fetchSearch(q: string, limit: number, cursor?: string | null): Promise<SearchPage> {
  return request(url(SEARCH, { q, limit, cursor: cursor || undefined }))
}

/** Every match of `q` as a download (the hub streams all pages). */
export function searchExportUrls(q: string) {
  return { csv: url(SEARCH_EXPORT, { q, format: 'csv' }), json: url(SEARCH_EXPORT, { q, format: 'json' }) }
}

export function fetchFleet(by: FleetGrouping): Promise<{ groups: FleetGroup[] }> {
  return request(url(FLEET, { by }))
}
