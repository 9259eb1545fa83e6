// /admin/kubernetes/clusters/:id: what the cluster is, its health, namespaces, nodes and Helm
// releases; admins can sync it now or delete it.
import { useState } from 'react'
import { Link, useNavigate, useParams } from 'react-router'
import type { Cluster } from '../lib/api'
import { bytes, cpu, dollars, providerLabel } from '../lib/format'
import type { NodeData } from '../lib/projections'
import { useListState } from '../lib/listState'
import { useScrollToHash } from '../lib/scroll'
import { tableSort } from '../lib/tableSorts'
import {
  exportUrls,
  listSorts,
  listTakes,
  useCluster,
  useClusterNamespaces,
  useClusterNodes,
  useDeleteCluster,
  useHelmReleases,
  useNamespaceCostsPerDay,
  useSyncCluster,
} from '../lib/queries'
import { relativeTime, useNow } from '../lib/time'
import { HealthBadge } from '../components/HealthBadge'
import { ListControls } from '../components/ListControls'
import { PvcPanel } from '../components/PvcPanel'
import { ExportLinks, Pager } from '../components/Pager'
import { AdminOnly, Badge, Breadcrumb, ErrorBox, Loading, Panel, Table, cellClass, dangerButtonClass, linkClass, rowClass, secondaryButtonClass } from '../components/ui'

export const TEAM_LABEL = 'team'
export const COST_CENTER_LABEL = 'cost-center'

function nodeReady(n: NodeData): boolean {
  return n.conditions.some((c) => c.type_ === 'Ready' && c.status === 'True')
}

function DeleteCluster({ cluster }: { cluster: Cluster }) {
  const [confirming, setConfirming] = useState(false)
  const navigate = useNavigate()
  const remove = useDeleteCluster(cluster.id, () => navigate('/admin/kubernetes'))
  if (!confirming)
    return (
      <button type="button" className={dangerButtonClass} onClick={() => setConfirming(true)}>
        Delete
      </button>
    )
  return (
    <div role="alertdialog" aria-label={`Delete ${cluster.name}`} className="flex flex-wrap items-center gap-2 rounded border border-red-300 p-2 dark:border-red-800">
      <span>Delete cluster “{cluster.name}” and its inventory?</span>
      <button type="button" className={dangerButtonClass} onClick={() => remove.mutate()} disabled={remove.isPending}>
        Delete {cluster.name}
      </button>
      <button type="button" className={secondaryButtonClass} onClick={() => setConfirming(false)}>
        Cancel
      </button>
      {remove.error && <ErrorBox error={remove.error} />}
    </div>
  )
}

function ClusterFacts({ c }: { c: Cluster }) {
  const now = useNow()
  const facts: [string, string][] = [
    ['Provider', providerLabel(c.provider)],
    ['Version', c.version ?? '—'],
    ['API server', c.api_server_url ?? '—'],
    ['Mode', c.mode],
    ['Environment', c.environment],
    ['Last sync', relativeTime(c.last_sync_at, now)],
  ]
  return (
    <dl className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-3">
      {facts.map(([k, v]) => (
        <div key={k}>
          <dt className="text-sm text-gray-600 dark:text-gray-300">{k}</dt>
          <dd className="break-all font-medium">{v}</dd>
        </div>
      ))}
    </dl>
  )
}

