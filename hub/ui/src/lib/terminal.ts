// The pod terminal's wire details: the WebSocket address of `GET /api/v1/k8s/pods/{id}/exec`
// (one `command` parameter per argument), the resize message and the hub's exit message.

export interface TerminalQuery {
  container: string
  /** The command line as typed: split on blanks, one argument per word. */
  command: string
  cols: number
  rows: number
}

/** The words of a typed command line; `sh` when it is blank. */
export function commandArgs(line: string): string[] {
  const words = line.trim().split(/\s+/).filter((w) => w.length > 0)
  return words.length > 0 ? words : ['sh']
}

/** The WebSocket URL of a terminal on pod `podId`, on the page's own host. */
export function terminalUrl(podId: string, query: TerminalQuery, location: { protocol: string; host: string }): string {
  const search = new URLSearchParams()
  if (query.container) search.set('container', query.container)
  for (const arg of commandArgs(query.command)) search.append('command', arg)
  search.set('tty', 'true')
  search.set('cols', String(query.cols))
  search.set('rows', String(query.rows))
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}/api/v1/k8s/pods/${encodeURIComponent(podId)}/exec?${search.toString()}`
}

/** The resize message the hub reads from a text frame. */
export function resizeMessage(cols: number, rows: number): string {
  return JSON.stringify({ type: 'resize', cols, rows })
}

/** The hub's last text frame, in words; `null` for another message. */
export function exitText(data: string): string | null {
  let message: { type?: string; code?: number | null; message?: string }
  try {
    message = JSON.parse(data)
  } catch {
    return null
  }
  if (message.type !== 'exit') return null
  if (message.code === 0) return 'The command ended (exit code 0).'
  if (message.code != null) return `The command ended with exit code ${message.code}${message.message ? `: ${message.message}` : ''}.`
  return `The terminal closed: ${message.message || 'no exit status'}.`
}
