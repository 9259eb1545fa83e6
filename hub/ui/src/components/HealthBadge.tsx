// The health verdict as a colored badge; the reasons are its tooltip and accessible name.
import type { Health } from '../lib/api'
import { Badge } from './ui'

const colors: Partial<Record<string, 'green' | 'yellow' | 'red'>> = { healthy: 'green', degraded: 'yellow', critical: 'red' }
const labels: Partial<Record<string, string>> = { healthy: 'Healthy', degraded: 'Degraded', critical: 'Critical' }

/** The verdict's name; a status this UI does not know is shown as the hub spells it. */
function label(health: Health): string {
  return labels[health.status] ?? health.status
}

export function healthSummary(health: Health | null | undefined): string {
  if (!health) return 'Unknown: not judged yet'
  const reasons = health.reasons.map((r) => r.message)
  return reasons.length ? `${label(health)}: ${reasons.join('; ')}` : label(health)
}

export function HealthBadge({ health }: { health: Health | null | undefined }) {
  const summary = healthSummary(health)
  return (
    <span role="img" aria-label={`Health ${summary}`} title={summary} data-health={health?.status ?? 'unknown'}>
      <Badge color={(health && colors[health.status]) ?? 'gray'}>{health ? label(health) : 'Unknown'}</Badge>
    </span>
  )
}
