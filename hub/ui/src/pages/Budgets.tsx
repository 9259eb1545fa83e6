// /admin/kubernetes/budgets: monthly budgets with their month so far (actual and run-rate
// forecast as bars against the amount), the form that adds one (admins; viewers read), the
// webhooks alerts are delivered to (components/WebhooksPanel), and the organization's cost
// alerts, newest first.
import { useState, type FormEvent } from 'react'
import type { Budget, CostAlert } from '../lib/api'
import { useAlerts, useBudgets, useCreateBudget, useDeleteBudget } from '../lib/queries'
import { WebhooksPanel } from '../components/WebhooksPanel'
import {
  AdminOnly,
  Badge,
  ErrorBox,
  Loading,
  Panel,
  Table,
  buttonClass,
  cellClass,
  dangerButtonClass,
  inputClass,
  rowClass,
} from '../components/ui'

const SCOPES = [
  ['namespace', 'Namespace'],
  ['team', 'Team'],
  ['cost_center', 'Cost center'],
  ['cluster', 'Cluster (id)'],
] as const

/** `value` as a share of `amount`, in whole percent (0 for a zero amount). Exported for tests. */
export function shareOf(value: number, amount: number): number {
  return amount > 0 ? Math.round((value / amount) * 100) : 0
}

/** Exact decimal dollars as shown: `$1,020.00`; under a cent, up to six decimals (`$0.0042`),
 * so a small budget or a new namespace's spend does not read as `$0.00`. Exported for tests. */
export function money(decimal: string): string {
  const n = Number(decimal)
  if (!Number.isFinite(n)) return decimal
  const digits = n !== 0 && Math.abs(n) < 0.01 ? 6 : 2
  return `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: digits })}`
}

/** A bar of `pct` percent (capped at 100 wide), red from 100 %, amber from 80 %. */
function Bar({ label, pct }: { label: string; pct: number }) {
  const color = pct >= 100 ? 'bg-red-600' : pct >= 80 ? 'bg-amber-500' : 'bg-blue-600'
  return (
    <div className="flex items-center gap-2" role="img" aria-label={`${label} ${pct}% of the budget`} data-testid="budget-bar">
      <span className="w-16 text-xs text-gray-600 dark:text-gray-300">{label}</span>
      <div className="h-2 w-40 rounded bg-gray-200 dark:bg-gray-700">
        <div className={`h-2 rounded ${color}`} style={{ width: `${Math.min(pct, 100)}%` }} />
      </div>
      <span className="text-xs tabular-nums">{pct}%</span>
    </div>
  )
}

function BudgetRow({ budget }: { budget: Budget }) {
  const remove = useDeleteBudget()
  const actual = shareOf(budget.actual_nanos, budget.amount_nanos)
  const forecast = shareOf(budget.forecast_nanos, budget.amount_nanos)
  return (
    <tr className={rowClass} data-testid="budget-row">
      <td className={cellClass}>{budget.name}</td>
      <td className={cellClass}>
        {budget.scope.replace('_', ' ')}: {budget.scope_key}
      </td>
      <td className={cellClass}>{money(budget.amount)}</td>
      <td className={cellClass}>
        <div className="space-y-1">
          <Bar label={`${money(budget.actual)}`} pct={actual} />
          <Bar label={`${money(budget.forecast)}`} pct={forecast} />
        </div>
        <span className="text-xs text-gray-600 dark:text-gray-300">
          actual, then forecast · {budget.elapsed_hours} of {budget.month_hours} hours
        </span>
      </td>
      <AdminOnly>
        <td className={cellClass}>
          <button type="button" className={dangerButtonClass} disabled={remove.isPending} onClick={() => remove.mutate(budget.id)}>
            Delete
          </button>
        </td>
      </AdminOnly>
    </tr>
  )
}

/** The budget form (admins only). */
export function BudgetForm() {
  const create = useCreateBudget()
  const [name, setName] = useState('')
  const [scope, setScope] = useState('namespace')
  const [key, setKey] = useState('')
  const [amount, setAmount] = useState('')
  const submit = (e: FormEvent) => {
    e.preventDefault()
    create.mutate(
      { name, scope, scope_key: key, amount },
      {
        onSuccess: () => {
          setName('')
          setKey('')
          setAmount('')
        },
      },
    )
  }
  return (
    <form onSubmit={submit} className="grid gap-2 sm:grid-cols-5" aria-label="New budget">
      <label className="text-sm font-medium">
        Name
        <input aria-label="Name" className={inputClass} value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <label className="text-sm font-medium">
        Scope
        <select aria-label="Scope" className={inputClass} value={scope} onChange={(e) => setScope(e.target.value)}>
          {SCOPES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label className="text-sm font-medium">
        Key
        <input aria-label="Key" className={inputClass} value={key} onChange={(e) => setKey(e.target.value)} required />
      </label>
      <label className="text-sm font-medium">
        Dollars a month
        <input
          aria-label="Dollars a month"
          className={inputClass}
          value={amount}
          inputMode="decimal"
          onChange={(e) => setAmount(e.target.value)}
          required
        />
      </label>
      <div className="flex items-end">
        <button type="submit" className={buttonClass} disabled={create.isPending}>
          Add budget
        </button>
      </div>
      {create.error && (
        <div className="sm:col-span-5">
          <ErrorBox error={create.error} />
        </div>
      )}
    </form>
  )
}

const KIND_LABELS: Record<string, [string, 'red' | 'yellow' | 'blue' | 'gray']> = {
  budget_actual: ['Spent', 'red'],
  budget_forecast: ['Forecast', 'yellow'],
  anomaly: ['Anomaly', 'blue'],
}

function AlertRow({ alert }: { alert: CostAlert }) {
  const [label, color] = KIND_LABELS[alert.kind] ?? [alert.kind, 'gray']
  return (
    <tr className={rowClass} data-testid="alert-row">
      <td className={cellClass}>{new Date(alert.created_at).toLocaleString()}</td>
      <td className={cellClass}>
        <Badge color={color}>{label}</Badge>
      </td>
      <td className={cellClass}>{alert.message}</td>
    </tr>
  )
}

export function BudgetsPage() {
  const budgets = useBudgets()
  const alerts = useAlerts()
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Budgets</h1>
      <AdminOnly>
        <Panel title="New budget">
          <BudgetForm />
        </Panel>
      </AdminOnly>
      <Panel title="Budgets this month">
        {budgets.isPending && <Loading what="budgets" />}
        {budgets.error && <ErrorBox error={budgets.error} />}
        {budgets.data && (
          <Table caption="Budgets" head={['Name', 'Scope', 'Amount', 'Actual and forecast']} empty={budgets.data.items.length === 0}>
            {budgets.data.items.map((b) => (
              <BudgetRow key={b.id} budget={b} />
            ))}
          </Table>
        )}
      </Panel>
      <Panel title="Webhooks" id="webhooks">
        <WebhooksPanel />
      </Panel>
      <Panel title="Alerts">
        {alerts.isPending && <Loading what="alerts" />}
        {alerts.error && <ErrorBox error={alerts.error} />}
        {alerts.data && (
          <Table caption="Alerts" head={['When', 'Kind', 'What']} empty={alerts.data.items.length === 0}>
            {alerts.data.items.map((a) => (
              <AlertRow key={a.id} alert={a} />
            ))}
          </Table>
        )}
      </Panel>
    </div>
  )
}
