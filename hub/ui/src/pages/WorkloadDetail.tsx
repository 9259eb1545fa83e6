// One workload (StatefulSet, DaemonSet, Job, CronJob; Deployments have their own page with
// actions): its status, its pods through the owner chain, and a CronJob's Jobs.
import { Link, useParams } from 'react-router'
import { useListState } from '../lib/listState'
import { exportUrls, listSorts, listTakes, useCronJobJobs, useWorkload, useWorkloadPods } from '../lib/queries'
import { tableSort } from '../lib/tableSorts'
import {
  type CronJobData,
  type DaemonSetData,
  type JobData,
  type StatefulSetData,
  type WorkloadData,
  type WorkloadKind,
  workloadStatus,
} from '../lib/projections'
import { ListControls } from '../components/ListControls'
import { ExportLinks, Pager } from '../components/Pager'
import { PodsTable } from '../components/PodsTable'
import { WORKLOAD_TITLES, workloadPath } from '../components/WorkloadsPanel'
import { Badge, Breadcrumb, ErrorBox, Loading, Panel, Table, cellClass, linkClass, rowClass } from '../components/ui'

const KINDS: WorkloadKind[] = ['deployments', 'statefulsets', 'daemonsets', 'jobs', 'cronjobs']

const when = (millis: number | null) => (millis === null ? '—' : new Date(millis).toISOString().replace('.000Z', 'Z'))

/** The facts of a workload's kind, as label and value pairs. */
export function workloadFacts(kind: WorkloadKind, data: WorkloadData): [string, string][] {
  switch (kind) {
    case 'statefulsets': {
      const s = data as StatefulSetData
      const strategy = s.update_strategy === 'OnDelete' ? 'OnDelete' : `RollingUpdate, partition ${s.update_strategy.RollingUpdate.partition ?? 0}`
      return [
        ['Ready', `${s.replicas.ready} of ${s.replicas.desired}`],
        ['Updated', String(s.replicas.updated)],
        ['Service', s.service_name ?? '—'],
        ['Update strategy', strategy],
      ]
    }
    case 'daemonsets': {
      const d = data as DaemonSetData
      return [
        ['Nodes ready', `${d.counts.ready} of ${d.counts.desired}`],
        ['Available', String(d.counts.available)],
        ['Misscheduled', String(d.counts.misscheduled)],
        ['Update strategy', d.update_strategy],
      ]
    }
    case 'jobs': {
      const j = data as JobData
      return [
        ['State', j.state],
        ['Succeeded', `${j.succeeded} of ${j.completions ?? 1}`],
        ['Failed', String(j.failed)],
        ['Active', String(j.active)],
        ['Started', when(j.start_time)],
        ['Completed', when(j.completion_time)],
        ['Started by', j.owner ? `${j.owner.kind} ${j.owner.name}` : 'hand'],
      ]
    }
    case 'cronjobs': {
      const c = data as CronJobData
      return [
        ['Schedule', c.time_zone ? `${c.schedule} (${c.time_zone})` : c.schedule],
        ['Suspended', c.suspend ? 'yes' : 'no'],
        ['Last schedule', when(c.last_schedule)],
        ['Last success', when(c.last_successful)],
        ['Running Jobs', String(c.active)],
        ['Concurrency', c.concurrency_policy],
      ]
    }
    default:
      return []
  }
}

function CronJobJobs({ id }: { id: string }) {
  const state = useListState('jobs')
  const jobs = useCronJobJobs(id, state)
  return (
    <Panel id="jobs" title={`Jobs (${jobs.data?.total ?? '…'})`}>
      <ListControls label="jobs" state={state} takes={listTakes.cronJobJobs} sorts={listSorts.cronJobJobs} />
      {jobs.error ? (
        <ErrorBox error={jobs.error} />
      ) : (
        <Table caption="Jobs of the CronJob" sort={tableSort('cronJobJobs', state)} busy={jobs.isPlaceholderData} head={['Name', 'Status', 'Started']} empty={jobs.data?.items.length === 0}>
          {jobs.data?.items.map((j) => {
            const status = workloadStatus('jobs', j.data)
            return (
              <tr key={j.id} className={rowClass} data-testid="job-row">
                <td className={cellClass}>
                  <Link className={linkClass} to={workloadPath('jobs', j.id)}>
                    {j.name}
                  </Link>
                </td>
                <td className={cellClass}>
                  <Badge color={status.ok ? 'green' : 'red'}>{status.text}</Badge>
                </td>
                <td className={cellClass}>{when(j.data.start_time)}</td>
              </tr>
            )
          })}
        </Table>
      )}
      <Pager label="jobs" state={state} shown={jobs.data?.items.length ?? 0} total={jobs.data?.total ?? 0} nextCursor={jobs.data?.next_cursor} />
    </Panel>
  )
}

export function WorkloadDetail() {
  const { kind: raw = '', id = '' } = useParams()
  const kind = KINDS.find((k) => k === raw) ?? 'statefulsets'
  const workload = useWorkload(kind, id)
  const podList = useListState('pods')
  const pods = useWorkloadPods(kind, id, podList)
  if (workload.isPending) return <Loading what="the workload" />
  if (workload.error) return <ErrorBox error={workload.error} />
  const w = workload.data
  const status = workloadStatus(kind, w.data)
  const title = WORKLOAD_TITLES[kind].replace(/s$/, '')
  return (
    <div className="space-y-6">
      <Breadcrumb clusterId={w.cluster_id} trail={[w.namespace, w.name]} />
      <h1 className="text-2xl font-bold">
        {title} {w.name}
      </h1>
      <Panel title="Overview">
        <p className="mb-3">
          <Badge color={status.ok ? 'green' : 'yellow'}>{status.text}</Badge>
        </p>
        <dl className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4">
          {[...workloadFacts(kind, w.data), ['Images', w.data.images.join(', ')]].map(([k, v]) => (
            <div key={k}>
              <dt className="text-sm text-gray-600 dark:text-gray-300">{k}</dt>
              <dd className="font-medium break-all" data-testid={`workload-${k.toLowerCase().replace(/ /g, '-')}`}>
                {v}
              </dd>
            </div>
          ))}
        </dl>
      </Panel>
      {kind === 'cronjobs' && <CronJobJobs id={id} />}
      <Panel title={`Pods (${pods.data?.total ?? '…'})`} actions={<ExportLinks label="pods" urls={exportUrls.workloadPods(kind, id, podList)} />}>
        <ListControls label="pods" state={podList} takes={listTakes.workloadPods} sorts={listSorts.workloadPods} />
        {pods.error ? (
          <ErrorBox error={pods.error} />
        ) : (
          <PodsTable caption={`Pods of the ${title}`} pods={pods.data?.items ?? []} busy={pods.isPlaceholderData} sort={tableSort('workloadPods', podList)} />
        )}
        <Pager label="pods" state={podList} shown={pods.data?.items.length ?? 0} total={pods.data?.total ?? 0} nextCursor={pods.data?.next_cursor} />
      </Panel>
    </div>
  )
}
