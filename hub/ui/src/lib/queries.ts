// Every query and mutation of the UI, with its cache key: the one module that knows which
// API operation answers what, and which cached answers a change makes stale. Pages call these
// hooks; they never name a URL. Live updates (events.ts) refetch everything but `me`.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import {
  ApiError,
  apiGet,
  apiSend,
  apiUrl,
  type BudgetInput,
  type Webhook,
  type WebhookInput,
  type FleetGrouping,
  type GetQuery,
  type CreateEnrollmentToken,
  type LoginRequest,
  type Me,
  type Page,
  type RegisterCluster,
  type Schemas,
} from './api'
import type {
  DeploymentData,
  HelmData,
  JobData,
  NamespaceItem,
  NodeData,
  Obj,
  PodData,
  PvcData,
  WorkloadData,
  WorkloadKind,
} from './projections'

/**
 * One server page of a list: the table's window and order. `cursor`, `sort` and `q` reach the
 * hub only for lists that take them (LIST_PARAMS).
 */
export interface PageArgs {
  limit: number
  offset: number
  /** The hub's cursor for the page (reached with Next): a seek instead of skipping `offset`. */
  cursor?: string | null
  /** The last page's rows (reached with Last): read from the list's end instead of skipping `offset`. */
  fromEnd?: number | null
  sort?: string
  q?: string
}

type ListPath =
  | '/api/v1/k8s/clusters'
  | '/api/v1/k8s/clusters/{id}/namespaces'
  | '/api/v1/k8s/clusters/{id}/nodes'
  | '/api/v1/k8s/helm/releases'
  | '/api/v1/k8s/namespaces/{id}/deployments'
  | '/api/v1/k8s/namespaces/{id}/pods'
  | '/api/v1/k8s/deployments/{id}/pods'
  | '/api/v1/k8s/clusters/{id}/pvcs'
  | '/api/v1/k8s/namespaces/{id}/pvcs'
  | '/api/v1/k8s/namespaces/{id}/workloads/{kind}'
  | '/api/v1/k8s/workloads/{kind}/{id}/pods'
  | '/api/v1/k8s/workloads/{kind}/{id}/jobs'
type Takes<P extends ListPath, K extends string> = K extends keyof GetQuery<P> ? true : false

/**
 * Which lists sort, filter, export and seek by cursor on the server. Checked against the generated types:
 * when the hub's document gains `sort`, `q`, `format` or `cursor` for a list, a `false` here stops
 * compiling until it is turned on, so a table never offers an order, filter or download the
 * hub would not honour.
 */
export const LIST_PARAMS = {
  '/api/v1/k8s/clusters': { sort: true, q: false, format: true, cursor: true },
  '/api/v1/k8s/clusters/{id}/namespaces': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/clusters/{id}/nodes': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/helm/releases': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/namespaces/{id}/deployments': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/namespaces/{id}/pods': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/deployments/{id}/pods': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/clusters/{id}/pvcs': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/namespaces/{id}/pvcs': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/namespaces/{id}/workloads/{kind}': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/workloads/{kind}/{id}/pods': { sort: true, q: true, format: true, cursor: true },
  '/api/v1/k8s/workloads/{kind}/{id}/jobs': { sort: true, q: true, format: true, cursor: true },
} as const satisfies { [P in ListPath]: { sort: Takes<P, 'sort'>; q: Takes<P, 'q'>; format: Takes<P, 'format'>; cursor: Takes<P, 'cursor'> } }

/** What each table's list takes, by what the list is of. */
export const listTakes = {
  clusterNamespaces: LIST_PARAMS['/api/v1/k8s/clusters/{id}/namespaces'],
  clusterNodes: LIST_PARAMS['/api/v1/k8s/clusters/{id}/nodes'],
  helmReleases: LIST_PARAMS['/api/v1/k8s/helm/releases'],
  namespaceDeployments: LIST_PARAMS['/api/v1/k8s/namespaces/{id}/deployments'],
  namespacePods: LIST_PARAMS['/api/v1/k8s/namespaces/{id}/pods'],
  deploymentPods: LIST_PARAMS['/api/v1/k8s/deployments/{id}/pods'],
  clusterPvcs: LIST_PARAMS['/api/v1/k8s/clusters/{id}/pvcs'],
  namespacePvcs: LIST_PARAMS['/api/v1/k8s/namespaces/{id}/pvcs'],
  namespaceWorkloads: LIST_PARAMS['/api/v1/k8s/namespaces/{id}/workloads/{kind}'],
  workloadPods: LIST_PARAMS['/api/v1/k8s/workloads/{kind}/{id}/pods'],
  cronJobJobs: LIST_PARAMS['/api/v1/k8s/workloads/{kind}/{id}/jobs'],
}

