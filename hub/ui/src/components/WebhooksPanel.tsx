// The webhooks panel of the budgets page: where cost alerts are delivered. Every role sees the
// endpoints (URL masked: Slack's carry a token), their format, whether they are on and their
// newest delivery; admins add one (the hub generates its signing secret and shows it once),
// turn it on or off, delete it after a confirmation, and send a signed test event whose result
// — delivered, the receiver's answer, or the egress policy's refusal — shows at once.
import { useState, type FormEvent } from 'react'
import type { CreatedWebhook, Delivery, Webhook } from '../lib/api'
import { useCreateWebhook, useDeleteWebhook, useSetWebhookEnabled, useTestWebhook, useWebhooks } from '../lib/queries'
import {
  AdminOnly,
  Badge,
  ErrorBox,
  Loading,
  Table,
  buttonClass,
  cellClass,
  dangerButtonClass,
  inputClass,
  rowClass,
  secondaryButtonClass,
} from './ui'

const STATUS_COLORS: Record<string, 'green' | 'red' | 'yellow' | 'gray'> = {
  delivered: 'green',
  failed: 'red',
  pending: 'yellow',
}

/** A delivery's outcome in words: its status, then the last attempt's HTTP status or error
 * (the egress policy's refusal reads as its error). Exported for tests. */
export function deliveryOutcome(delivery: Pick<Delivery, 'status' | 'attempt_log'>): string {
  const last = delivery.attempt_log[delivery.attempt_log.length - 1]
  if (!last) return delivery.status
  if (last.error) return `${delivery.status}: ${last.error}`
  return last.status_code != null ? `${delivery.status} (HTTP ${last.status_code})` : delivery.status
}

function LastDelivery({ webhook }: { webhook: Webhook }) {
  const last = webhook.last_delivery
  if (!last) return <span className="text-gray-500">never</span>
  return (
    <span className="space-x-1">
      <Badge color={STATUS_COLORS[last.status] ?? 'gray'}>{last.status}</Badge>
      <span className="text-xs text-gray-600 dark:text-gray-300">
        {last.event} · {new Date(last.at).toLocaleString()}
      </span>
    </span>
  )
}

function WebhookRow({ webhook }: { webhook: Webhook }) {
  const setEnabled = useSetWebhookEnabled()
  const remove = useDeleteWebhook()
  const test = useTestWebhook()
  const [confirming, setConfirming] = useState(false)
  const error = setEnabled.error ?? remove.error ?? test.error
  return (
    <>
      <tr className={rowClass} data-testid="webhook-row">
        <td className={cellClass}>{webhook.name}</td>
        <td className={`${cellClass} font-mono text-xs`}>{webhook.url_masked}</td>
        <td className={cellClass}>{webhook.format}</td>
        <td className={cellClass}>
          <Badge color={webhook.enabled ? 'green' : 'gray'}>{webhook.enabled ? 'enabled' : 'disabled'}</Badge>
        </td>
        <td className={cellClass}>signing secret set</td>
        <td className={cellClass} data-testid="webhook-last">
          <LastDelivery webhook={webhook} />
        </td>
        <AdminOnly>
          <td className={`${cellClass} space-x-1 whitespace-nowrap`}>
            <button type="button" className={secondaryButtonClass} disabled={test.isPending} onClick={() => test.mutate(webhook.id)}>
              Send test
            </button>
            <button
              type="button"
              className={secondaryButtonClass}
              disabled={setEnabled.isPending}
              onClick={() => setEnabled.mutate({ webhook, enabled: !webhook.enabled })}
            >
              {webhook.enabled ? 'Disable' : 'Enable'}
            </button>
            {confirming ? (
              <>
                <button type="button" className={dangerButtonClass} disabled={remove.isPending} onClick={() => remove.mutate(webhook.id)}>
                  Confirm delete
                </button>
                <button type="button" className={secondaryButtonClass} onClick={() => setConfirming(false)}>
                  Cancel
                </button>
              </>
            ) : (
              <button type="button" className={dangerButtonClass} onClick={() => setConfirming(true)}>
                Delete
              </button>
            )}
          </td>
        </AdminOnly>
      </tr>
      {(test.data || error) && (
        <tr className={rowClass}>
          <td className={cellClass} colSpan={7}>
            {test.data && (
              <p role="status" data-testid="webhook-test-result" className="text-sm">
                Test delivery {deliveryOutcome(test.data)}
              </p>
            )}
            {error && <ErrorBox error={error} />}
          </td>
        </tr>
      )}
    </>
  )
}

/** The form that adds an endpoint (admins only); after it, the secret once. */
export function WebhookForm() {
  const create = useCreateWebhook()
  const [name, setName] = useState('')
  const [url, setUrl] = useState('')
  const [format, setFormat] = useState('json')
  const [created, setCreated] = useState<CreatedWebhook | null>(null)
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate(
      { name, url, format },
      {
        onSuccess: (answer) => {
          setCreated(answer)
          setName('')
          setUrl('')
        },
      },
    )
  }
  return (
    <div className="space-y-2">
      <form onSubmit={submit} className="grid gap-2 sm:grid-cols-4" aria-label="New webhook">
        <label className="text-sm font-medium">
          Name
          <input aria-label="Webhook name" className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label className="text-sm font-medium">
          URL
          <input aria-label="URL" className={inputClass} value={url} onChange={(e) => setUrl(e.target.value)} required />
        </label>
        <label className="text-sm font-medium">
          Format
          <select aria-label="Format" className={inputClass} value={format} onChange={(e) => setFormat(e.target.value)}>
            <option value="json">Generic JSON</option>
            <option value="slack">Slack</option>
          </select>
        </label>
        <div className="flex items-end">
          <button type="submit" className={buttonClass} disabled={create.isPending}>
            Add webhook
          </button>
        </div>
        {create.error && (
          <div className="sm:col-span-4">
            <ErrorBox error={create.error} />
          </div>
        )}
      </form>
      {created && (
        <div role="status" className="rounded-md border border-amber-300 bg-amber-50 p-2 text-sm dark:border-amber-700 dark:bg-amber-950">
          <p>
            Webhook “{created.name}” added. Its signing secret (the key of the <code>Kubeworkz-Signature</code> header) is shown
            this once; copy it to the receiver now:
          </p>
          <input aria-label="Signing secret" readOnly className={`${inputClass} font-mono`} value={created.secret} onFocus={(e) => e.target.select()} />
          <button type="button" className={`${secondaryButtonClass} mt-1`} onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      )}
    </div>
  )
}

/** The endpoints, read-only for viewers. */
export function WebhooksPanel() {
  const webhooks = useWebhooks()
  return (
    <div className="space-y-3">
      <AdminOnly>
        <WebhookForm />
      </AdminOnly>
      {webhooks.isPending && <Loading what="webhooks" />}
      {webhooks.error && <ErrorBox error={webhooks.error} />}
      {webhooks.data && (
        <Table caption="Webhooks" head={['Name', 'URL', 'Format', 'State', 'Signing', 'Last delivery']} empty={webhooks.data.items.length === 0}>
          {webhooks.data.items.map((w) => (
            <WebhookRow key={w.id} webhook={w} />
          ))}
        </Table>
      )}
    </div>
  )
}
