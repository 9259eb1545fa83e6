// An object as the cluster has it now: its events (warnings first) and its live YAML with a
// copy button. Fetched through the agent when asked for, never cached for long.
import { useQuery } from '@tanstack/react-query'
import { type ReactNode, useState } from 'react'
import { ApiError, apiGet, apiUrl } from '../lib/api'
import { Badge, ErrorBox, Loading, Panel, Table, buttonClass, cellClass, rowClass, secondaryButtonClass } from './ui'

export type LiveKindPath = 'pods' | 'deployments' | 'nodes' | 'namespaces'

async function fetchYaml(kind: LiveKindPath, id: string): Promise<string> {
  const response = await fetch(apiUrl(`/api/v1/k8s/${kind}/{id}/yaml` as '/api/v1/k8s/pods/{id}/yaml', { id }), { credentials: 'same-origin' })
  if (!response.ok) {
    const body = await response.json().catch(() => null)
    throw new ApiError(response.status, body?.error?.code ?? 'error', body?.error?.message ?? `${response.status} ${response.statusText}`)
  }
  return response.text()
}

export function EventsPanel({ kind, id }: { kind: LiveKindPath; id: string }) {
  const events = useQuery({
    queryKey: ['live-events', kind, id],
    queryFn: () => apiGet(`/api/v1/k8s/${kind}/{id}/events` as '/api/v1/k8s/pods/{id}/events', { id }),
    staleTime: 5_000,
  })
  if (events.isPending) return <Loading what="events" />
  if (events.error) return <ErrorBox error={events.error} />
  if (events.data.length === 0) return <p className="text-sm text-gray-600 dark:text-gray-300">No events now.</p>
  return (
    <Table caption="Events" head={['Type', 'Reason', 'Message', 'Count', 'Last seen', 'Source']}>
      {events.data.map((e, i) => (
        <tr key={i} className={rowClass} data-testid="event-row">
          <td className={cellClass}>{e.type === 'Warning' ? <Badge color="red">Warning</Badge> : e.type}</td>
          <td className={cellClass}>{e.reason}</td>
          <td className={cellClass}>{e.message}</td>
          <td className={cellClass}>{e.count}</td>
          <td className={cellClass}>{e.last_seen ?? '—'}</td>
          <td className={cellClass}>{e.source}</td>
        </tr>
      ))}
    </Table>
  )
}

export function YamlPanel({ kind, id }: { kind: LiveKindPath; id: string }) {
  const yaml = useQuery({ queryKey: ['live-yaml', kind, id], queryFn: () => fetchYaml(kind, id), staleTime: 5_000 })
  const [copied, setCopied] = useState(false)
  if (yaml.isPending) return <Loading what="the live YAML" />
  if (yaml.error) return <ErrorBox error={yaml.error} />
  const copy = async () => {
    await navigator.clipboard.writeText(yaml.data)
    setCopied(true)
  }
  return (
    <div className="space-y-2">
      <button type="button" className={buttonClass} onClick={copy}>
        {copied ? 'Copied' : 'Copy'}
      </button>
      <pre data-testid="live-yaml" className="max-h-[32rem] overflow-auto rounded bg-gray-950 p-3 font-mono text-xs text-gray-100">
        {yaml.data}
      </pre>
    </div>
  )
}

/**
 * `children` behind a button: what asks the cluster (logs, events, YAML) is fetched only
 * when someone wants it, so opening a page never loads the cluster's API (or fails in the
 * console when the agent is not connected).
 */
export function OnDemand({ label, children }: { label: string; children: ReactNode }) {
  const [shown, setShown] = useState(false)
  if (shown) return <>{children}</>
  return (
    <button type="button" className={secondaryButtonClass} onClick={() => setShown(true)}>
      {label}
    </button>
  )
}

/** The events and the live YAML, each behind a button (each view asks the cluster). */
export function LiveObjectPanels({ kind, id }: { kind: LiveKindPath; id: string }) {
  return (
    <>
      <Panel title="Events" id="events">
        <OnDemand label="Show the events">
          <EventsPanel kind={kind} id={id} />
        </OnDemand>
      </Panel>
      <Panel title="Live YAML" id="yaml">
        <OnDemand label="Show the live YAML">
          <YamlPanel kind={kind} id={id} />
        </OnDemand>
      </Panel>
    </>
  )
}