const BY_NAME: [string, string][] = [
  ['name', 'Name'],
  ['-name', 'Name, Z–A'],
]

const BY_AGE: [string, string][] = [
  ['age', 'Newest first'],
  ['-age', 'Oldest first'],
]

const POD_SORTS: [string, string][] = [
  ...BY_NAME,
  ['-restarts', 'Most restarts'],
  ['restarts', 'Fewest restarts'],
  ['node', 'Node'],
  ['-node', 'Node, Z–A'],
  ['status', 'Status'],
  ['-status', 'Status, Z–A'],
  ['phase', 'Phase'],
  ['-phase', 'Phase, Z–A'],
  ...BY_AGE,
]

const PVC_SORTS: [string, string][] = [
  ...BY_NAME,
  ['-capacity', 'Largest first'],
  ['capacity', 'Smallest first'],
  ['storage_class', 'Storage class'],
  ['-storage_class', 'Storage class, Z–A'],
  ['phase', 'Phase'],
  ['-phase', 'Phase, Z–A'],
  ...BY_AGE,
]

/** The orders each list knows (the API's `sort` values, the hub sorts), the default first. */
export const listSorts: Record<keyof typeof listTakes, [string, string][]> = {
  clusterNamespaces: [...BY_NAME, ['-pods', 'Most pods'], ['pods', 'Fewest pods'], ...BY_AGE],
  clusterNodes: [...BY_NAME, ...BY_AGE],
  helmReleases: [...BY_NAME, ['status', 'Status'], ['-status', 'Status, Z–A'], ['chart', 'Chart'], ['-chart', 'Chart, Z–A'], ...BY_AGE],
  namespaceDeployments: [...BY_NAME, ['ready', 'Fewest ready'], ['-ready', 'Most ready'], ['-replicas', 'Most replicas'], ['replicas', 'Fewest replicas'], ...BY_AGE],
  namespacePods: POD_SORTS,
  deploymentPods: POD_SORTS,
  clusterPvcs: PVC_SORTS,
  namespacePvcs: PVC_SORTS,
  // Every kind sorts by name and age; the workload tables offer only those, common to all.
  namespaceWorkloads: [...BY_NAME, ...BY_AGE],
  workloadPods: POD_SORTS,
  cronJobJobs: [...BY_NAME, ['status', 'Status'], ['-status', 'Status, Z–A'], ...BY_AGE],
}

/** The query of one page of `path`: its window, and its order and filter where the hub takes them. */
export function pageQuery(path: ListPath, page: PageArgs): Record<string, string | number> {
  const takes: { sort: boolean; q: boolean; cursor: boolean } = LIST_PARAMS[path]
  const window: Record<string, string | number> = page.fromEnd
    ? { limit: page.fromEnd, last: 'true' }
    : { limit: page.limit, ...(takes.cursor && page.cursor ? { cursor: page.cursor } : { offset: page.offset }) }
  return {
    ...window,
    ...(takes.sort && page.sort ? { sort: page.sort } : {}),
    ...(takes.q && page.q ? { q: page.q } : {}),
  }
}

/** The whole list (every page, the filters applied) as a download in each format; `null`
 * while the hub's list does not export. */
function listExportUrls(path: ListPath, params: Record<string, string>, filters: object = {}) {
  const takes: { format: boolean } = LIST_PARAMS[path]
  if (!takes.format) return null
  const url = (format: string) => apiUrl(path, params as never, { ...filters, format })
  return { csv: url('csv'), json: url('json') }
}

