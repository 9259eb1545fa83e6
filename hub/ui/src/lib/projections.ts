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

export type Container = {
  name: string
  kind: string
  requests: Resources
  limits: Resources
  restarts: number
  ready: boolean
}

export type PodData = {
  node: string | null
  phase: string
  owner: { kind: string; name: string } | null
  containers: Container[]
  ready: boolean
  start_time: number | null
  qos_class: string
}

export type HelmData = {
  revision: number
  status: string
  chart_name: string
  chart_version: string
  app_version: string | null
}
