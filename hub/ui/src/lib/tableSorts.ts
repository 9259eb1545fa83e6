// Which headers of each server-paged table sort it, by what the list is of. A header sorts
// only when its list offers the column's order (listSorts, the hub's `sort` values), so a
// table never offers an order the hub would refuse.
import type { ListState } from './listState'
import { listSorts } from './queries'
import { offeredColumns, type SortColumn, type TableSort } from './sortHeaders'

const NAME: Record<string, SortColumn> = { Name: { sort: 'name' } }

const POD_COLUMNS: Record<string, SortColumn> = {
  ...NAME,
  Status: { sort: 'status' },
  Node: { sort: 'node' },
  Restarts: { sort: 'restarts', descendingFirst: true },
}

const PVC_COLUMNS: Record<string, SortColumn> = {
  ...NAME,
  Phase: { sort: 'phase' },
  Capacity: { sort: 'capacity', descendingFirst: true },
  'Storage class': { sort: 'storage_class' },
}

/** Each table's sortable headers (by the header's text). */
export const SORT_COLUMNS: Record<keyof typeof listSorts, Record<string, SortColumn>> = {
  clusterNamespaces: { ...NAME, Pods: { sort: 'pods', descendingFirst: true } },
  clusterNodes: NAME,
  helmReleases: { ...NAME, Chart: { sort: 'chart' }, Status: { sort: 'status' } },
  namespaceDeployments: {
    ...NAME,
    Ready: { sort: 'ready', descendingFirst: true },
    Desired: { sort: 'replicas', descendingFirst: true },
  },
  namespacePods: POD_COLUMNS,
  deploymentPods: POD_COLUMNS,
  clusterPvcs: PVC_COLUMNS,
  namespacePvcs: PVC_COLUMNS,
  namespaceWorkloads: NAME,
  workloadPods: POD_COLUMNS,
  cronJobJobs: { ...NAME, Status: { sort: 'status' } },
}

/** The header sorting of `list`'s table whose place is `state`. */
export function tableSort(list: keyof typeof listSorts, state: Pick<ListState, 'sort' | 'setSort'>): TableSort {
  const sorts = listSorts[list]
  return {
    current: state.sort || sorts[0][0],
    columns: offeredColumns(SORT_COLUMNS[list], sorts),
    onSort: (sort) => state.setSort(sort === sorts[0][0] ? '' : sort),
  }
}