/** A table's filter and order, as its download applies them. */
type Shown = Pick<PageArgs, 'q' | 'sort'>
const shown = (page?: Shown) => ({ q: page?.q || undefined, sort: page?.sort || undefined })

/** Downloads of each list, by what the list is of, with the table's filter and order. */
export const exportUrls = {
  clusters: (query: ClusterQuery) => listExportUrls('/api/v1/k8s/clusters', {}, query),
  clusterNamespaces: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/clusters/{id}/namespaces', { id }, shown(page)),
  clusterNodes: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/clusters/{id}/nodes', { id }, shown(page)),
  helmReleases: (clusterId: string, page?: Shown) => listExportUrls('/api/v1/k8s/helm/releases', {}, { cluster: clusterId, ...shown(page) }),
  namespaceDeployments: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/namespaces/{id}/deployments', { id }, shown(page)),
  namespacePods: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/namespaces/{id}/pods', { id }, shown(page)),
  deploymentPods: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/deployments/{id}/pods', { id }, shown(page)),
  clusterPvcs: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/clusters/{id}/pvcs', { id }, shown(page)),
  namespacePvcs: (id: string, page?: Shown) => listExportUrls('/api/v1/k8s/namespaces/{id}/pvcs', { id }, shown(page)),
  namespaceWorkloads: (id: string, kind: WorkloadKind, page?: Shown) =>
    listExportUrls('/api/v1/k8s/namespaces/{id}/workloads/{kind}', { id, kind }, shown(page)),
  workloadPods: (kind: WorkloadKind, id: string, page?: Shown) =>
    listExportUrls('/api/v1/k8s/workloads/{kind}/{id}/pods', { kind, id }, shown(page)),
}

/** The two views of a namespace's cost trend. */
export type CostStep = 'hour' | 'day'
const COST_STEPS = {
  hour: { window: '24h', step: '1h' },
  day: { window: '7d', step: '1d' },
} as const

export const queryKeys = {
  me: ['me'] as const,
  clusters: ['clusters'] as const,
  clusterPage: (query: object) => ['clusters', query] as const,
  cluster: (id: string) => ['cluster', id] as const,
  clusterNamespaces: (id: string, page: PageArgs) => ['namespaces', id, page] as const,
  clusterNodes: (id: string, page: PageArgs) => ['nodes', id, page] as const,
  helmReleases: (clusterId: string, page: PageArgs) => ['helm', clusterId, page] as const,
  clusterCostsPerDay: ['costs', 'clusters-24h'] as const,
  namespaceCostsPerDay: (clusterId: string) => ['costs', 'namespaces-24h', clusterId] as const,
  namespaceDeployments: (id: string, page: PageArgs) => ['deployments', id, page] as const,
  namespacePods: (id: string, page: PageArgs) => ['pods', id, page] as const,
  namespaceCosts: (id: string, step: CostStep) => ['namespace-costs', id, step] as const,
  deployment: (id: string) => ['deployment', id] as const,
  deploymentPods: (id: string, page: PageArgs) => ['deployment-pods', id, page] as const,
  pvcs: (scope: 'cluster' | 'namespace', id: string, page: PageArgs) => ['pvcs', scope, id, page] as const,
  pod: (id: string) => ['pod', id] as const,
  namespaceWorkloads: (id: string, kind: WorkloadKind, page: PageArgs) => ['workloads', id, kind, page] as const,
  workload: (kind: WorkloadKind, id: string) => ['workload', kind, id] as const,
  workloadPods: (kind: WorkloadKind, id: string, page: PageArgs) => ['workload-pods', kind, id, page] as const,
  cronJobJobs: (id: string, page: PageArgs) => ['cronjob-jobs', id, page] as const,
  fleet: (by: FleetGrouping) => ['fleet', by] as const,
  search: (q: string, limit: number, cursor: string | null) => ['search', q, limit, cursor] as const,
  podUsage: (id: string) => ['pod-usage', id] as const,
  namespaceQuotas: (id: string) => ['namespace-quotas', id] as const,
  namespaceHealth: (id: string) => ['namespace-health', id] as const,
}

