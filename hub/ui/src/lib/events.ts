// Live updates: the hub's SSE stream names clusters that changed; every query on screen is
// refetched (TanStack Query refetches only the active ones), so counts, health and lists
// follow the cluster without a reload.
import { useEffect } from 'react'
import { useQueryClient } from '@tanstack/react-query'
import { queryKeys } from './queries'

export const CLUSTER_EVENTS = ['cluster.added', 'cluster.changed', 'cluster.removed'] as const

export function useLiveEvents(enabled: boolean) {
  const client = useQueryClient()
  useEffect(() => {
    if (!enabled || typeof EventSource === 'undefined') return
    const source = new EventSource('/api/v1/events')
    const refresh = () => client.invalidateQueries({ predicate: (q) => q.queryKey[0] !== queryKeys.me[0] })
    for (const name of CLUSTER_EVENTS) source.addEventListener(name, refresh)
    return () => source.close()
  }, [enabled, client])
}
