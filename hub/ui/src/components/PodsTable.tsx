// A table of pods with their status, readiness, node and restarts, each linking to its page:
// what a namespace, a deployment and every other workload show of their pods.
import { Link } from 'react-router'
import type { Obj, PodData } from '../lib/projections'
import type { TableSort } from '../lib/sortHeaders'
import { Badge, Table, cellClass, linkClass, rowClass } from './ui'

export function PodsTable({ caption, pods, busy, sort }: { caption: string; pods: Obj<PodData>[]; busy?: boolean; sort: TableSort }) {
  return (
    <Table caption={caption} head={['Name', 'Status', 'Ready', 'Node', 'Restarts']} empty={pods.length === 0} busy={busy} sort={sort}>
      {pods.map((p) => (
        <tr key={p.id} className={rowClass} data-testid="pod-row">
          <td className={cellClass}>
            <Link className={linkClass} to={`/admin/kubernetes/pods/${p.id}`}>{p.name}</Link>
          </td>
          <td className={cellClass} data-testid="pod-row-status">{p.status ?? p.data.phase}</td>
          <td className={cellClass}>
            <Badge color={p.data.ready ? 'green' : 'yellow'}>{p.data.ready ? 'ready' : 'not ready'}</Badge>
          </td>
          <td className={cellClass}>{p.data.node ?? '—'}</td>
          <td className={cellClass}>{p.data.containers.reduce((n, c) => n + c.restarts, 0)}</td>
        </tr>
      ))}
    </Table>
  )
}