/** Who is signed in (`null`: nobody); the banner, role gating and the router share it. */
export function useMe() {
  return useQuery<Me | null>({
    queryKey: queryKeys.me,
    queryFn: async () => {
      // No CSRF cookie means no session: skip a request that could only answer 401.
      if (!document.cookie.split(';').some((c) => c.trim().startsWith('csrf_token='))) return null
      try {
        return await apiGet('/api/v1/auth/me', {})
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null
        throw e
      }
    },
    staleTime: 60_000,
    // While the page is in view the session is asked for every minute, which renews a single
    // sign-on session with its provider before it expires (the hub renews when due).
    refetchInterval: 60_000,
    refetchIntervalInBackground: false,
  })
}

/** The identity providers' sign-in buttons. */
export function useSignInOptions() {
  return useQuery({
    queryKey: ['sign-in-options'],
    queryFn: () => apiGet('/api/v1/auth/oidc/providers', {}),
    staleTime: 60_000,
  })
}

export function useIsAdmin(): boolean {
  return useMe().data?.role === 'admin'
}

/** Operators and admins act on workloads (scale, restart, delete a pod); viewers do not. */
export function useCanAct(): boolean {
  const role = useMe().data?.role
  return role === 'operator' || role === 'admin'
}

/**
 * Whether the signed-in user may open a terminal: admins, and operators where the
 * organization turned `operators_exec` on (the hub checks again on every session).
 */
export function useCanExec(): boolean {
  const role = useMe().data?.role
  const switches = useQuery({
    queryKey: ['operation-switches'],
    queryFn: () => apiGet('/api/v1/organization/operations', {}),
    staleTime: 60_000,
    enabled: role === 'operator',
  })
  return role === 'admin' || (role === 'operator' && switches.data?.operators_exec === true)
}

/** Signs in; the answer is the new `me`. */
export function useLogin() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (body: LoginRequest) => apiSend('post', '/api/v1/auth/login', {}, body),
    onSuccess: (me) => {
      client.setQueryData(queryKeys.me, me)
    },
  })
}

/** Ends the session (the caller clears the cache whatever the answer); a single sign-on
 * session whose provider supports RP-initiated logout goes on to end the provider's session. */
export async function endSession(): Promise<void> {
  const answer = await apiSend('post', '/api/v1/auth/logout', {})
  if (answer?.provider_logout_url) window.location.assign(answer.provider_logout_url)
}

/** The cluster list's filters and order, as the hub's list takes them. */
export type ClusterQuery = Omit<GetQuery<'/api/v1/k8s/clusters'>, 'limit' | 'offset' | 'format'>

/** A page of the cluster list (the list answers a page unless asked for a download). */
export type ClusterPage = Schemas['ClusterPage']

/** One page of the clusters that match `query` (the hub filters, sorts and counts). */
export function useClusterPage(query: ClusterQuery, page: PageArgs) {
  const full = { ...query, ...pageQuery('/api/v1/k8s/clusters', { ...page, sort: undefined, q: undefined }) }
  return useQuery({
    queryKey: queryKeys.clusterPage(full),
    queryFn: () => apiGet('/api/v1/k8s/clusters', {}, full) as Promise<ClusterPage>,
    placeholderData: keepPreviousData,
  })
}

/** The cluster called `name`, once it exists (`enabled` while someone waits for it). */
export function useClusterNamed(name: string, { enabled }: { enabled: boolean }) {
  const query = { search: name, limit: 50 }
  return useQuery({
    queryKey: queryKeys.clusterPage(query),
    queryFn: () => apiGet('/api/v1/k8s/clusters', {}, query) as Promise<ClusterPage>,
    select: (page) => page.items.find((c) => c.name === name) ?? null,
    enabled,
  })
}

export function useCluster(id: string) {
  return useQuery({ queryKey: queryKeys.cluster(id), queryFn: () => apiGet('/api/v1/k8s/clusters/{id}', { id }) })
}

// The document types an object's `data` only as an object; these lists are read as the
// projections of their kind (projections.ts).

export function useClusterNamespaces(id: string, page: PageArgs) {
  return useQuery({
    queryKey: queryKeys.clusterNamespaces(id, page),
    queryFn: () => apiGet('/api/v1/k8s/clusters/{id}/namespaces', { id }, pageQuery('/api/v1/k8s/clusters/{id}/namespaces', page)) as Promise<Page<NamespaceItem>>,
    placeholderData: keepPreviousData,
  })
}

