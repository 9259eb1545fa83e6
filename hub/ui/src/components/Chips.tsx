// Filters in force, one removable chip each: what narrows a list is always in sight and one
// click (or Enter) away from gone.

export interface Chip {
  /** What identifies the chip to its list (a parameter name, a query term). */
  id: string
  text: string
}

export function Chips({ label, chips, onRemove, onClear }: { label: string; chips: Chip[]; onRemove: (id: string) => void; onClear?: () => void }) {
  if (chips.length === 0) return null
  return (
    <ul aria-label={label} className="flex flex-wrap items-center gap-2">
      {chips.map((c) => (
        <li key={c.id} data-testid="chip" className="inline-flex items-center gap-1 rounded-full border border-blue-300 bg-blue-50 py-0.5 pl-3 pr-1 text-sm text-blue-900 dark:border-blue-800 dark:bg-blue-950 dark:text-blue-100">
          <span>{c.text}</span>
          <button
            type="button"
            className="rounded-full px-1.5 hover:bg-blue-200 dark:hover:bg-blue-900"
            onClick={() => onRemove(c.id)}
            aria-label={`Remove filter ${c.text}`}
          >
            ×
          </button>
        </li>
      ))}
      {onClear && chips.length > 1 && (
        <li>
          <button type="button" className="text-sm underline underline-offset-2" onClick={onClear}>
            Clear all
          </button>
        </li>
      )}
    </ul>
  )
}
