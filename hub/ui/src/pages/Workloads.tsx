// Namespace detail (health, quotas and limit ranges, deployments, the other workloads, pods,
// claims, cost trend, CSV export), a deployment's pods, and a pod's containers and workload.
import { lazy, Suspense } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import type { UsageSeries } from '../lib/api'
import { containerState } from '../lib/projections'
import { useListState } from '../lib/listState'
import { exportUrls, listSorts, listTakes, type PodWithOwner, useCanExec, useDeployment, useDeploymentPods, useNamespaceDeployments, useNamespacePods, usePod, usePodUsage } from '../lib/queries'
import { tableSort } from '../lib/tableSorts'
import { usageSummary } from '../lib/usage'
import { bytes, cpu } from '../lib/format'
import { ListControls } from '../components/ListControls'
import { LiveObjectPanels, OnDemand } from '../components/LiveObject'
import { LogViewer } from '../components/LogViewer'
import { DeploymentActions, PodActions } from '../components/WorkloadActions'
import { PvcPanel } from '../components/PvcPanel'
import { QuotasPanels } from '../components/QuotasPanel'
import { WorkloadsPanels, workloadPath } from '../components/WorkloadsPanel'
import { ExportLinks, Pager } from '../components/Pager'
import { PodsTable } from '../components/PodsTable'
import { Breadcrumb, ErrorBox, Loading, Panel, Table, cellClass, linkClass, rowClass } from '../components/ui'

// The chart library is most of the bundle: it loads with the first namespace page.
const CostChart = lazy(() => import('../components/CostChart'))
// xterm.js loads only when someone opens a terminal.
const PodTerminal = lazy(() => import('../components/Terminal'))

export function NamespaceDetail() {
  const { id = '' } = useParams()
  const [params] = useSearchParams()
  const name = params.get('name') ?? 'namespace'
  const clusterId = params.get('cluster')
  const deploymentList = useListState('deployments')
  const podList = useListState('pods')
  const deployments = useNamespaceDeployments(id, deploymentList)
  const pods = useNamespacePods(id, podList)
  return (
    <div className="space-y-6">
      <Breadcrumb clusterId={clusterId} trail={[name]} />
      <h1 className="text-2xl font-bold">Namespace {name}</h1>
      <QuotasPanels namespaceId={id} />
      <Panel
        title={`Deployments (${deployments.data?.total ?? '…'})`}
        actions={<ExportLinks label="deployments" urls={exportUrls.namespaceDeployments(id, deploymentList)} />}
      >
        <ListControls label="deployments" state={deploymentList} takes={listTakes.namespaceDeployments} sorts={listSorts.namespaceDeployments} />
        {deployments.error ? (
          <ErrorBox error={deployments.error} />
        ) : (
          <Table caption="Deployments" sort={tableSort('namespaceDeployments', deploymentList)} busy={deployments.isPlaceholderData} head={['Name', 'Ready', 'Desired', 'Images']} empty={deployments.data?.items.length === 0}>
            {deployments.data?.items.map((d) => (
              <tr key={d.id} className={rowClass}>
                <td className={cellClass}>
                  <Link className={linkClass} to={`/admin/kubernetes/deployments/${d.id}`}>{d.name}</Link>
                </td>
                <td className={cellClass}>
                  {d.data.replicas.ready}/{d.data.replicas.desired}
                </td>
                <td className={cellClass}>{d.data.replicas.desired}</td>
                <td className={`${cellClass} break-all`}>{d.data.images.join(', ')}</td>
              </tr>
            ))}
          </Table>
        )}
        <Pager label="deployments" state={deploymentList} shown={deployments.data?.items.length ?? 0} total={deployments.data?.total ?? 0} nextCursor={deployments.data?.next_cursor} />
      </Panel>
      <Panel title={`Pods (${pods.data?.total ?? '…'})`} actions={<ExportLinks label="pods" urls={exportUrls.namespacePods(id, podList)} />}>
        <ListControls label="pods" state={podList} takes={listTakes.namespacePods} sorts={listSorts.namespacePods} />
        {pods.error ? <ErrorBox error={pods.error} /> : <PodsTable caption="Pods" pods={pods.data?.items ?? []} busy={pods.isPlaceholderData} sort={tableSort('namespacePods', podList)} />}
        <Pager label="pods" state={podList} shown={pods.data?.items.length ?? 0} total={pods.data?.total ?? 0} nextCursor={pods.data?.next_cursor} />
      </Panel>
      <WorkloadsPanels namespaceId={id} />
      <PvcPanel scope="namespace" id={id} />
      <Suspense fallback={<Loading what="the cost chart" />}>
        <CostChart namespaceId={id} />
      </Suspense>
    </div>
  )
}

export function DeploymentDetail() {
  const { id = '' } = useParams()
  const deployment = useDeployment(id)
  const podList = useListState('pods')
  const pods = useDeploymentPods(id, podList)
  if (deployment.isPending) return <Loading what="the deployment" />
  if (deployment.error) return <ErrorBox error={deployment.error} />
  const d = deployment.data
  return (
    <div className="space-y-6">
      <Breadcrumb clusterId={d.cluster_id} trail={[d.namespace, d.name]} />
      <h1 className="text-2xl font-bold">Deployment {d.name}</h1>
      <p>
        Ready {d.data.replicas.ready} of {d.data.replicas.desired} replicas · images {d.data.images.join(', ')}
      </p>
      <DeploymentActions id={id} name={d.name} desired={d.data.replicas.desired} />
      <Panel title={`Pods (${pods.data?.total ?? '…'})`} actions={<ExportLinks label="pods" urls={exportUrls.deploymentPods(id, podList)} />}>
        <ListControls label="pods" state={podList} takes={listTakes.deploymentPods} sorts={listSorts.deploymentPods} />
        {pods.error ? <ErrorBox error={pods.error} /> : <PodsTable caption="Pods of the deployment" pods={pods.data?.items ?? []} busy={pods.isPlaceholderData} sort={tableSort('deploymentPods', podList)} />}
        <Pager label="pods" state={podList} shown={pods.data?.items.length ?? 0} total={pods.data?.total ?? 0} nextCursor={pods.data?.next_cursor} />
      </Panel>
      <LiveObjectPanels kind="deployments" id={id} />
    </div>
  )
}

