// /admin/kubernetes/savings: where requested CPU and memory go unused. Per namespace, team,
// cost center, cluster or workload (`Kind/namespace/name` with its cluster) over a window, requested vs used, efficiency and what the unused requests cost,
// sortable by waste or efficiency (the hub sorts; the URL holds the choice, so a view is a link);
// then right-sizing per workload container over the same window. Above them, the cost report
// itself grouped the same ways (components/CostByGroup).
import { useSearchParams } from 'react-router'
import type { EfficiencyLine } from '../lib/api'
import { dollars } from '../lib/format'
import { useEfficiency, type EfficiencySort } from '../lib/queries'
import { RightSizing } from '../components/RightSizing'
import { CostByGroup } from '../components/CostByGroup'
import { ErrorBox, Loading, Panel, Table, cellClass, inputClass, rowClass, secondaryButtonClass } from '../components/ui'

const AGGREGATES = [
  ['namespace', 'Namespace'],
  ['team', 'Team'],
  ['cost_center', 'Cost center'],
  ['cluster', 'Cluster'],
  ['workload', 'Workload'],
] as const
const WINDOWS = ['24h', '7d', '30d'] as const

/** A share as a whole percentage, `—` when unknown. Exported for tests. */
export function percent(share: number | null | undefined): string {
  return share == null ? '—' : `${Math.round(share * 100)}%`
}

/** A line's group as shown: a workload (`Kind/namespace/name`) after its cluster, since
 * workloads of one name run in several clusters; other groups as they are. Exported for tests. */
export function groupLabel(line: Pick<EfficiencyLine, 'key' | 'cluster'>): string {
  return line.cluster ? `${line.cluster} · ${line.key}` : line.key
}

/** The next sort when a column's header is clicked: the column's default way, then the other. */
export function nextSort(current: EfficiencySort, column: 'waste' | 'efficiency'): EfficiencySort {
  if (column === 'waste') return current === '-waste' ? 'waste' : '-waste'
  return current === 'efficiency' ? '-efficiency' : 'efficiency'
}

function arrow(sort: EfficiencySort, column: 'waste' | 'efficiency') {
  if (sort === `-${column}`) return ' ↓'
  if (sort === column) return ' ↑'
  return ''
}

function Row({ line }: { line: EfficiencyLine }) {
  return (
    <tr className={rowClass}>
      <td className={cellClass}>{groupLabel(line)}</td>
      <td className={cellClass}>
        {line.cpu.used.toFixed(1)} / {line.cpu.requested.toFixed(1)} ({percent(line.cpu.efficiency)})
      </td>
      <td className={cellClass}>
        {line.memory.used.toFixed(1)} / {line.memory.requested.toFixed(1)} ({percent(line.memory.efficiency)})
      </td>
      <td className={cellClass}>{percent(line.efficiency)}</td>
      <td className={cellClass} data-testid="waste">
        {dollars(line.unused_cost)}
      </td>
    </tr>
  )
}

export function SavingsPage() {
  const [params, setParams] = useSearchParams()
  const aggregate = params.get('aggregate') ?? 'namespace'
  const window = params.get('window') ?? '7d'
  const sort = (params.get('sort') ?? '-waste') as EfficiencySort
  const efficiency = useEfficiency({ aggregate, window, sort })
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params)
    next.set(key, value)
    setParams(next)
  }
  const sortButton = (column: 'waste' | 'efficiency', label: string) => (
    <button type="button" className={secondaryButtonClass} onClick={() => set('sort', nextSort(sort, column))}>
      Sort by {label}
      {arrow(sort, column)}
    </button>
  )
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Savings</h1>
      <Panel title="Costs" id="costs">
        <CostByGroup />
      </Panel>
      <Panel
        title="Efficiency"
        actions={
          <div className="flex flex-wrap items-center gap-2">
            <label className="text-sm font-medium">
              Group by{' '}
              <select className={inputClass} value={aggregate} onChange={(e) => set('aggregate', e.target.value)}>
                {AGGREGATES.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
            <label className="text-sm font-medium">
              Window{' '}
              <select className={inputClass} value={window} onChange={(e) => set('window', e.target.value)}>
                {WINDOWS.map((w) => (
                  <option key={w} value={w}>
                    {w}
                  </option>
                ))}
              </select>
            </label>
            {sortButton('waste', 'waste')}
            {sortButton('efficiency', 'efficiency')}
          </div>
        }
      >
        <p className="mb-2 text-sm text-gray-600 dark:text-gray-300">
          Requested vs used CPU (core-hours) and memory (GiB-hours) of the containers with usage data, and what the unused requests cost.
        </p>
        {efficiency.isPending && <Loading what="efficiency" />}
        {efficiency.error && <ErrorBox error={efficiency.error} />}
        {efficiency.data && (
          <p className="mb-2 text-sm" data-testid="groups">
            {efficiency.data.lines.length} of {efficiency.data.groups} groups
          </p>
        )}
        {efficiency.data && (
          <Table caption="Efficiency per group" head={['Group', 'CPU used / requested', 'Memory used / requested', 'Efficiency', 'Unused request cost']} empty={efficiency.data.lines.length === 0}>
            {efficiency.data.lines.map((line) => (
              <Row key={groupLabel(line)} line={line} />
            ))}
          </Table>
        )}
      </Panel>
      <Panel title="Right-sizing" id="right-sizing">
        <RightSizing key={window} window={window} />
      </Panel>
    </div>
  )
}
