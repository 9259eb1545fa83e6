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