/** The workload a pod belongs to, linked to its page when the hub holds it. */
export function TopOwner({ owner }: { owner: PodWithOwner['top_owner'] }) {
  if (!owner) return <>none (a bare pod)</>
  const label = `${owner.kind} ${owner.name}`
  const pages: Record<string, string> = {
    Deployment: '/admin/kubernetes/deployments/',
    StatefulSet: workloadPath('statefulsets', ''),
    DaemonSet: workloadPath('daemonsets', ''),
    Job: workloadPath('jobs', ''),
    CronJob: workloadPath('cronjobs', ''),
  }
  const page = pages[owner.kind]
  if (!owner.id || !page) return <>{label}</>
  return (
    <Link className={linkClass} to={`${page}${owner.id}`}>
      {label}
    </Link>
  )
}

/** The pod's usage over the last day: average and peak of the hours with data. */
export function PodUsage({ series }: { series: UsageSeries }) {
  const u = usageSummary(series)
  if (!u) return <p data-testid="pod-usage-empty">No usage recorded yet.</p>
  return (
    <div className="space-y-2" data-testid="pod-usage">
      <dl className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4">
      {[
        ['CPU average', cpu(u.cpuAvgMillicores)],
        ['CPU peak hour', cpu(u.cpuPeakMillicores)],
        ['Memory average', bytes(u.memoryAvgBytes)],
        ['Memory max', bytes(u.memoryMaxBytes)],
      ].map(([k, v]) => (
        <div key={k}>
          <dt className="text-sm text-gray-600 dark:text-gray-300">{k}</dt>
          <dd className="font-medium">{v}</dd>
        </div>
      ))}
      </dl>
      <p className="text-sm text-gray-600 dark:text-gray-300">
        Over {u.hours} hour{u.hours === 1 ? '' : 's'} with data in the last 24 h.
      </p>
    </div>
  )
}

export function PodDetail() {
  const { id = '' } = useParams()
  const pod = usePod(id)
  const usage = usePodUsage(id)
  const canExec = useCanExec()
  if (pod.isPending) return <Loading what="the pod" />
  if (pod.error) return <ErrorBox error={pod.error} />
  const p = pod.data
  return (
    <div className="space-y-6">
      <Breadcrumb clusterId={p.cluster_id} trail={[p.namespace, p.name]} />
      <h1 className="text-2xl font-bold">Pod {p.name}</h1>
      <PodActions id={id} name={p.name} />
      <Panel title="Overview">
        <dl className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4">
          {[
            ['Status', p.status ?? p.data.phase],
            ['Phase', p.data.phase],
            ['Node', p.data.node ?? '—'],
            ['QoS class', p.data.qos_class],
            ['Controller', p.data.owner ? `${p.data.owner.kind} ${p.data.owner.name}` : '—'],
          ].map(([k, v]) => (
            <div key={k}>
              <dt className="text-sm text-gray-600 dark:text-gray-300">{k}</dt>
              <dd className="font-medium" data-testid={`pod-${k.toLowerCase().replace(' ', '-')}`}>{v}</dd>
            </div>
          ))}
        </dl>
        <p className="mt-3" data-testid="pod-workload">
          Workload: <TopOwner owner={p.top_owner} />
        </p>
      </Panel>
      <Panel title="Usage (last 24 h)">
        {usage.error ? <ErrorBox error={usage.error} /> : usage.data ? <PodUsage series={usage.data} /> : <Loading what="usage" />}
      </Panel>
      <Panel title="Containers">
        <Table caption="Containers" head={['Name', 'Kind', 'Image', 'State', 'Last ended', 'CPU request', 'CPU limit', 'Memory request', 'Memory limit', 'Restarts', 'Ready']}>
          {p.data.containers.map((c) => (
            <tr key={c.name} className={rowClass}>
              <td className={cellClass}>{c.name}</td>
              <td className={cellClass}>{c.kind}</td>
              <td className={cellClass}>{c.image || '—'}</td>
              <td className={cellClass}>{containerState(c.state)}</td>
              <td className={cellClass}>{c.last_termination_reason ?? '—'}</td>
              <td className={cellClass}>{cpu(c.requests.cpu_millis)}</td>
              <td className={cellClass}>{cpu(c.limits.cpu_millis)}</td>
              <td className={cellClass}>{bytes(c.requests.memory_bytes)}</td>
              <td className={cellClass}>{bytes(c.limits.memory_bytes)}</td>
              <td className={cellClass}>{c.restarts}</td>
              <td className={cellClass}>{c.ready ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </Table>
      </Panel>
      <Panel title="Logs" id="logs">
        <OnDemand label="Show the logs">
          <LogViewer podId={id} containers={p.data.containers.map((c) => c.name)} />
        </OnDemand>
      </Panel>
      {canExec && (
        <Panel title="Terminal" id="terminal">
          <OnDemand label="Open a terminal">
            <Suspense fallback={<Loading what="the terminal" />}>
              <PodTerminal podId={id} containers={p.data.containers.map((c) => c.name)} />
            </Suspense>
          </OnDemand>
        </Panel>
      )}
      <LiveObjectPanels kind="pods" id={id} />
    </div>
  )
}
