import { describe, expect, it } from 'vitest'
import { ariaSort, headerSort, offeredColumns } from './sortHeaders'
import { SORT_COLUMNS, tableSort } from './tableSorts'
import { listSorts } from './queries'

describe('header sorting', () => {
  it('sorts a column its first way, then reverses it', () => {
    expect(headerSort('name', { sort: 'name' })).toBe('-name')
    expect(headerSort('-name', { sort: 'name' })).toBe('name')
    expect(headerSort('name', { sort: 'status' })).toBe('status')
    expect(headerSort('status', { sort: 'status' })).toBe('-status')
  })
  it('sorts counts largest first on the first click', () => {
    const restarts = { sort: 'restarts', descendingFirst: true }
    expect(headerSort('name', restarts)).toBe('-restarts')
    expect(headerSort('-restarts', restarts)).toBe('restarts')
    expect(headerSort('restarts', restarts)).toBe('-restarts')
  })
  it('reads the rows\' order for aria-sort', () => {
    expect(ariaSort('name', { sort: 'name' })).toBe('ascending')
    expect(ariaSort('-name', { sort: 'name' })).toBe('descending')
    expect(ariaSort('-restarts', { sort: 'name' })).toBe('none')
    expect(ariaSort('-node', { sort: 'node' })).toBe('descending')
  })
  it('offers only the headers whose order the list takes', () => {
    const columns = { Name: { sort: 'name' }, Ready: { sort: 'ready' }, Images: { sort: 'images' } }
    expect(Object.keys(offeredColumns(columns, [['name', 'Name'], ['-ready', 'Most ready']]))).toEqual(['Name', 'Ready'])
  })
  it('gives every table header an order its list offers', () => {
    for (const [list, columns] of Object.entries(SORT_COLUMNS)) {
      const keys = listSorts[list as keyof typeof listSorts].map(([v]) => v.replace(/^-/, ''))
      for (const column of Object.values(offeredColumns(columns, listSorts[list as keyof typeof listSorts]))) {
        expect(keys).toContain(column.sort)
      }
    }
    expect(Object.keys(tableSort('namespacePods', { sort: '', setSort: () => {} }).columns)).toEqual(['Name', 'Status', 'Node', 'Restarts'])
    expect(Object.keys(tableSort('clusterPvcs', { sort: '', setSort: () => {} }).columns)).toEqual(['Name', 'Phase', 'Capacity', 'Storage class'])
  })
  it('leaves the default order out of the URL', () => {
    const set: string[] = []
    const sort = tableSort('clusterNodes', { sort: '', setSort: (s) => set.push(s) })
    expect(sort.current).toBe('name')
    sort.onSort('-name')
    sort.onSort('name')
    expect(set).toEqual(['-name', ''])
  })
})
