// A namespace's workloads beyond its Deployments: a table per kind (StatefulSets, DaemonSets,
// Jobs, CronJobs) with each one's status, linking to its page with its pods. Each table is
// paged, filtered and sorted by the hub, its place in the URL under its kind's prefix.
import { Link } from 'react-router'
import { useListState } from '../lib/listState'
import { exportUrls, listSorts, listTakes, useNamespaceWorkloads } from '../lib/queries'
import { tableSort } from '../lib/tableSorts'
import { type WorkloadKind, workloadStatus } from '../lib/projections'
import { ListControls } from './ListControls'
import { ExportLinks, Pager } from './Pager'
import { Badge, ErrorBox, Panel, Table, cellClass, linkClass, rowClass } from './ui'

/** What people call each kind, plural. */
export const WORKLOAD_TITLES: Record<WorkloadKind, string> = {
  deployments: 'Deployments',
  statefulsets: 'StatefulSets',
  daemonsets: 'DaemonSets',
  jobs: 'Jobs',
  cronjobs: 'CronJobs',
}

/** A workload's page. */
export function workloadPath(kind: WorkloadKind, id: string): string {
  return `/admin/kubernetes/workloads/${kind}/${id}`
}

function WorkloadTable({ namespaceId, kind }: { namespaceId: string; kind: WorkloadKind }) {
  const state = useListState(kind)
  const list = useNamespaceWorkloads(namespaceId, kind, state)
  const title = WORKLOAD_TITLES[kind]
  return (
    <Panel id={kind} title={`${title} (${list.data?.total ?? '…'})`} actions={<ExportLinks label={title} urls={exportUrls.namespaceWorkloads(namespaceId, kind, state)} />}>
      <ListControls label={title} state={state} takes={listTakes.namespaceWorkloads} sorts={listSorts.namespaceWorkloads} />
      {list.error ? (
        <ErrorBox error={list.error} />
      ) : (
        <Table caption={title} sort={tableSort('namespaceWorkloads', state)} busy={list.isPlaceholderData} head={['Name', 'Status', 'Images']} empty={list.data?.items.length === 0}>
          {list.data?.items.map((w) => {
            const status = workloadStatus(kind, w.data)
            return (
              <tr key={w.id} className={rowClass} data-testid={`${kind}-row`}>
                <td className={cellClass}>
                  <Link className={linkClass} to={workloadPath(kind, w.id)}>
                    {w.name}
                  </Link>
                </td>
                <td className={cellClass}>
                  <Badge color={status.ok ? 'green' : 'yellow'}>{status.text}</Badge>
                </td>
                <td className={`${cellClass} break-all`}>{w.data.images.join(', ')}</td>
              </tr>
            )
          })}
        </Table>
      )}
      <Pager label={title} state={state} shown={list.data?.items.length ?? 0} total={list.data?.total ?? 0} nextCursor={list.data?.next_cursor} />
    </Panel>
  )
}

export function WorkloadsPanels({ namespaceId }: { namespaceId: string }) {
  return (
    <>
      {(['statefulsets', 'daemonsets', 'cronjobs', 'jobs'] as const).map((kind) => (
        <WorkloadTable key={kind} namespaceId={namespaceId} kind={kind} />
      ))}
    </>
  )
}
