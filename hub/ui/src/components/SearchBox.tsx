// The search box in every page's header, also opened with Ctrl-K (⌘K): results as you type,
// grouped by kind, chosen with the arrow keys and Enter (the ARIA combobox pattern). Enter on
// the text itself opens the full results page.
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react'
import { useNavigate } from 'react-router'
import { ApiError } from '../lib/api'
import type { SearchHit } from '../lib/api'
import { useDebounced } from '../lib/debounce'
import { useSearch } from '../lib/queries'
import { groupByKind, hitRoute, searchRoute, totalText } from '../lib/searchQuery'
import { inputClass } from './ui'

/** Matches shown as you type; the results page has the rest. */
export const SUGGESTIONS = 20

/** Ctrl-K, or ⌘K on a Mac. */
export function isPaletteKey(e: { key: string; ctrlKey: boolean; metaKey: boolean }): boolean {
  return e.key.toLowerCase() === 'k' && (e.ctrlKey || e.metaKey)
}

export function SearchBox() {
  const [text, setText] = useState('')
  const [open, setOpen] = useState(false)
  const [active, setActive] = useState(-1)
  const input = useRef<HTMLInputElement>(null)
  const navigate = useNavigate()
  const id = useId()
  const q = useDebounced(text, 200).trim()
  const results = useSearch(q, { limit: SUGGESTIONS })
  const hits = text.trim() && results.data ? results.data.items : []
  const groups = groupByKind(hits)
  const ordered = groups.flatMap(([, g]) => g)
  // The last option opens the results page.
  const options = ordered.length + (text.trim() ? 1 : 0)

  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      if (!isPaletteKey(e)) return
      e.preventDefault()
      input.current?.focus()
      input.current?.select()
      setOpen(true)
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  const go = (to: string) => {
    setOpen(false)
    setActive(-1)
    input.current?.blur()
    navigate(to)
  }
  const choose = (index: number) => {
    if (index >= 0 && index < ordered.length) go(hitRoute(ordered[index]))
    else if (text.trim()) go(searchRoute(text.trim()))
  }
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowDown' && options > 0) {
      e.preventDefault()
      setOpen(true)
      setActive((a) => (a + 1) % options)
    } else if (e.key === 'ArrowUp' && options > 0) {
      e.preventDefault()
      setActive((a) => (a <= 0 ? options - 1 : a - 1))
    } else if (e.key === 'Enter') {
      e.preventDefault()
      choose(active)
    } else if (e.key === 'Escape') {
      setOpen(false)
      setActive(-1)
    }
  }
  const optionId = (i: number) => `${id}-option-${i}`
  const showList = open && text.trim() !== ''
  const badQuery = results.error instanceof ApiError ? results.error : null
  let index = -1
  const option = (hit: SearchHit) => {
    index += 1
    const i = index
    return (
      <li
        key={`${hit.kind}/${hit.id}`}
        id={optionId(i)}
        role="option"
        aria-selected={active === i}
        data-testid="search-suggestion"
        className={`cursor-pointer px-3 py-1.5 ${active === i ? 'bg-blue-100 dark:bg-blue-900' : ''}`}
        onMouseDown={(e) => e.preventDefault()}
        onClick={() => choose(i)}
        onMouseEnter={() => setActive(i)}
      >
        <span className="font-medium">{hit.name}</span>
        <span className="text-gray-600 dark:text-gray-300">
          {' '}
          · {hit.cluster_name}
          {hit.namespace ? ` / ${hit.namespace}` : ''}
          {hit.status ? ` · ${hit.status}` : ''}
        </span>
      </li>
    )
  }
  return (
    <div role="search" className="relative w-full sm:w-80">
      <label htmlFor={`${id}-input`} className="sr-only">
        Search the fleet
      </label>
      <input
        ref={input}
        id={`${id}-input`}
        className={inputClass}
        type="search"
        placeholder="Search… (Ctrl K)"
        autoComplete="off"
        role="combobox"
        aria-expanded={showList}
        aria-controls={`${id}-listbox`}
        aria-autocomplete="list"
        aria-activedescendant={showList && active >= 0 ? optionId(active) : undefined}
        aria-keyshortcuts="Control+K Meta+K"
        value={text}
        onChange={(e) => {
          setText(e.target.value)
          setOpen(true)
          setActive(-1)
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => setOpen(false)}
        onKeyDown={onKeyDown}
        data-testid="search-input"
      />
      <div
        hidden={!showList}
        className="absolute right-0 z-20 mt-1 max-h-[70vh] w-full min-w-72 overflow-y-auto rounded-md border border-gray-200 bg-white text-sm shadow-lg dark:border-gray-700 dark:bg-gray-900"
      >
        {badQuery && (
          <p role="alert" className="px-3 py-2 text-red-800 dark:text-red-200">
            {badQuery.message}
          </p>
        )}
        <ul id={`${id}-listbox`} role="listbox" aria-label="Search results">
          {groups.map(([kind, group]) => (
            <li key={kind} role="presentation">
              <ul role="group" aria-label={kind}>
                <li role="presentation" className="px-3 pt-2 text-xs font-semibold uppercase text-gray-600 dark:text-gray-300">
                  {kind}
                </li>
                {group.map(option)}
              </ul>
            </li>
          ))}
          <li
            id={optionId(ordered.length)}
            role="option"
            aria-selected={active === ordered.length}
            className={`cursor-pointer border-t border-gray-200 px-3 py-2 dark:border-gray-700 ${active === ordered.length ? 'bg-blue-100 dark:bg-blue-900' : ''}`}
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => choose(ordered.length)}
            onMouseEnter={() => setActive(ordered.length)}
          >
            {results.data && q === text.trim() ? `All ${totalText(results.data.total, results.data.total_is_estimate)} results for “${text.trim()}”` : `All results for “${text.trim()}”`}
          </li>
        </ul>
      </div>
    </div>
  )
}
