// The cost report as a table: the window's cost per namespace, team, cost center, cluster or
// workload (most expensive first). By workload, each line says what it is — a Deployment,
// StatefulSet, DaemonSet (with the nodes it ran on: its cost across the fleet), Job, CronJob
// or bare Pod, or a namespace's storage and a cluster's idle — and the lines add up to the
// same total as the namespaces'.
import { useState } from 'react'
import type { CostLine } from '../lib/api'
import { dollars } from '../lib/format'
import { costReportCsvUrl, useCostReport } from '../lib/queries'
import { ErrorBox, Loading, Table, cellClass, inputClass, linkClass, rowClass } from './ui'

const AGGREGATES = [
  ['namespace', 'Namespace'],
  ['workload', 'Workload'],
  ['team', 'Team'],
  ['cost_center', 'Cost center'],
  ['cluster', 'Cluster'],
] as const
const WINDOWS = ['24h', '7d', '30d'] as const

const SPECIAL: Record<string, string> = {
  __storage__: 'Storage (claims)',
  __unattributed__: 'Not split by workload',
  __idle__: 'Idle capacity',
}

/** What a line is, as read: a workload as `Kind namespace/name` after its cluster, a
 * namespace's storage or unattributed compute, a cluster's idle; other groups by key.
 * Exported for tests. */
export function lineLabel(line: Pick<CostLine, 'key' | 'workload'>): string {
  const w = line.workload
  if (!w) return line.key
  const cluster = w.cluster_name ?? w.cluster
  const special = SPECIAL[w.kind]
  if (special) return w.namespace ? `${cluster} · ${special} · ${w.namespace}` : `${cluster} · ${special}`
  return `${cluster} · ${w.kind} ${w.namespace}/${w.name}`
}

/** Where a workload ran: `3 pods on 3 nodes` (most in one hour); empty for other lines.
 * Exported for tests. */
export function spread(line: Pick<CostLine, 'workload'>): string {
  const w = line.workload
  if (!w || w.pods === 0) return ''
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  return `${plural(w.pods, 'pod')} on ${plural(w.nodes, 'node')}`
}

export function CostByGroup() {
  const [aggregate, setAggregate] = useState('workload')
  const [window, setWindow] = useState('24h')
  const [includeIdle, setIncludeIdle] = useState(false)
  const query = { aggregate, window, include_idle: includeIdle }
  const report = useCostReport(query)
  const workloads = aggregate === 'workload'
  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-2">
        <label className="text-sm font-medium">
          Group by{' '}
          <select aria-label="Cost group" className={inputClass} value={aggregate} onChange={(e) => setAggregate(e.target.value)}>
            {AGGREGATES.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm font-medium">
          Window{' '}
          <select aria-label="Cost window" className={inputClass} value={window} onChange={(e) => setWindow(e.target.value)}>
            {WINDOWS.map((w) => (
              <option key={w} value={w}>
                {w}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm font-medium">
          <input type="checkbox" checked={includeIdle} onChange={(e) => setIncludeIdle(e.target.checked)} /> Idle
        </label>
        <a className={linkClass} href={costReportCsvUrl(query)}>
          CSV
        </a>
      </div>
      {report.isPending && <Loading what="costs" />}
      {report.error && <ErrorBox error={report.error} />}
      {report.data && (
        <>
          <p className="text-sm" data-testid="cost-total">
            Total {dollars(report.data.total.total_cost)}
          </p>
          <Table
            caption="Cost per group"
            head={workloads ? ['Group', 'Ran on', 'CPU', 'Memory', 'Storage', 'Total'] : ['Group', 'CPU', 'Memory', 'Storage', 'Total']}
            empty={report.data.lines.length === 0}
            busy={report.isPlaceholderData}
          >
            {report.data.lines.map((line) => (
              <tr key={`${line.workload?.cluster ?? ''}/${line.key}`} className={rowClass} data-testid="cost-line">
                <td className={cellClass}>{lineLabel(line)}</td>
                {workloads && <td className={cellClass}>{spread(line)}</td>}
                <td className={cellClass}>{dollars(line.cpu.cost)}</td>
                <td className={cellClass}>{dollars(line.memory.cost)}</td>
                <td className={cellClass}>{dollars(line.storage_cost)}</td>
                <td className={cellClass}>{dollars(line.total_cost)}</td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </div>
  )
}
