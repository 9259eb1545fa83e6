// Who is signed in: one cached `me` query the banner, role gating and the router share.
import { useQuery } from '@tanstack/react-query'
import { api, ApiError, type Me } from './api'

export function useMe() {
  return useQuery<Me | null>({
    queryKey: ['me'],
    queryFn: async () => {
      // No CSRF cookie means no session: skip a request that could only answer 401.
      if (!document.cookie.split(';').some((c) => c.trim().startsWith('csrf_token='))) return null
      try {
        return await api<Me>('/api/v1/auth/me')
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null
        throw e
      }
    },
    staleTime: 60_000,
  })
}

export function useIsAdmin(): boolean {
  return useMe().data?.role === 'admin'
}
