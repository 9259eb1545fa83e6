// Every query and mutation of the UI, with its cache key: the one module that knows which
// API operation answers what, and which cached answers a change makes stale. Pages call these
// hooks; they never name a URL. Live updates (events.ts) refetch everything but `me`.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import {
  ApiError,
  apiGet,
  apiSend,
  apiUrl,
  type CreateEnrollmentToken,
  type LoginRequest,
  type Me,
  type Page,
  type RegisterCluster,
} from './api'
import type { DeploymentData, HelmData, NamespaceItem, NodeData, Obj, PodData } from './projections'

/** Lists are read whole, up to the API's largest page. */
const ALL = 500

/** The two views of a namespace's cost trend. */
export type CostStep = 'hour' | 'day'
const COST_STEPS = {
  hour: { window: '24h', step: '1h' },
  day: { window: '7d', step: '1d' },
} as const

export const queryKeys = {
  me: ['me'] as const,
  clusters: ['clusters'] as const,
  cluster: (id: string) => ['cluster', id] as const,
  clusterNamespaces: (id: string) => ['namespaces', id] as const,
  clusterNodes: (id: string) => ['nodes', id] as const,
  helmReleases: (clusterId: string) => ['helm', clusterId] as const,
  clusterCostsPerDay: ['costs', 'clusters-24h'] as const,
  namespaceCostsPerDay: (clusterId: string) => ['costs', 'namespaces-24h', clusterId] as const,
  namespaceDeployments: (id: string) => ['deployments', id] as const,
  namespacePods: (id: string) => ['pods', id] as const,
  namespaceCosts: (id: string, step: CostStep) => ['namespace-costs', id, step] as const,
  deployment: (id: string) => ['deployment', id] as const,
  deploymentPods: (id: string) => ['deployment-pods', id] as const,
  pod: (id: string) => ['pod', id] as const,
  podUsage: (id: string) => ['pod-usage', id] as const,
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

export function useClusters({ enabled = true }: { enabled?: boolean } = {}) {
  return useQuery({
    queryKey: queryKeys.clusters,
    queryFn: () => apiGet('/api/v1/k8s/clusters', {}, { limit: ALL }),
    enabled,
  })
}

export function useCluster(id: string) {
  return useQuery({ queryKey: queryKeys.cluster(id), queryFn: () => apiGet('/api/v1/k8s/clusters/{id}', { id }) })
}

// The document types an object's `data` only as an object; these lists are read as the
// projections of their kind (projections.ts).

export function useClusterNamespaces(id: string) {
  return useQuery({
    queryKey: queryKeys.clusterNamespaces(id),
    queryFn: () => apiGet('/api/v1/k8s/clusters/{id}/namespaces', { id }, { limit: ALL }) as Promise<Page<NamespaceItem>>,
  })
}

export function useClusterNodes(id: string) {
  return useQuery({
    queryKey: queryKeys.clusterNodes(id),
    queryFn: () => apiGet('/api/v1/k8s/clusters/{id}/nodes', { id }, { limit: ALL }) as Promise<Page<Obj<NodeData>>>,
  })
}

export function useHelmReleases(clusterId: string) {
  return useQuery({
    queryKey: queryKeys.helmReleases(clusterId),
    queryFn: () => apiGet('/api/v1/k8s/helm/releases', {}, { cluster: clusterId, limit: ALL }) as Promise<Page<Obj<HelmData>>>,
  })
}

export function useNamespaceDeployments(id: string) {
  return useQuery({
    queryKey: queryKeys.namespaceDeployments(id),
    queryFn: () => apiGet('/api/v1/k8s/namespaces/{id}/deployments', { id }, { limit: ALL }) as Promise<Page<Obj<DeploymentData>>>,
  })
}

export function useNamespacePods(id: string) {
  return useQuery({
    queryKey: queryKeys.namespacePods(id),
    queryFn: () => apiGet('/api/v1/k8s/namespaces/{id}/pods', { id }, { limit: ALL }) as Promise<Page<Obj<PodData>>>,
  })
}

export function useDeployment(id: string) {
  return useQuery({
    queryKey: queryKeys.deployment(id),
    queryFn: () => apiGet('/api/v1/k8s/deployments/{id}', { id }) as Promise<Obj<DeploymentData>>,
  })
}

export function useDeploymentPods(id: string) {
  return useQuery({
    queryKey: queryKeys.deploymentPods(id),
    queryFn: () => apiGet('/api/v1/k8s/deployments/{id}/pods', { id }, { limit: ALL }) as Promise<Page<Obj<PodData>>>,
  })
}

export function usePod(id: string) {
  return useQuery({ queryKey: queryKeys.pod(id), queryFn: () => apiGet('/api/v1/k8s/pods/{id}', { id }) as Promise<Obj<PodData>> })
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

/** Deletes the cluster and its inventory (admin). */
export function useDeleteCluster(id: string) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: () => apiSend('delete', '/api/v1/k8s/clusters/{id}', { id }),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: queryKeys.clusters })
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
