// A panel of PersistentVolumeClaims, of a cluster (with each claim's namespace) or of one
// namespace: paged, filtered and sorted by the hub like every table, its state in the URL
// under `pvcs.`, so search's link to a claim (`?pvcs.q=<name>#pvcs`) opens it filtered.
import { useListState } from '../lib/listState'
import { bytes } from '../lib/format'
import { exportUrls, listSorts, listTakes, usePvcs } from '../lib/queries'
import { tableSort } from '../lib/tableSorts'
import { ListControls } from './ListControls'
import { ExportLinks, Pager } from './Pager'
import { Badge, ErrorBox, Panel, Table, cellClass, rowClass } from './ui'

const PHASE_COLORS: Record<string, 'green' | 'yellow' | 'red'> = { Bound: 'green', Pending: 'yellow', Lost: 'red' }

export function PvcPanel({ scope, id }: { scope: 'cluster' | 'namespace'; id: string }) {
  const list = scope === 'cluster' ? 'clusterPvcs' : 'namespacePvcs'
  const state = useListState('pvcs')
  const pvcs = usePvcs(scope, id, state)
  const withNamespace = scope === 'cluster'
  const head = ['Name', ...(withNamespace ? ['Namespace'] : []), 'Phase', 'Capacity', 'Requested', 'Storage class', 'Volume']
  return (
    <Panel id="pvcs" title={`Persistent volume claims (${pvcs.data?.total ?? '…'})`} actions={<ExportLinks label="claims" urls={exportUrls[list](id, state)} />}>
      <ListControls label="claims" state={state} takes={listTakes[list]} sorts={listSorts[list]} />
      {pvcs.error ? (
        <ErrorBox error={pvcs.error} />
      ) : (
        <Table caption="Persistent volume claims" sort={tableSort(list, state)} busy={pvcs.isPlaceholderData} head={head} empty={pvcs.data?.items.length === 0}>
          {pvcs.data?.items.map((c) => (
            <tr key={c.id} className={rowClass} data-testid="pvc-row">
              <td className={cellClass}>{c.name}</td>
              {withNamespace && <td className={cellClass}>{c.namespace}</td>}
              <td className={cellClass}>
                <Badge color={PHASE_COLORS[c.data.phase] ?? 'gray'}>{c.data.phase}</Badge>
              </td>
              <td className={cellClass}>{bytes(c.data.capacity_bytes)}</td>
              <td className={cellClass}>{bytes(c.data.requested_bytes)}</td>
              <td className={cellClass}>{c.data.storage_class ?? 'default'}</td>
              <td className={`${cellClass} break-all`}>{c.data.volume_name ?? '—'}</td>
            </tr>
          ))}
        </Table>
      )}
      <Pager label="claims" state={state} shown={pvcs.data?.items.length ?? 0} total={pvcs.data?.total ?? 0} nextCursor={pvcs.data?.next_cursor} />
    </Panel>
  )
}