export function useClusterNodes(id: string, page: PageArgs) {
  return useQuery({
    queryKey: queryKeys.clusterNodes(id, page),
    queryFn: () => apiGet('/api/v1/k8s/clusters/{id}/nodes', { id }, pageQuery('/api/v1/k8s/clusters/{id}/nodes', page)) as Promise<Page<Obj<NodeData>>>,
    placeholderData: keepPreviousData,
  })
}

export function useHelmReleases(clusterId: string, page: PageArgs) {
  return useQuery({
    queryKey: queryKeys.helmReleases(clusterId, page),
    queryFn: () =>
      apiGet('/api/v1/k8s/helm/releases', {}, { cluster: clusterId, ...pageQuery('/api/v1/k8s/helm/releases', page) }) as Promise<Page<Obj<HelmData>>>,
    placeholderData: keepPreviousData,
  })
}

export function useNamespaceDeployments(id: string, page: PageArgs) {
  return useQuery({
    queryKey: queryKeys.namespaceDeployments(id, page),
    queryFn: () =>
      apiGet('/api/v1/k8s/namespaces/{id}/deployments', { id }, pageQuery('/api/v1/k8s/namespaces/{id}/deployments', page)) as Promise<Page<Obj<DeploymentData>>>,
    placeholderData: keepPreviousData,
  })
}

export function useNamespacePods(id: string, page: PageArgs) {
  return useQuery({
    queryKey: queryKeys.namespacePods(id, page),
    queryFn: () => apiGet('/api/v1/k8s/namespaces/{id}/pods', { id }, pageQuery('/api/v1/k8s/namespaces/{id}/pods', page)) as Promise<Page<Obj<PodData>>>,
    placeholderData: keepPreviousData,
  })
}

/** A page of the claims of a cluster or of a namespace (`id` is the cluster's or the namespace's). */
export function usePvcs(scope: 'cluster' | 'namespace', id: string, page: PageArgs) {
  const path = scope === 'cluster' ? '/api/v1/k8s/clusters/{id}/pvcs' : '/api/v1/k8s/namespaces/{id}/pvcs'
  return useQuery({
    queryKey: queryKeys.pvcs(scope, id, page),
    queryFn: () => apiGet(path, { id }, pageQuery(path, page)) as Promise<Page<Obj<PvcData>>>,
    placeholderData: keepPreviousData,
  })
}

export function useDeployment(id: string) {
  return useQuery({
    queryKey: queryKeys.deployment(id),
    queryFn: () => apiGet('/api/v1/k8s/deployments/{id}', { id }) as Promise<Obj<DeploymentData>>,
  })
}

export function useDeploymentPods(id: string, page: PageArgs) {
  return useQuery({
    queryKey: queryKeys.deploymentPods(id, page),
    queryFn: () => apiGet('/api/v1/k8s/deployments/{id}/pods', { id }, pageQuery('/api/v1/k8s/deployments/{id}/pods', page)) as Promise<Page<Obj<PodData>>>,
    placeholderData: keepPreviousData,
  })
}

/** A namespace's ResourceQuotas (used against hard per resource) and LimitRanges. */
export type NamespaceQuotas = Schemas['NamespaceQuotasView']

export function useNamespaceQuotas(id: string) {
  return useQuery({
    queryKey: queryKeys.namespaceQuotas(id),
    queryFn: () => apiGet('/api/v1/k8s/namespaces/{id}/quotas', { id }) as Promise<NamespaceQuotas>,
  })
}

/** A namespace's own verdict: its failing pods and exhausted quotas. */
export type NamespaceHealth = Schemas['NamespaceHealthView']

export function useNamespaceHealth(id: string) {
  return useQuery({
    queryKey: queryKeys.namespaceHealth(id),
    queryFn: () => apiGet('/api/v1/k8s/namespaces/{id}/health', { id }) as Promise<NamespaceHealth>,
  })
}

