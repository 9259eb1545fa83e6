// The pod page's log viewer: container picker, follow, the previous container (what explains
// a crash loop), timestamps, wrap, search within, download.
import { useEffect, useMemo, useRef, useState } from 'react'
import { appendChunk, MAX_LINES, streamLog } from '../lib/logs'
import { ErrorBox, buttonClass, inputClass } from './ui'

export function LogViewer({ podId, containers }: { podId: string; containers: string[] }) {
  const [container, setContainer] = useState(containers[0] ?? '')
  const [follow, setFollow] = useState(false)
  const [previous, setPrevious] = useState(false)
  const [timestamps, setTimestamps] = useState(false)
  const [wrap, setWrap] = useState(true)
  const [search, setSearch] = useState('')
  const [lines, setLines] = useState<string[]>([])
  const [error, setError] = useState<unknown>(null)
  const [streaming, setStreaming] = useState(false)
  const bottom = useRef<HTMLDivElement>(null)

  useEffect(() => {
    if (!container) return
    const abort = new AbortController()
    let kept: string[] = []
    let partial = ''
    setLines([])
    setError(null)
    setStreaming(true)
    const query = { container, follow: follow && !previous, previous, timestamps, tailLines: 1000 }
    streamLog(
      podId,
      query,
      (text) => {
        ;[kept, partial] = appendChunk(kept, partial, text)
        setLines(partial ? kept.concat(partial) : kept)
      },
      abort.signal,
    )
      .catch((err: unknown) => {
        if (!abort.signal.aborted) setError(err)
      })
      .finally(() => {
        if (!abort.signal.aborted) setStreaming(false)
      })
    return () => abort.abort()
  }, [podId, container, follow, previous, timestamps])

  useEffect(() => {
    if (follow) bottom.current?.scrollIntoView({ block: 'nearest' })
  }, [lines, follow])

  const needle = search.trim().toLowerCase()
  const shown = useMemo(() => (needle ? lines.filter((l) => l.toLowerCase().includes(needle)) : lines), [lines, needle])

  const download = () => {
    const blob = new Blob([lines.join('\n') + '\n'], { type: 'text/plain' })
    const url = URL.createObjectURL(blob)
    const a = document.createElement('a')
    a.href = url
    a.download = `${container}${previous ? '-previous' : ''}.log`
    a.click()
    URL.revokeObjectURL(url)
  }

  return (
    <div className="space-y-3" data-testid="log-viewer">
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <label className="flex items-center gap-1">
          Container
          <select className={inputClass} value={container} onChange={(e) => setContainer(e.target.value)} aria-label="Container">
            {containers.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={follow} disabled={previous} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={previous} onChange={(e) => setPrevious(e.target.checked)} /> Previous container
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} /> Wrap
        </label>
        <input className={inputClass} type="search" placeholder="Search in the log" aria-label="Search in the log" value={search} onChange={(e) => setSearch(e.target.value)} />
        <button type="button" className={buttonClass} onClick={download} disabled={lines.length === 0}>
          Download
        </button>
        <span className="text-gray-600 dark:text-gray-300" aria-live="polite" data-testid="log-status">
          {streaming ? (follow && !previous ? 'following…' : 'loading…') : `${lines.length} lines${lines.length >= MAX_LINES ? ' (the latest kept)' : ''}`}
        </span>
      </div>
      {error ? <ErrorBox error={error} /> : null}
      {/* A region the keyboard can reach, so that its lines scroll with the arrow keys. */}
      <pre
        data-testid="log-lines"
        role="region"
        aria-label="Log lines"
        tabIndex={0}
        className={`max-h-[32rem] overflow-auto rounded bg-gray-950 p-3 font-mono text-xs text-gray-100 ${wrap ? 'whitespace-pre-wrap break-all' : 'whitespace-pre'}`}
      >
        {shown.join('\n')}
        <div ref={bottom} />
      </pre>
    </div>
  )
}
