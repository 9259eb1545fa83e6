// The fleet at a glance: clusters grouped by environment, provider or tag, each group with
// its roll-up health, counts and cost; a group's name links to the cluster list filtered to it.
import { Link } from 'react-router'
import type { FleetGroup, FleetGrouping } from '../lib/api'
import { groupHealth, groupLabel } from '../lib/filters'
import { dollars } from '../lib/format'
import { Badge, ErrorBox, Loading, Panel, Table, cellClass, inputClass, linkClass, rowClass } from './ui'

const count = new Intl.NumberFormat('en-US')
const healthColor = { healthy: 'green', degraded: 'yellow', critical: 'red', unknown: 'gray' } as const

export const GROUPINGS: FleetGrouping[] = ['environment', 'provider', 'tag']

export function FleetGroups({
  by,
  onBy,
  groups,
  error,
  linkTo,
}: {
  by: FleetGrouping
  onBy: (by: FleetGrouping) => void
  groups?: FleetGroup[]
  error?: unknown
  /** Where a group's name leads: the cluster list filtered to the group. */
  linkTo: (key: string) => string
}) {
  const picker = (
    <label className="flex items-center gap-2 text-sm font-medium">
      Group by
      <select className={inputClass} value={by} onChange={(e) => onBy(e.target.value as FleetGrouping)}>
        {GROUPINGS.map((g) => (
          <option key={g} value={g}>
            {g}
          </option>
        ))}
      </select>
    </label>
  )
  return (
    <Panel title="Fleet" actions={picker}>
      {error ? (
        <ErrorBox error={error} />
      ) : !groups ? (
        <Loading what="the fleet" />
      ) : (
        <Table caption={`Clusters by ${by}`} head={[by[0].toUpperCase() + by.slice(1), 'Health', 'Clusters', 'Healthy', 'Degraded', 'Critical', 'Nodes', 'Pods', 'Cost this month']} empty={groups.length === 0}>
          {groups.map((g) => {
            const health = groupHealth(g)
            return (
              <tr key={g.key} className={rowClass} data-testid="fleet-group" data-group={g.key}>
                <td className={cellClass}>
                  {g.key === '' ? (
                    groupLabel(g.key)
                  ) : (
                    <Link className={linkClass} to={linkTo(g.key)} aria-label={`Show the clusters of ${by} ${g.key}`}>
                      {g.key}
                    </Link>
                  )}
                </td>
                <td className={cellClass}>
                  <Badge color={healthColor[health]}>{health}</Badge>
                </td>
                <td className={cellClass}>{count.format(g.clusters)}</td>
                <td className={cellClass}>{count.format(g.healthy)}</td>
                <td className={cellClass}>{count.format(g.degraded)}</td>
                <td className={cellClass}>{count.format(g.critical)}</td>
                <td className={cellClass}>{count.format(g.nodes)}</td>
                <td className={cellClass}>{count.format(g.pods)}</td>
                <td className={cellClass}>{dollars(g.cost_month_to_date)}</td>
              </tr>
            )
          })}
        </Table>
      )}
    </Panel>
  )
}
