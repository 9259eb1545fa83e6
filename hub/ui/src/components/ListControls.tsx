// A table's filter and order, shown only for lists the hub filters and sorts (LIST_PARAMS):
// both live in the URL through the table's ListState.
import { useEffect, useState } from 'react'
import { useDebounced } from '../lib/debounce'
import type { ListState } from '../lib/listState'
import { inputClass } from './ui'

/**
 * A text filter that writes `value` (the URL) once typing pauses, so the hub is asked once
 * per pause, not per keystroke; a value changed elsewhere (a chip removed) shows in the box.
 */
export function FilterField({ label, placeholder, value, onChange }: { label: string; placeholder?: string; value: string; onChange: (v: string) => void }) {
  const [text, setText] = useState(value)
  const [shown, setShown] = useState(value)
  if (value !== shown) {
    setShown(value)
    setText(value)
  }
  const settled = useDebounced(text, 250)
  useEffect(() => {
    if (settled === text && settled !== value) onChange(settled)
  }, [settled, text, value, onChange])
  return (
    <label className="text-sm font-medium">
      {label}
      <input className={inputClass} type="search" placeholder={placeholder} value={text} onChange={(e) => setText(e.target.value)} />
    </label>
  )
}

export function ListControls({
  label,
  state,
  takes,
  sorts,
}: {
  label: string
  state: ListState
  takes: { sort: boolean; q: boolean }
  /** The orders the list knows, with what people read for each; the first is the default. */
  sorts: [string, string][]
}) {
  if (!takes.q && !takes.sort) return null
  return (
    <div className="flex flex-wrap items-end gap-2">
      {takes.q && <FilterField label={`Filter ${label}`} placeholder="Name contains…" value={state.q} onChange={state.setQ} />}
      {takes.sort && (
        <label className="text-sm font-medium">
          Sort {label}
          <select className={inputClass} value={state.sort || sorts[0][0]} onChange={(e) => state.setSort(e.target.value === sorts[0][0] ? '' : e.target.value)}>
            {sorts.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </label>
      )}
    </div>
  )
}
