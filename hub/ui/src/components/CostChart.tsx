// The namespace cost trend: cpu, memory, storage, network and GPUs stacked per hour or day,
// which pricing mode and catalog priced those hours, and the same window as a CSV download. Loaded lazily (Recharts is most of the bundle).
import { useState } from 'react'
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts'
import type { NamespaceCosts, PricedHours } from '../lib/api'
import { dollars } from '../lib/format'
import { namespaceCostsCsvUrl, useNamespaceCosts, type CostStep } from '../lib/queries'
import { ErrorBox, Loading, Panel, inputClass, linkClass } from './ui'

/** Stacks cost per resource and step. Exported for tests. */
export function costSeries(costs: Pick<NamespaceCosts, 'steps'>, step: CostStep) {
  return costs.steps.map((s) => {
    const d = new Date(s.start)
    return {
      at: step === 'hour' ? `${d.toISOString().slice(5, 10)} ${d.toISOString().slice(11, 13)}h` : d.toISOString().slice(0, 10),
      cpu: s.cpu.cost,
      memory: s.memory.cost,
      storage: s.storage_cost,
      network: s.network_cost,
      gpu: s.gpu_cost,
    }
  })
}

/** Says which pricing priced how many cluster-hours, most first. Exported for tests. */
export function pricingLabel(pricing: PricedHours[]) {
  if (pricing.length === 0) return 'no hours computed'
  return pricing
    .map((p) => {
      const what =
        p.mode === 'node' ? `node prices (catalog ${p.catalog_date ?? 'unknown'})` : p.mode === 'unit' ? 'unit prices' : 'pricing not recorded'
      return `${what}: ${p.cluster_hours} h`
    })
    .join('; ')
}

export default function CostChart({ namespaceId }: { namespaceId: string }) {
  const [step, setStep] = useState<CostStep>('day')
  const costs = useNamespaceCosts(namespaceId, step)
  return (
    <Panel
      title="Cost trend"
      actions={
        <div className="flex items-center gap-2">
          <label className="text-sm font-medium">
            Step{' '}
            <select className={inputClass} value={step} onChange={(e) => setStep(e.target.value as CostStep)}>
              <option value="day">by day (7 days)</option>
              <option value="hour">by hour (24 h)</option>
            </select>
          </label>
          <a className={linkClass} href={namespaceCostsCsvUrl(namespaceId, step)} download>
            Export CSV
          </a>
        </div>
      }
    >
      {costs.isPending && <Loading what="costs" />}
      {costs.error && <ErrorBox error={costs.error} />}
      {costs.data && (
        <>
          <p className="mb-2 text-sm">Total: {dollars(costs.data.total.total_cost)}</p>
          <p className="mb-2 text-sm" data-testid="priced-by">
            Priced by {pricingLabel(costs.data.pricing)}
          </p>
          <div className="h-64" role="img" aria-label={`Cost per ${step}, stacked by CPU, memory, storage, network and GPU`}>
            <ResponsiveContainer width="100%" height="100%">
              <BarChart data={costSeries(costs.data, step)}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="at" fontSize={12} />
                <YAxis fontSize={12} />
                <Tooltip />
                <Legend />
                <Bar dataKey="cpu" stackId="c" fill="#2563eb" name="CPU" />
                <Bar dataKey="memory" stackId="c" fill="#9333ea" name="Memory" />
                <Bar dataKey="storage" stackId="c" fill="#0d9488" name="Storage" />
                <Bar dataKey="network" stackId="c" fill="#d97706" name="Network" />
                <Bar dataKey="gpu" stackId="c" fill="#dc2626" name="GPU" />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </>
      )}
    </Panel>
  )
}
