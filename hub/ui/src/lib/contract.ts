// The search, its export and the fleet: the search and export from the hub's document, the
// fleet as the API contract describes it (docs/api.md), built untyped until the document has
// that operation and its generated types replace the shapes here.
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

const FLEET = '/api/v1/k8s/fleet'

// The fleet's path is not in the generated `paths` yet, so its URL is built untyped.
const url = (path: string, query: object) => apiUrl(path as never, {} as never, query)

type InDocument<P extends string> = P extends keyof paths ? true : false

/**
 * Which of these endpoints the hub has. Checked against the generated types: once the hub's
 * document has a path, its `false` stops compiling until it is turned on (and the path's
 * generated types replace the shapes here), so the UI never asks for what answers 404.
 */
export const HUB_HAS = {
  fleet: false,
} as const satisfies { fleet: InDocument<typeof FLEET> }

export function fetchSearch(q: string, limit: number, cursor?: string | null): Promise<SearchPage> {
  return apiGet('/api/v1/k8s/search', {}, { q, limit, cursor: cursor || undefined })
}

/** Every match of `q` as a download (the hub streams all pages). */
export function searchExportUrls(q: string) {
  const download = (format: 'csv' | 'json') => apiUrl('/api/v1/k8s/search/export', {}, { q, format })
  return { csv: download('csv'), json: download('json') }
}

export function fetchFleet(by: FleetGrouping): Promise<{ groups: FleetGroup[] }> {
  return request(url(FLEET, { by }))
}
