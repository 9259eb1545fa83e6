// The pod page's terminal: a container picker and a command, then xterm.js on the hub's
// WebSocket (`GET /api/v1/k8s/pods/{id}/exec`). Loaded with its own chunk: xterm.js is large
// and only people who may exec open it. A closed session says why and offers to reconnect.
import { FitAddon } from '@xterm/addon-fit'
import { Terminal as XTerm } from '@xterm/xterm'
import '@xterm/xterm/css/xterm.css'
import { useEffect, useRef, useState } from 'react'
import { exitText, resizeMessage, terminalUrl } from '../lib/terminal'
import { buttonClass, inputClass } from './ui'

type Phase = 'idle' | 'connecting' | 'open' | 'closed'

export default function PodTerminal({ podId, containers }: { podId: string; containers: string[] }) {
  const [container, setContainer] = useState(containers[0] ?? '')
  const [command, setCommand] = useState('sh')
  // Each connect bumps the session, which (re)opens the socket.
  const [session, setSession] = useState(0)
  const [phase, setPhase] = useState<Phase>('idle')
  const [ended, setEnded] = useState<string | null>(null)
  const box = useRef<HTMLDivElement>(null)
  const started = useRef({ container, command })

  useEffect(() => {
    const element = box.current
    if (session === 0 || !element) return
    const term = new XTerm({ cursorBlink: true, fontSize: 13, scrollback: 5000 })
    const fit = new FitAddon()
    term.loadAddon(fit)
    term.open(element)
    fit.fit()
    let exit: string | null = null
    setEnded(null)
    setPhase('connecting')
    const { container: c, command: cmd } = started.current
    const socket = new WebSocket(terminalUrl(podId, { container: c, command: cmd, cols: term.cols, rows: term.rows }, window.location))
    socket.binaryType = 'arraybuffer'
    socket.onopen = () => {
      setPhase('open')
      term.focus()
    }
    socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (typeof event.data === 'string') exit = exitText(event.data) ?? exit
      else term.write(new Uint8Array(event.data))
    }
    socket.onclose = () => {
      setPhase('closed')
      // A refused upgrade (no right, exec off in the chart) closes before it opens.
      setEnded(exit ?? 'The terminal could not open or the connection was lost: exec may be off in the agent chart (operations.exec) or not allowed for your role.')
    }
    const encoder = new TextEncoder()
    const typed = term.onData((data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data))
    })
    const resized = term.onResize(({ cols, rows }) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(resizeMessage(cols, rows))
    })
    const observer = new ResizeObserver(() => fit.fit())
    observer.observe(element)
    return () => {
      observer.disconnect()
      typed.dispose()
      resized.dispose()
      socket.onclose = null
      socket.close()
      term.dispose()
    }
  }, [podId, session])

  const connect = () => {
    started.current = { container, command }
    setSession((s) => s + 1)
  }
  const disconnect = () => setSession(0)
  const live = phase === 'open' || phase === 'connecting'

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-end gap-2">
        <label className="text-sm">
          Container{' '}
          <select className={inputClass} value={container} onChange={(e) => setContainer(e.target.value)} disabled={live && session > 0} data-testid="terminal-container">
            {containers.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          Command{' '}
          <input className={inputClass} value={command} onChange={(e) => setCommand(e.target.value)} disabled={live && session > 0} data-testid="terminal-command" />
        </label>
        {live && session > 0 ? (
          <button type="button" className={buttonClass} onClick={disconnect} data-testid="terminal-disconnect">
            Disconnect
          </button>
        ) : (
          <button type="button" className={buttonClass} onClick={connect} data-testid="terminal-connect">
            {session > 0 ? 'Reconnect' : 'Connect'}
          </button>
        )}
        <span className="text-sm text-gray-600 dark:text-gray-300" role="status" data-testid="terminal-phase">
          {session === 0 ? 'Not connected' : phase === 'open' ? 'Connected' : phase === 'connecting' ? 'Connecting…' : 'Disconnected'}
        </span>
      </div>
      {ended && session > 0 && (
        <p role="alert" className="rounded border border-amber-300 p-2 text-sm dark:border-amber-700" data-testid="terminal-ended">
          {ended}
        </p>
      )}
      {session > 0 && <div ref={box} className="h-96 rounded bg-black p-1" data-testid="terminal" />}
    </div>
  )
}
