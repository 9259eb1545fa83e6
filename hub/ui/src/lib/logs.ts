// Reading a container's log from the hub as it arrives: `fetch` streaming of
// `GET /api/v1/k8s/pods/{id}/logs`, kept to the last MAX_LINES lines so a chatty container
// never grows the page without bound. Aborting the fetch ends the hub's stream and, through
// it, the Kubernetes one.
import { ApiError, apiUrl, type GetQuery } from './api'

/** Lines the viewer keeps; older ones are dropped from the top. */
export const MAX_LINES = 5000

export type LogQuery = GetQuery<'/api/v1/k8s/pods/{id}/logs'>

/** Appends `text` (a chunk, possibly ending mid-line) to `lines` and `partial`, keeping at
 * most `max` whole lines; returns the new lines and the unfinished tail. */
export function appendChunk(lines: string[], partial: string, text: string, max = MAX_LINES): [string[], string] {
  const parts = (partial + text).split('\n')
  const rest = parts.pop() ?? ''
  const next = parts.length ? lines.concat(parts) : lines
  return [next.length > max ? next.slice(next.length - max) : next, rest]
}

/** Streams pod `id`'s log to `onText` until it ends or `signal` aborts. */
export async function streamLog(id: string, query: LogQuery, onText: (text: string) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(apiUrl('/api/v1/k8s/pods/{id}/logs', { id }, query), { credentials: 'same-origin', signal })
  if (!response.ok) {
    let code = 'error'
    let message = `${response.status} ${response.statusText}`
    try {
      const body = await response.json()
      code = body?.error?.code ?? code
      message = body?.error?.message ?? message
    } catch {
      // not the API's shape: keep the status line
    }
    throw new ApiError(response.status, code, message)
  }
  const reader = response.body?.getReader()
  if (!reader) return
  const decoder = new TextDecoder()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    onText(decoder.decode(value, { stream: true }))
  }
}