/** A pod with the workload at the end of its owner chain (`top_owner`). */
export type PodWithOwner = Obj<PodData> & { top_owner: Schemas['PodView']['top_owner'] }

export function usePod(id: string) {
  return useQuery({ queryKey: queryKeys.pod(id), queryFn: () => apiGet('/api/v1/k8s/pods/{id}', { id }) as Promise<PodWithOwner> })
}

/** A page of a namespace's workloads of one kind. */
export function useNamespaceWorkloads<D extends WorkloadData>(id: string, kind: WorkloadKind, page: PageArgs) {
  const path = '/api/v1/k8s/namespaces/{id}/workloads/{kind}'
  return useQuery({
    queryKey: queryKeys.namespaceWorkloads(id, kind, page),
    queryFn: () => apiGet(path, { id, kind }, pageQuery(path, page)) as Promise<Page<Obj<D>>>,
    placeholderData: keepPreviousData,
  })
}

export function useWorkload(kind: WorkloadKind, id: string) {
  return useQuery({
    queryKey: queryKeys.workload(kind, id),
    queryFn: () => apiGet('/api/v1/k8s/workloads/{kind}/{id}', { kind, id }) as Promise<Obj<WorkloadData>>,
  })
}

/** A page of the pods whose top owner is the workload. */
export function useWorkloadPods(kind: WorkloadKind, id: string, page: PageArgs) {
  const path = '/api/v1/k8s/workloads/{kind}/{id}/pods'
  return useQuery({
    queryKey: queryKeys.workloadPods(kind, id, page),
    queryFn: () => apiGet(path, { kind, id }, pageQuery(path, page)) as Promise<Page<Obj<PodData>>>,
    placeholderData: keepPreviousData,
  })
}

/** A page of the Jobs a CronJob started. */
export function useCronJobJobs(id: string, page: PageArgs) {
  const path = '/api/v1/k8s/workloads/{kind}/{id}/jobs'
  return useQuery({
    queryKey: queryKeys.cronJobJobs(id, page),
    queryFn: () => apiGet(path, { kind: 'cronjobs', id }, pageQuery(path, page)) as Promise<Page<Obj<JobData>>>,
    placeholderData: keepPreviousData,
  })
}

/** The pod's usage over the last day. */
export function usePodUsage(id: string) {
  return useQuery({ queryKey: queryKeys.podUsage(id), queryFn: () => apiGet('/api/v1/k8s/pods/{id}/usage', { id }, { window: '24h' }) })
}

/** Cost per group key over the last 24 hours, from the grouped report. */
function useCostsPerDay(queryKey: readonly unknown[], query: { aggregate: string; filter?: string }) {
  return useQuery({
    queryKey,
    queryFn: () => apiGet('/api/v1/k8s/costs', {}, { window: '24h', ...query }),
    select: (r) => new Map(r.lines.map((l) => [l.key, l.total_cost])),
  })
}

/** Cost per day by cluster id. */
export function useClusterCostsPerDay() {
  return useCostsPerDay(queryKeys.clusterCostsPerDay, { aggregate: 'cluster' })
}

/** Cost per day by namespace name, in one cluster. */
export function useNamespaceCostsPerDay(clusterId: string) {
  return useCostsPerDay(queryKeys.namespaceCostsPerDay(clusterId), { aggregate: 'namespace', filter: `cluster:${clusterId}` })
}

/** The grouped cost report over a window (`aggregate=workload`: one line per workload, with
 * each namespace's storage and, on request, each cluster's idle apart). */
export function useCostReport(query: { aggregate: string; window: string; include_idle: boolean }) {
  return useQuery({
    queryKey: ['costs', 'report', query.aggregate, query.window, query.include_idle] as const,
    queryFn: () => apiGet('/api/v1/k8s/costs', {}, query),
    placeholderData: keepPreviousData,
  })
}

/** The same report as a CSV download. */
export function costReportCsvUrl(query: { aggregate: string; window: string; include_idle: boolean }): string {
  return apiUrl('/api/v1/k8s/costs', {}, { ...query, format: 'csv' })
}

/** How efficiency lines are ordered: by unused request cost or by efficiency, either way. */
export type EfficiencySort = '-waste' | 'waste' | 'efficiency' | '-efficiency' | 'key'

