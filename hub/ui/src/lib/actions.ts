// Workload actions' pure parts: what a replica count may be, and how a confirmed action
// reads back to the person who asked.

/** Most replicas the hub scales a deployment to (the API refuses more). */
export const MAX_REPLICAS = 10_000

/** The replica count `text` asks for, or why it cannot be one. */
export function parseReplicas(text: string): { replicas: number } | { error: string } {
  const trimmed = text.trim()
  if (!/^\d+$/.test(trimmed)) return { error: 'Replicas must be a whole number from 0 to 10000.' }
  const replicas = Number(trimmed)
  if (replicas > MAX_REPLICAS) return { error: 'Replicas must be a whole number from 0 to 10000.' }
  return { replicas }
}

/** The confirmation question of a scale from `from` to `to` replicas. */
export function scaleQuestion(name: string, from: number, to: number): string {
  if (from === to) return `Deployment “${name}” already wants ${to} replica${to === 1 ? '' : 's'}. Scale anyway?`
  const verb = to > from ? 'up' : 'down'
  return `Scale deployment “${name}” ${verb} from ${from} to ${to} replica${to === 1 ? '' : 's'}?`
}

/** A fresh idempotency key: one per confirmed action, reused only by its own retries. */
export function newActionKey(): string {
  return crypto.randomUUID()
}
