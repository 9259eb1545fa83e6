// The search query as terms, so the UI can show each term as a chip, drop one, or add the
// term a facet stands for, and the query string in the URL stays the one thing to share. The
// hub parses and judges the query (docs/api.md, "Search"); this only splits it where the
// language does: at spaces outside double quotes.
import type { FacetName, SearchHit } from './api'

/** The query's terms in order: `kind:pod`, `-label:tier=batch`, `"two words"`, `cluster:"a b"`. */
export function splitTerms(q: string): string[] {
  const terms: string[] = []
  let current = ''
  let quoted = false
  for (const ch of q) {
    if (ch === '"') quoted = !quoted
    if (!quoted && /\s/.test(ch)) {
      if (current) terms.push(current)
      current = ''
    } else {
      current += ch
    }
  }
  if (current) terms.push(current)
  return terms
}

/** `q` without its `index`th term. */
export function removeTerm(q: string, index: number): string {
  return splitTerms(q)
    .filter((_, i) => i !== index)
    .join(' ')
}

/** A value as the language reads it: quoted when it holds a space or a quote. */
export function quoteValue(value: string): string {
  return /[\s"]/.test(value) ? `"${value.replace(/"/g, '')}"` : value
}

const FACET_KEYS: Record<FacetName, string> = { kind: 'kind', cluster: 'cluster', namespace: 'ns', status: 'status' }

/** The term that narrows a search to one facet value (clusters are named by name, not id). */
export function facetTerm(facet: FacetName, value: string, label: string): string {
  return `${FACET_KEYS[facet]}:${quoteValue(facet === 'cluster' ? label : value)}`
}

/** `q` with `term` added, unless it is already there. */
export function addTerm(q: string, term: string): string {
  const terms = splitTerms(q)
  return terms.includes(term) ? terms.join(' ') : [...terms, term].join(' ')
}

/** Where a hit opens; a namespace page reads its cluster and name from the URL for its title. */
export function hitRoute(hit: SearchHit): string {
  if (hit.kind !== 'namespace') return hit.link
  const params = new URLSearchParams({ cluster: hit.cluster_id, name: hit.name })
  return `${hit.link}?${params}`
}

/** Hits grouped by kind, the groups in the order their first hit comes. */
export function groupByKind(hits: SearchHit[]): [string, SearchHit[]][] {
  const groups = new Map<string, SearchHit[]>()
  for (const hit of hits) {
    const group = groups.get(hit.kind)
    if (group) group.push(hit)
    else groups.set(hit.kind, [hit])
  }
  return [...groups]
}

/** The results page of `q`. */
export function searchRoute(q: string): string {
  return `/admin/kubernetes/search?${new URLSearchParams({ q })}`
}

/** How many results: "1,000+" when the hub counted only the first of more (`total_is_estimate`: it counts one past its limit). */
export function totalText(total: number, estimate: boolean): string {
  return estimate ? `${(total - 1).toLocaleString('en-US')}+` : total.toLocaleString('en-US')
}
