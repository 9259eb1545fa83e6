// The hub's REST API as the UI uses it: same-origin fetches with the session cookie, the
// CSRF double submit on mutations, and the API's error shape turned into ApiError.

/** A failed API call: the hub's own message, shown to people verbatim. */
export class ApiError extends Error {
  status: number
  code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

function csrfToken(): string | undefined {
  return document.cookie
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === 'csrf_token')?.[1]
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers)
  const method = (init.method ?? 'GET').toUpperCase()
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrfToken()
    if (token) headers.set('x-csrf-token', token)
  }
  if (typeof init.body === 'string') headers.set('content-type', 'application/json')
  const response = await fetch(path, { ...init, headers, credentials: 'same-origin' })
  if (!response.ok) {
    let code = 'error'
    let message = `${response.status} ${response.statusText}`
    try {
      const body = await response.json()
      code = body?.error?.code ?? code
      message = body?.error?.message ?? message
    } catch {
      // not the API's shape (a proxy's page): keep the status line
    }
    throw new ApiError(response.status, code, message)
  }
  if (response.status === 204) return undefined as T
  return (await response.json()) as T
}

export const post = <T>(path: string, body?: unknown) =>
  api<T>(path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) })

export interface Me {
  user_id: string
  actor: string
  org_id: string
  org: string
  role: 'admin' | 'viewer'
  auth: string
}

export interface Reason {
  code: string
  severity: string
  message: string
}

export interface Health {
  status: 'healthy' | 'degraded' | 'critical'
  reasons: Reason[]
  checked_at: string
}

export interface Cluster {
  id: string
  name: string
  description: string
  environment: string
  tags: string[]
  provider: string | null
  version: string | null
  api_server_url: string | null
  mode: string
  enabled: boolean
  health: Health | null
  last_sync_at: string | null
  last_error: string | null
  last_heartbeat_at: string | null
  created_at: string
  updated_at: string
  counts: { nodes: number; nodes_ready: number; namespaces: number; deployments: number; pods: number }
}

export interface Page<T> {
  items: T[]
  total: number
  limit: number
  offset: number
}

/** An inventory object: `data` is the collector's projection of the Kubernetes object. */
export interface Obj<D = Record<string, unknown>> {
  id: string
  cluster_id: string
  namespace: string
  name: string
  data: D
  first_seen_at: string
  updated_at: string
}

export interface Resources {
  cpu_millis?: number | null
  memory_bytes?: number | null
  ephemeral_storage_bytes?: number | null
  gpus?: number | null
  pods?: number
}

export interface Condition {
  type_: string
  status: string
  reason?: string | null
}

export interface NodeData {
  role: string
  instance_type: string | null
  zone: string | null
  capacity: Resources
  conditions: Condition[]
  kubelet_version: string
  unschedulable: boolean
}

export interface NamespaceData {
  labels: Record<string, string>
  phase: string
}

/** A namespace list item: the namespace with its live deployment and pod counts. */
export type NamespaceItem = Obj<NamespaceData> & { deployments: number; pods: number }

/** `GET /metrics/…` and `GET /pods/{id}/usage`: one point per step, zero where nothing was recorded. */
export interface UsageSeries {
  step_seconds: number
  points: { start: string; cpu_millicores: number; memory_bytes: number; memory_max_bytes: number }[]
}

export interface DeploymentData {
  replicas: { desired: number; updated: number; ready: number; available: number; unavailable: number }
  images: string[]
}

export interface Container {
  name: string
  kind: string
  requests: Resources
  limits: Resources
  restarts: number
  ready: boolean
}

export interface PodData {
  node: string | null
  phase: string
  owner: { kind: string; name: string } | null
  containers: Container[]
  ready: boolean
  start_time: number | null
  qos_class: string
}

export interface HelmData {
  revision: number
  status: string
  chart_name: string
  chart_version: string
  app_version: string | null
}

export interface CostLine {
  key: string
  start: number
  end: number
  cpu: { cost: number }
  memory: { cost: number }
  storage_cost: number
  network_cost: number
  total_cost: number
}

export interface NamespaceCosts {
  steps: CostLine[]
  total: CostLine
}

export interface CostReport {
  lines: CostLine[]
  total: CostLine
}

/** An issued enrollment token: the token row's fields, the token and the helm command. */
export interface EnrollmentCreated {
  id: string
  cluster_name: string
  expires_at: string
  token: string
  helm: string
}
