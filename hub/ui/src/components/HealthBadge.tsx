// The health verdict as a colored badge; the reasons are its tooltip and accessible name.
import type { Health } from '../lib/api'
import { Badge } from './ui'

const colors = { healthy: 'green', degraded: 'yellow', critical: 'red' } as const
const labels = { healthy: 'Healthy', degraded: 'Degraded', critical: 'Critical' } as const

export function healthSummary(health: Health | null): string {
  if (!health) return 'Unknown: not judged yet'
  const reasons = health.reasons.map((r) => r.message)
  return reasons.length ? `${labels[health.status]}: ${reasons.join('; ')}` : labels[health.status]
}

export function HealthBadge({ health }: { health: Health | null }) {
  const summary = healthSummary(health)
  return (
    <span role="img" aria-label={`Health ${summary}`} title={summary} data-health={health?.status ?? 'unknown'}>
      <Badge color={health ? colors[health.status] : 'gray'}>{health ? labels[health.status] : 'Unknown'}</Badge>
    </span>
  )
}
