// The search, search export and fleet endpoints: the search from the hub's document, the
// export and the fleet as the API contract describes them (docs/api.md), built untyped until
// the document has those operations and their generated types replace these.
import { apiGet, apiUrl, request } from './api'
import type { components, paths } from './api-types'

/** One match of a search. `link` is the UI route of the object. */
export type SearchHit = components['schemas']['SearchHit']

/** How many matches have one value of a facet (`label` is what people read). */
export type Facet = components['schemas']['FacetCount']

export type FacetName = keyof components['schemas']['SearchFacets']

export type SearchPage = components['schemas']['SearchPage']

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

const SEARCH_EXPORT = '/api/v1/k8s/search/export'
const FLEET = '/api/v1/k8s/fleet'

// These paths are not in the generated `paths` yet, so their URLs are built untyped.
const url = (path: string, query: object) => apiUrl(path as never, {} as never, query)

type InDocument<P extends string> = P extends keyof paths ? true : false

/**
 * Which of these endpoints the hub has. Checked against the generated types: once the hub's
 * document has a path, its `false` stops compiling until it is turned on (and the path's
 * generated types replace the shapes here), so the UI never asks for what answers 404.
 */
export const HUB_HAS = {
  searchExport: false,
  fleet: false,
} as const satisfies { searchExport: InDocument<typeof SEARCH_EXPORT>; fleet: InDocument<typeof FLEET> }

export function fetchSearch(q: string, limit: number, cursor?: string | null): Promise<SearchPage> {
  return apiGet('/api/v1/k8s/search', {}, { q, limit, cursor: cursor || undefined })
}

/** Every match of `q` as a download (the hub streams all pages); `null` while it cannot. */
export function searchExportUrls(q: string) {
  if (!HUB_HAS.searchExport) return null
  return { csv: url(SEARCH_EXPORT, { q, format: 'csv' }), json: url(SEARCH_EXPORT, { q, format: 'json' }) }
}

export function fetchFleet(by: FleetGrouping): Promise<{ groups: FleetGroup[] }> {
  return request(url(FLEET, { by }))
}