/** Requested vs used and the unused requests' cost per group over a window. */
export function useEfficiency(query: { aggregate: string; window: string; sort: EfficiencySort }) {
  return useQuery({
    queryKey: ['costs', 'efficiency', query.aggregate, query.window, query.sort] as const,
    queryFn: () => apiGet('/api/v1/k8s/costs/efficiency', {}, query),
    placeholderData: keepPreviousData,
  })
}

/** How the right-sizing list is ordered: largest saving first, or largest extra cost first. */
export type SavingSort = '-saving' | 'saving'

/** One page of right-sizing recommendations, from the page's cursor (`null`: the first). */
export function useRecommendations(query: { window: string; sort: SavingSort; limit: number; cursor: string | null }) {
  return useQuery({
    queryKey: ['costs', 'recommendations', query.window, query.sort, query.limit, query.cursor] as const,
    queryFn: () => apiGet('/api/v1/k8s/costs/recommendations', {}, { ...query, cursor: query.cursor ?? undefined }),
    placeholderData: keepPreviousData,
  })
}

/** Every recommendation over `window` as a CSV download. */
export function recommendationsCsvUrl(window: string, sort: SavingSort): string {
  return apiUrl('/api/v1/k8s/costs/recommendations', {}, { window, sort, format: 'csv' })
}

/** One namespace's cost trend, by hour over a day or by day over a week. */
export function useNamespaceCosts(id: string, step: CostStep) {
  return useQuery({
    queryKey: queryKeys.namespaceCosts(id, step),
    queryFn: () => apiGet('/api/v1/k8s/namespaces/{id}/costs', { id }, COST_STEPS[step]),
  })
}

/** The same trend as a CSV download. */
export function namespaceCostsCsvUrl(id: string, step: CostStep): string {
  return apiUrl('/api/v1/k8s/namespaces/{id}/costs', { id }, { ...COST_STEPS[step], format: 'csv' })
}

/** Asks the hub to collect the cluster now (admin). */
export function useSyncCluster(id: string) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: () => apiSend('post', '/api/v1/k8s/clusters/{id}/sync', { id }),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.cluster(id) }),
  })
}

/**
 * Deletes the cluster and its inventory (admin). `leave` moves off the cluster's page before
 * its queries are dropped: left mounted, they would ask again for what no longer exists.
 */
export function useDeleteCluster(id: string, leave: () => void) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: () => apiSend('delete', '/api/v1/k8s/clusters/{id}', { id }),
    onSuccess: () => {
      leave()
      client.removeQueries({ predicate: (q) => q.queryKey.includes(id) })
      client.invalidateQueries({ queryKey: queryKeys.clusters })
      client.invalidateQueries({ queryKey: ['fleet'] })
    },
  })
}

/** A workload action's answer: what changed. */
export type ActionResult = Schemas['ActionView']

/**
 * Runs a workload action once per confirmation: `key` is the confirmed dialog's idempotency
 * key, so a retried request (a double click, a lost answer) never acts twice. Afterwards the
 * object's page and lists are read again.
 */
export function useWorkloadAction(kind: 'scale' | 'restart' | 'delete', id: string) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: ({ key, replicas }: { key: string; replicas?: number }): Promise<ActionResult> => {
      const headers = { 'Idempotency-Key': key }
      if (kind === 'scale')
        return apiSend('post', '/api/v1/k8s/deployments/{id}/scale', { id }, { replicas: replicas ?? 0 }, headers)
      if (kind === 'restart') return apiSend('post', '/api/v1/k8s/deployments/{id}/restart', { id }, undefined, headers)
      return apiSend('delete', '/api/v1/k8s/pods/{id}', { id }, undefined, headers)
    },
    onSuccess: () => {
      for (const key of [queryKeys.deployment(id), queryKeys.pod(id), ['deployment-pods', id], ['pods'], ['deployments']])
        client.invalidateQueries({ queryKey: key })
    },
  })
}

/** Registers a cluster by kubeconfig (admin); the answer has the cluster and warnings. */
export function useRegisterCluster() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (body: RegisterCluster) => apiSend('post', '/api/v1/k8s/clusters', {}, body),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: queryKeys.clusters })
    },
  })
}

