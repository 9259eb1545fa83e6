// What the UI reads from an inventory object's `data`: the collector's projection of the
// Kubernetes object (kubeworkz_shared::model). The OpenAPI document types `data` only as an
// object whose fields depend on the kind, so these are the one hand-written API shapes; the
// rest of each object is the generated `ObjectView`.
import type { components } from './api-types'

/** An inventory object whose `data` is the projection `D`. */
export type Obj<D> = Omit<components['schemas']['ObjectView'], 'data'> & { data: D }

export type Resources = {
  cpu_millis?: number | null
  memory_bytes?: number | null
  ephemeral_storage_bytes?: number | null
  gpus?: number | null
  pods?: number
}

export type Condition = {
  type_: string
  status: string
  reason?: string | null
}

export type NodeData = {
  role: string
  instance_type: string | null
  zone: string | null
  capacity: Resources
  conditions: Condition[]
  kubelet_version: string
  unschedulable: boolean
}

export type NamespaceData = {
  labels: Record<string, string>
  phase: string
}

/** A namespace list item: the namespace with its live deployment and pod counts. */
export type NamespaceItem = Omit<components['schemas']['NamespaceView'], 'data'> & { data: NamespaceData }

export type DeploymentData = {
  replicas: { desired: number; updated: number; ready: number; available: number; unavailable: number }
  images: string[]
}

/** What a container does: waiting or ended with a reason (`CrashLoopBackOff`, `OOMKilled`), or running. */
export type ContainerState =
  | { Waiting: { reason: string | null } }
  | 'Running'
  | { Terminated: { reason: string | null; exit_code: number } }

export type Container = {
  name: string
  kind: string
  requests: Resources
  limits: Resources
  restarts: number
  ready: boolean
  image: string
  state: ContainerState | null
  last_termination_reason: string | null
}

export type PodData = {
  node: string | null
  phase: string
  owner: { kind: string; name: string } | null
  containers: Container[]
  ready: boolean
  start_time: number | null
  qos_class: string
  labels: Record<string, string>
  reason: string | null
}

/** A container's state in words, as `kubectl describe` names it. */
export function containerState(state: ContainerState | null): string {
  if (state === null) return '—'
  if (state === 'Running') return 'Running'
  if ('Waiting' in state) return `Waiting${state.Waiting.reason ? `: ${state.Waiting.reason}` : ''}`
  const { reason, exit_code } = state.Terminated
  return `Terminated: ${reason ?? 'exit code'} (${exit_code})`
}

/** A PersistentVolumeClaim: sizes in bytes, `storage_class` `null` for the default class. */
export type PvcData = {
  phase: string
  requested_bytes: number | null
  capacity_bytes: number | null
  storage_class: string | null
  volume_name: string | null
}

export type HelmData = {
  revision: number
  status: string
  chart_name: string
  chart_version: string
  app_version: string | null
}

export type StatefulSetData = {
  replicas: { desired: number; current: number; ready: number; available: number; updated: number }
  service_name: string | null
  update_strategy: { RollingUpdate: { partition: number | null; max_unavailable: string | null } } | 'OnDelete'
  images: string[]
}

export type DaemonSetData = {
  counts: { desired: number; current: number; ready: number; available: number; updated: number; misscheduled: number }
  update_strategy: string
  images: string[]
}

export type JobData = {
  owner: { kind: string; name: string } | null
  completions: number | null
  parallelism: number
  succeeded: number
  failed: number
  active: number
  state: 'Running' | 'Complete' | 'Failed' | 'Suspended'
  start_time: number | null
  completion_time: number | null
  images: string[]
}

export type CronJobData = {
  schedule: string
  time_zone: string | null
  suspend: boolean
  concurrency_policy: string
  last_schedule: number | null
  last_successful: number | null
  active: number
  images: string[]
}

/** The workload kinds of the workload pages, as the API's paths name them. */
export type WorkloadKind = 'deployments' | 'statefulsets' | 'daemonsets' | 'jobs' | 'cronjobs'

export type WorkloadData = DeploymentData | StatefulSetData | DaemonSetData | JobData | CronJobData

/** A workload's state in a few words, and whether it is where it should be: what the lists
 * and the workload page show beside its name. */
export function workloadStatus(kind: WorkloadKind, data: WorkloadData): { text: string; ok: boolean } {
  switch (kind) {
    case 'deployments':
    case 'statefulsets': {
      const r = (data as DeploymentData | StatefulSetData).replicas
      return { text: `${r.ready}/${r.desired} ready`, ok: r.ready >= r.desired }
    }
    case 'daemonsets': {
      const c = (data as DaemonSetData).counts
      const misscheduled = c.misscheduled ? `, ${c.misscheduled} misscheduled` : ''
      return { text: `${c.ready}/${c.desired} nodes ready${misscheduled}`, ok: c.ready >= c.desired && c.misscheduled === 0 }
    }
    case 'jobs': {
      const j = data as JobData
      const failures = j.failed ? `, ${j.failed} failed` : ''
      const wanted = j.completions ?? 1
      return { text: `${j.state}: ${j.succeeded}/${wanted} succeeded${failures}`, ok: j.state !== 'Failed' }
    }
    case 'cronjobs': {
      const c = data as CronJobData
      if (c.suspend) return { text: `${c.schedule}, suspended`, ok: true }
      return { text: `${c.schedule}, ${c.active} running`, ok: true }
    }
  }
}