export function ClusterDetail() {
  const { id = '' } = useParams()
  const cluster = useCluster(id)
  const nsList = useListState('ns')
  const nodeList = useListState('nodes')
  const helmList = useListState('helm')
  const namespaces = useClusterNamespaces(id, nsList)
  const nodes = useClusterNodes(id, nodeList)
  const costs = useNamespaceCostsPerDay(id)
  const helm = useHelmReleases(id, helmList)
  const sync = useSyncCluster(id)
  // A search hit for a node, claim or Helm release links here with `#nodes`, `#pvcs` or `#helm`.
  useScrollToHash(cluster.isSuccess)
  if (cluster.isPending) return <Loading what="the cluster" />
  if (cluster.error) return <ErrorBox error={cluster.error} />
  const c = cluster.data
  return (
    <div className="space-y-6">
      <Breadcrumb trail={[c.name]} />
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="flex flex-wrap items-center gap-2">
          <h1 className="text-2xl font-bold">{c.name}</h1>
          <HealthBadge health={c.health} />
          {!c.enabled && <Badge color="red">disabled</Badge>}
        </div>
        <AdminOnly>
          <div className="flex flex-wrap gap-2">
            <button type="button" className={secondaryButtonClass} onClick={() => sync.mutate()} disabled={sync.isPending}>
              {sync.isSuccess ? 'Sync requested' : 'Sync now'}
            </button>
            <DeleteCluster cluster={c} />
          </div>
        </AdminOnly>
      </div>
      {sync.error && <ErrorBox error={sync.error} />}
      <Panel title="Overview">
        <ClusterFacts c={c} />
        {c.health && c.health.reasons.length > 0 && (
          <ul className="mt-3 list-disc pl-5 text-sm" aria-label="Health reasons">
            {c.health.reasons.map((r) => (
              <li key={r.code + r.message}>{r.message}</li>
            ))}
          </ul>
        )}
        {c.last_error && <p className="mt-3 text-sm text-red-800 dark:text-red-200">Last error: {c.last_error}</p>}
      </Panel>
      <Panel id="namespaces" title={`Namespaces (${namespaces.data?.total ?? '…'})`} actions={<ExportLinks label="namespaces" urls={exportUrls.clusterNamespaces(id, nsList)} />}>
        <ListControls label="namespaces" state={nsList} takes={listTakes.clusterNamespaces} sorts={listSorts.clusterNamespaces} />
        {namespaces.error ? (
          <ErrorBox error={namespaces.error} />
        ) : (
          <Table caption="Namespaces" sort={tableSort('clusterNamespaces', nsList)} busy={namespaces.isPlaceholderData} head={['Name', 'Team', 'Cost center', 'Deployments', 'Pods', 'Phase', 'Cost (24 h)']} empty={namespaces.data?.items.length === 0}>
            {namespaces.data?.items.map((n) => (
              <tr key={n.id} className={rowClass}>
                <td className={cellClass}>
                  <Link className={linkClass} to={`/admin/kubernetes/namespaces/${n.id}?cluster=${id}&name=${encodeURIComponent(n.name)}`}>
                    {n.name}
                  </Link>
                </td>
                <td className={cellClass}>{n.data.labels?.[TEAM_LABEL] ?? 'unallocated'}</td>
                <td className={cellClass}>{n.data.labels?.[COST_CENTER_LABEL] ?? 'unallocated'}</td>
                <td className={cellClass} data-testid="namespace-deployments">{n.deployments}</td>
                <td className={cellClass} data-testid="namespace-pods">{n.pods}</td>
                <td className={cellClass}>{n.data.phase}</td>
                <td className={cellClass}>{dollars(costs.data?.get(n.name))}</td>
              </tr>
            ))}
          </Table>
        )}
        <Pager label="namespaces" state={nsList} shown={namespaces.data?.items.length ?? 0} total={namespaces.data?.total ?? 0} nextCursor={namespaces.data?.next_cursor} />
      </Panel>
      <Panel id="nodes" title={`Nodes (${nodes.data?.total ?? '…'})`} actions={<ExportLinks label="nodes" urls={exportUrls.clusterNodes(id, nodeList)} />}>
        <ListControls label="nodes" state={nodeList} takes={listTakes.clusterNodes} sorts={listSorts.clusterNodes} />
        {nodes.error ? (
          <ErrorBox error={nodes.error} />
        ) : (
          <Table caption="Nodes" sort={tableSort('clusterNodes', nodeList)} busy={nodes.isPlaceholderData} head={['Name', 'Role', 'Instance type', 'CPU', 'Memory', 'Pods', 'Status']} empty={nodes.data?.items.length === 0}>
            {nodes.data?.items.map((n) => (
              <tr key={n.id} className={rowClass} data-testid="node-row">
                <td className={cellClass}>{n.name}</td>
                <td className={cellClass}>{n.data.role}</td>
                <td className={cellClass}>{n.data.instance_type ?? '—'}</td>
                <td className={cellClass}>{cpu(n.data.capacity.cpu_millis)}</td>
                <td className={cellClass}>{bytes(n.data.capacity.memory_bytes)}</td>
                <td className={cellClass}>{n.data.capacity.pods ?? '—'}</td>
                <td className={cellClass}>
                  <Badge color={nodeReady(n.data) ? 'green' : 'red'}>{nodeReady(n.data) ? 'Ready' : 'NotReady'}</Badge>
                  {n.data.unschedulable && <Badge color="yellow">cordoned</Badge>}
                </td>
              </tr>
            ))}
          </Table>
        )}
        <Pager label="nodes" state={nodeList} shown={nodes.data?.items.length ?? 0} total={nodes.data?.total ?? 0} nextCursor={nodes.data?.next_cursor} />
      </Panel>
      <PvcPanel scope="cluster" id={id} />
      <Panel
        id="helm"
        title={`Helm releases (${helm.data?.total ?? '…'})`}
        actions={<ExportLinks label="Helm releases" urls={exportUrls.helmReleases(id, helmList)} />}
      >
        <ListControls label="Helm releases" state={helmList} takes={listTakes.helmReleases} sorts={listSorts.helmReleases} />
        {helm.error ? (
          <ErrorBox error={helm.error} />
        ) : (
          <Table caption="Helm releases" sort={tableSort('helmReleases', helmList)} busy={helm.isPlaceholderData} head={['Name', 'Namespace', 'Chart', 'App version', 'Revision', 'Status']} empty={helm.data?.items.length === 0}>
            {helm.data?.items.map((h) => (
              <tr key={h.id} className={rowClass}>
                <td className={cellClass}>{h.name}</td>
                <td className={cellClass}>{h.namespace}</td>
                <td className={cellClass}>
                  {h.data.chart_name}-{h.data.chart_version}
                </td>
                <td className={cellClass}>{h.data.app_version ?? '—'}</td>
                <td className={cellClass}>{h.data.revision}</td>
                <td className={cellClass}>{h.data.status}</td>
              </tr>
            ))}
          </Table>
        )}
        <Pager label="Helm releases" state={helmList} shown={helm.data?.items.length ?? 0} total={helm.data?.total ?? 0} nextCursor={helm.data?.next_cursor} />
      </Panel>
    </div>
  )
}
