import { describe, expect, it } from 'vitest'
import { apiUrl } from './api'
import { exportUrls, namespaceCostsCsvUrl, pageQuery } from './queries'

// Every page's source, as text: the layout rules below are about what pages may name.
const pages = import.meta.glob<string>(['../pages/*.tsx', '!../pages/*.test.tsx'], { query: '?raw', import: 'default', eager: true })

describe('apiUrl', () => {
  it('fills placeholders, encoded, and appends the query values that are set, in order', () => {
    expect(apiUrl('/api/v1/k8s/clusters/{id}/namespaces', { id: 'a/b c' }, { limit: 500 })).toBe('/api/v1/k8s/clusters/a%2Fb%20c/namespaces?limit=500')
    expect(apiUrl('/api/v1/k8s/costs', {}, { window: '24h', aggregate: 'cluster', filter: undefined, include_idle: null })).toBe(
      '/api/v1/k8s/costs?window=24h&aggregate=cluster',
    )
    expect(apiUrl('/api/v1/k8s/clusters', {})).toBe('/api/v1/k8s/clusters')
  })
  it('builds the cost trend download with the chart window', () => {
    expect(namespaceCostsCsvUrl('ns-1', 'hour')).toBe('/api/v1/k8s/namespaces/ns-1/costs?window=24h&step=1h&format=csv')
    expect(namespaceCostsCsvUrl('ns-1', 'day')).toBe('/api/v1/k8s/namespaces/ns-1/costs?window=7d&step=1d&format=csv')
  })
})

describe('list pages', () => {
  it('asks for the window, the order and the filter text that is set', () => {
    expect(pageQuery('/api/v1/k8s/clusters/{id}/namespaces', { limit: 50, offset: 9_950, sort: '', q: '' })).toEqual({ limit: 50, offset: 9_950 })
    expect(pageQuery('/api/v1/k8s/namespaces/{id}/pods', { limit: 50, offset: 0, sort: '-name', q: 'api' })).toEqual({ limit: 50, offset: 0, sort: '-name', q: 'api' })
  })
  it('reads the last page from the end, as many rows as it holds', () => {
    expect(pageQuery('/api/v1/k8s/namespaces/{id}/pods', { limit: 50, offset: 9_950, fromEnd: 7, sort: '-restarts' })).toEqual({
      limit: 7,
      last: 'true',
      sort: '-restarts',
    })
  })
  it('seeks by the hub\'s cursor instead of an offset when it has one', () => {
    expect(pageQuery('/api/v1/k8s/clusters/{id}/namespaces', { limit: 50, offset: 9_950, cursor: 'c-199' })).toEqual({ limit: 50, cursor: 'c-199' })
  })
  it('downloads whole lists with the table\'s filter and order', () => {
    expect(exportUrls.namespacePods('ns 1')).toEqual({
      csv: '/api/v1/k8s/namespaces/ns%201/pods?format=csv',
      json: '/api/v1/k8s/namespaces/ns%201/pods?format=json',
    })
    expect(exportUrls.clusterNamespaces('c1', { q: 'kube', sort: '-name' })?.csv).toBe('/api/v1/k8s/clusters/c1/namespaces?q=kube&sort=-name&format=csv')
    expect(exportUrls.helmReleases('c1', { q: '', sort: '' })?.json).toBe('/api/v1/k8s/helm/releases?cluster=c1&format=json')
  })
  it('downloads the cluster list with its filters and order', () => {
    expect(exportUrls.clusters({ environment: 'production', sort: '-health' })).toEqual({
      csv: '/api/v1/k8s/clusters?environment=production&sort=-health&format=csv',
      json: '/api/v1/k8s/clusters?environment=production&sort=-health&format=json',
    })
  })
})

describe('page modules', () => {
  it('are all checked', () => {
    expect(Object.keys(pages).length).toBeGreaterThanOrEqual(5)
  })
  it.each(Object.entries(pages))('%s names no API URL and imports no other page', (_, source) => {
    expect(source).not.toMatch(/['"`]\/api\//)
    expect(source).not.toMatch(/from '\.\/|from '\.\.\/pages\//)
    // Queries and mutations come from lib/queries, with their keys.
    expect(source).not.toMatch(/\buse(Query|Mutation)\(/)
  })
})
