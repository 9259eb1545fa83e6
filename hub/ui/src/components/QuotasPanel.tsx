// A namespace's bounds and health: each ResourceQuota's resources as labelled meters of used
// against hard (amber from 90 %, red when used up), its LimitRanges as a small table, and the
// namespace's own health reasons (failing pods counted, exhausted quotas).
import { type NamespaceHealth, type NamespaceQuotas, useNamespaceHealth, useNamespaceQuotas } from '../lib/queries'
import { Badge, ErrorBox, Panel, Table, cellClass, rowClass } from './ui'

type QuotaResource = NamespaceQuotas['quotas'][number]['resources'][number]

const BAR_COLORS: Record<QuotaResource['level'], string> = {
  ok: 'bg-green-600',
  near: 'bg-amber-500',
  exhausted: 'bg-red-600',
  unknown: 'bg-gray-400',
}

/** What a quota resource's meter says in words: `requests.cpu: 4 of 4 used (100%)`. */
export function quotaText(r: QuotaResource): string {
  if (r.used == null) return `${r.resource}: not counted yet, ${r.hard} allowed`
  const percent = r.percent_used == null ? '' : ` (${r.percent_used}%)`
  const level = r.level === 'exhausted' ? ', used up' : r.level === 'near' ? ', nearly used up' : ''
  return `${r.resource}: ${r.used} of ${r.hard} used${percent}${level}`
}

export function QuotaBar({ r }: { r: QuotaResource }) {
  const text = quotaText(r)
  // A meter cannot go past its maximum; the text says by how much use exceeds hard.
  const now = Math.min(r.percent_used ?? 0, 100)
  return (
    <div className="space-y-1" data-testid="quota-bar" data-level={r.level}>
      <div className="flex justify-between text-sm">
        <span className="font-mono">{r.resource}</span>
        <span>
          {r.used ?? '—'} / {r.hard}
        </span>
      </div>
      <div role="meter" aria-label={r.resource} aria-valuemin={0} aria-valuemax={100} aria-valuenow={now} aria-valuetext={text} title={text} className="h-2 w-full rounded bg-gray-200 dark:bg-gray-700">
        <div className={`h-2 rounded ${BAR_COLORS[r.level]}`} style={{ width: `${now}%` }} />
      </div>
    </div>
  )
}

const HEALTH_COLORS: Record<string, 'green' | 'yellow' | 'red'> = { healthy: 'green', degraded: 'yellow', critical: 'red' }

export function NamespaceHealthPanel({ health }: { health: NamespaceHealth }) {
  return (
    <Panel id="namespace-health" title="Health">
      <p>
        <Badge color={HEALTH_COLORS[health.status] ?? 'gray'}>{health.status === 'healthy' ? 'Healthy' : health.status === 'degraded' ? 'Degraded' : health.status}</Badge>
      </p>
      {health.reasons.length > 0 && (
        <ul className="mt-2 list-disc pl-6 text-sm" aria-label="Health reasons">
          {health.reasons.map((r) => (
            <li key={r.code} data-code={r.code}>
              {r.message}
            </li>
          ))}
        </ul>
      )}
    </Panel>
  )
}

export function QuotasView({ bounds }: { bounds: NamespaceQuotas }) {
  const limits = bounds.limit_ranges.flatMap((range) => range.limits.map((l) => ({ range: range.name, ...l })))
  return (
    <>
      <Panel id="quotas" title={`Resource quotas (${bounds.quotas.length})`}>
        {bounds.quotas.length === 0 && <p className="text-sm text-gray-500">No ResourceQuota in this namespace.</p>}
        <div className="space-y-4">
          {bounds.quotas.map((q) => (
            <section key={q.id} aria-label={`Quota ${q.name}`} className="space-y-2">
              <h3 className="font-semibold">
                {q.name}
                {q.scopes.length > 0 && <span className="ml-2 text-sm font-normal text-gray-500">scopes: {q.scopes.join('; ')}</span>}
              </h3>
              {q.resources.map((r) => (
                <QuotaBar key={r.resource} r={r} />
              ))}
            </section>
          ))}
        </div>
      </Panel>
      <Panel id="limit-ranges" title={`Limit ranges (${bounds.limit_ranges.length})`}>
        <Table caption="Limit ranges" head={['Limit range', 'Type', 'Resource', 'Default request', 'Default limit', 'Min', 'Max', 'Max limit/request']} empty={limits.length === 0}>
          {limits.map((l) => (
            <tr key={`${l.range}/${l.type}/${l.resource}`} className={rowClass} data-testid="limit-row">
              <td className={cellClass}>{l.range}</td>
              <td className={cellClass}>{l.type}</td>
              <td className={`${cellClass} font-mono`}>{l.resource}</td>
              <td className={cellClass}>{l.default_request ?? '—'}</td>
              <td className={cellClass}>{l.default ?? '—'}</td>
              <td className={cellClass}>{l.min ?? '—'}</td>
              <td className={cellClass}>{l.max ?? '—'}</td>
              <td className={cellClass}>{l.max_limit_request_ratio ?? '—'}</td>
            </tr>
          ))}
        </Table>
      </Panel>
    </>
  )
}

/** The namespace page's health, quota and limit range panels. */
export function QuotasPanels({ namespaceId }: { namespaceId: string }) {
  const bounds = useNamespaceQuotas(namespaceId)
  const health = useNamespaceHealth(namespaceId)
  return (
    <>
      {health.error ? <ErrorBox error={health.error} /> : health.data && <NamespaceHealthPanel health={health.data} />}
      {bounds.error ? <ErrorBox error={bounds.error} /> : bounds.data && <QuotasView bounds={bounds.data} />}
    </>
  )
}