/** Issues an agent enrollment token (admin); shown once. */
export function useCreateEnrollmentToken() {
  return useMutation({
    mutationFn: (body: CreateEnrollmentToken) => apiSend('post', '/api/v1/k8s/enrollment-tokens', {}, body),
  })
}

/** The fleet's clusters grouped by environment, provider or tag, with roll-ups per group. */
export function useFleet(by: FleetGrouping) {
  return useQuery({ queryKey: queryKeys.fleet(by), queryFn: () => apiGet('/api/v1/k8s/fleet', {}, { by }) })
}

/**
 * One page of the matches of `q` (nothing is asked for a blank query). A bad query is the
 * hub's 400, not worth asking again.
 */
export function useSearch(q: string, { limit, cursor = null }: { limit: number; cursor?: string | null }) {
  const text = q.trim()
  return useQuery({
    queryKey: queryKeys.search(text, limit, cursor),
    queryFn: () => apiGet('/api/v1/k8s/search', {}, { q: text, limit, cursor: cursor || undefined }),
    enabled: text !== '',
    placeholderData: keepPreviousData,
    staleTime: 10_000,
  })
}

/** Every match of `q` as a download (the hub streams all pages). */
export function searchExportUrls(q: string) {
  const download = (format: 'csv' | 'json') => apiUrl('/api/v1/k8s/search/export', {}, { q, format })
  return { csv: download('csv'), json: download('json') }
}

/** The organization's budgets, each with its month so far (every role). */
export function useBudgets() {
  return useQuery({
    queryKey: ['budgets'] as const,
    queryFn: () => apiGet('/api/v1/budgets', {}),
    // Each cost run moves the month's spend: read it again while the page is open.
    refetchInterval: 15_000,
  })
}

/** The organization's cost alerts, newest first (every role). */
export function useAlerts(kind?: string) {
  return useQuery({
    queryKey: ['alerts', kind ?? ''] as const,
    queryFn: () => apiGet('/api/v1/alerts', {}, kind ? { kind, limit: 50 } : { limit: 50 }),
    // Alerts fire after cost runs: new ones show up without a reload.
    refetchInterval: 15_000,
  })
}

/** Creates a budget (admin); the list is read again. */
export function useCreateBudget() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (body: BudgetInput) => apiSend('post', '/api/v1/budgets', {}, body),
    onSuccess: () => client.invalidateQueries({ queryKey: ['budgets'] }),
  })
}

/** Deletes a budget (admin); its alerts stay. */
export function useDeleteBudget() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => apiSend('delete', '/api/v1/budgets/{id}', { id }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['budgets'] }),
  })
}

/** The organization's webhook endpoints, each with its newest delivery (every role; URLs
 * masked for all but admins). */
export function useWebhooks() {
  return useQuery({ queryKey: ['webhooks'] as const, queryFn: () => apiGet('/api/v1/webhooks', {}) })
}

/** Adds an endpoint (admin); the answer carries its signing secret, the only time it is shown. */
export function useCreateWebhook() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (body: WebhookInput) => apiSend('post', '/api/v1/webhooks', {}, body),
    onSuccess: () => client.invalidateQueries({ queryKey: ['webhooks'] }),
  })
}

/** Turns an endpoint's deliveries on or off (admin): the endpoint as it is, `enabled` changed. */
export function useSetWebhookEnabled() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: ({ webhook, enabled }: { webhook: Webhook; enabled: boolean }) =>
      apiSend('put', '/api/v1/webhooks/{id}', { id: webhook.id }, { name: webhook.name, url: webhook.url, format: webhook.format, enabled }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['webhooks'] }),
  })
}

/** Deletes an endpoint (admin). */
export function useDeleteWebhook() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => apiSend('delete', '/api/v1/webhooks/{id}', { id }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['webhooks'] }),
  })
}

/** Sends a signed test event to an endpoint now (admin); answers the delivery and its attempt. */
export function useTestWebhook() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (id: string) => apiSend('post', '/api/v1/webhooks/{id}/test', { id }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['webhooks'] }),
  })
}
