// Namespace detail (deployments, pods, cost trend, CSV export), a deployment's pods, and a
// pod's containers.
import { useState } from 'react'
import { Link, useParams, useSearchParams } from 'react-router'
import { useQuery } from '@tanstack/react-query'
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import { api, type DeploymentData, type NamespaceCosts, type Obj, type Page, type PodData } from '../lib/api'
import { bytes, cpu, dollars } from '../lib/format'
import { Badge, Breadcrumb, ErrorBox, Loading, Panel, Table, cellClass, inputClass, linkClass, rowClass } from '../components/ui'

function PodsTable({ caption, pods }: { caption: string; pods: Obj<PodData>[] }) {
  return (
    <Table caption={caption} head={['Name', 'Phase', 'Ready', 'Node', 'Restarts']} empty={pods.length === 0}>
      {pods.map((p) => (
        <tr key={p.id} className={rowClass} data-testid="pod-row">
          <td className={cellClass}>
            <Link className={linkClass} to={`/admin/kubernetes/pods/${p.id}`}>{p.name}</Link>
          </td>
          <td className={cellClass}>{p.data.phase}</td>
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

/** Stacks cost per resource and step. Exported for tests. */
export function costSeries(costs: NamespaceCosts, step: 'hour' | 'day') {
  return costs.steps.map((s) => {
    const d = new Date(s.start)
    return {
      at: step === 'hour' ? `${d.toISOString().slice(5, 10)} ${d.toISOString().slice(11, 13)}h` : d.toISOString().slice(0, 10),
      cpu: s.cpu.cost,
      memory: s.memory.cost,
      storage: s.storage_cost,
      network: s.network_cost,
    }
  })
}

function CostChart({ namespaceId }: { namespaceId: string }) {
  const [step, setStep] = useState<'hour' | 'day'>('day')
  const query = step === 'hour' ? 'window=24h&step=1h' : 'window=7d&step=1d'
  const costs = useQuery({
    queryKey: ['namespace-costs', namespaceId, step],
    queryFn: () => api<NamespaceCosts>(`/api/v1/k8s/namespaces/${namespaceId}/costs?${query}`),
  })
  return (
    <Panel
      title="Cost trend"
      actions={
        <div className="flex items-center gap-2">
          <label className="text-sm font-medium">
            Step{' '}
            <select className={inputClass} value={step} onChange={(e) => setStep(e.target.value as 'hour' | 'day')}>
              <option value="day">by day (7 days)</option>
              <option value="hour">by hour (24 h)</option>
            </select>
          </label>
          <a className={linkClass} href={`/api/v1/k8s/namespaces/${namespaceId}/costs?${query}&format=csv`} download>
            Export CSV
          </a>
        </div>
      }
    >
      {costs.isPending && <Loading what="costs" />}
      {costs.error && <ErrorBox error={costs.error} />}
      {costs.data && (
        <>
          <p className="mb-2 text-sm">Total: {dollars(costs.data.total.total_cost)}</p>
          <div className="h-64" role="img" aria-label={`Cost per ${step}, stacked by CPU, memory, storage and network`}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={costSeries(costs.data, step)}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="at" fontSize={12} />
                <YAxis fontSize={12} />
                <Tooltip />
                <Legend />
                <Bar dataKey="cpu" stackId="c" fill="#2563eb" name="CPU" />
                <Bar dataKey="memory" stackId="c" fill="#9333ea" name="Memory" />
                <Bar dataKey="storage" stackId="c" fill="#0d9488" name="Storage" />
                <Bar dataKey="network" stackId="c" fill="#d97706" name="Network" />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </>
      )}
    </Panel>
  )
}

export function NamespaceDetail() {
  const { id = '' } = useParams()
  const [params] = useSearchParams()
  const name = params.get('name') ?? 'namespace'
  const clusterId = params.get('cluster')
  const deployments = useQuery({
    queryKey: ['deployments', id],
    queryFn: () => api<Page<Obj<DeploymentData>>>(`/api/v1/k8s/namespaces/${id}/deployments?limit=500`),
  })
  const pods = useQuery({
    queryKey: ['pods', id],
    queryFn: () => api<Page<Obj<PodData>>>(`/api/v1/k8s/namespaces/${id}/pods?limit=500`),
  })
  return (
    <div className="space-y-6">
      <Breadcrumb clusterId={clusterId} trail={[name]} />
      <h1 className="text-2xl font-bold">Namespace {name}</h1>
      <Panel title={`Deployments (${deployments.data?.total ?? '…'})`}>
        {deployments.error ? (
          <ErrorBox error={deployments.error} />
        ) : (
          <Table caption="Deployments" head={['Name', 'Ready', 'Desired', 'Images']} empty={deployments.data?.items.length === 0}>
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
      </Panel>
      <Panel title={`Pods (${pods.data?.total ?? '…'})`}>
        {pods.error ? <ErrorBox error={pods.error} /> : <PodsTable caption="Pods" pods={pods.data?.items ?? []} />}
      </Panel>
      <CostChart namespaceId={id} />
    </div>
  )
}

export function DeploymentDetail() {
  const { id = '' } = useParams()
  const deployment = useQuery({ queryKey: ['deployment', id], queryFn: () => api<Obj<DeploymentData>>(`/api/v1/k8s/deployments/${id}`) })
  const pods = useQuery({
    queryKey: ['deployment-pods', id],
    queryFn: () => api<Page<Obj<PodData>>>(`/api/v1/k8s/deployments/${id}/pods?limit=500`),
  })
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
      <Panel title={`Pods (${pods.data?.total ?? '…'})`}>
        {pods.error ? <ErrorBox error={pods.error} /> : <PodsTable caption="Pods of the deployment" pods={pods.data?.items ?? []} />}
      </Panel>
    </div>
  )
}

export function PodDetail() {
  const { id = '' } = useParams()
  const pod = useQuery({ queryKey: ['pod', id], queryFn: () => api<Obj<PodData>>(`/api/v1/k8s/pods/${id}`) })
  if (pod.isPending) return <Loading what="the pod" />
  if (pod.error) return <ErrorBox error={pod.error} />
  const p = pod.data
  return (
    <div className="space-y-6">
      <Breadcrumb clusterId={p.cluster_id} trail={[p.namespace, p.name]} />
      <h1 className="text-2xl font-bold">Pod {p.name}</h1>
      <Panel title="Overview">
        <dl className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4">
          {[
            ['Phase', p.data.phase],
            ['Node', p.data.node ?? '—'],
            ['QoS class', p.data.qos_class],
            ['Owner', p.data.owner ? `${p.data.owner.kind} ${p.data.owner.name}` : '—'],
          ].map(([k, v]) => (
            <div key={k}>
              <dt className="text-sm text-gray-600 dark:text-gray-300">{k}</dt>
              <dd className="font-medium" data-testid={`pod-${k.toLowerCase().replace(' ', '-')}`}>{v}</dd>
            </div>
          ))}
        </dl>
      </Panel>
      <Panel title="Containers">
        <Table caption="Containers" head={['Name', 'Kind', 'CPU request', 'CPU limit', 'Memory request', 'Memory limit', 'Restarts', 'Ready']}>
          {p.data.containers.map((c) => (
            <tr key={c.name} className={rowClass}>
              <td className={cellClass}>{c.name}</td>
              <td className={cellClass}>{c.kind}</td>
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
    </div>
  )
}
