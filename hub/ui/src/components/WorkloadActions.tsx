// Acting on a workload from its page: scale and restart a deployment, delete a pod. Shown to
// operators and admins only; every action asks for confirmation first, runs once per
// confirmation (its idempotency key), shows what changed, and the page reads the inventory
// again.
import { useState } from 'react'
import { newActionKey, parseReplicas, scaleQuestion } from '../lib/actions'
import { useCanAct, useWorkloadAction } from '../lib/queries'
import { ErrorBox, dangerButtonClass, inputClass, secondaryButtonClass } from './ui'

type Kind = 'scale' | 'restart' | 'delete'

/** A button that asks `question` before running the action, then shows its change. */
function ConfirmedAction({
  kind,
  id,
  label,
  question,
  replicas,
  disabled,
}: {
  kind: Kind
  id: string
  label: string
  question: string
  replicas?: number
  disabled?: boolean
}) {
  const [key, setKey] = useState<string | null>(null)
  const action = useWorkloadAction(kind, id)
  if (key === null)
    return (
      <div className="space-y-2">
        <button
          type="button"
          className={kind === 'delete' ? dangerButtonClass : secondaryButtonClass}
          disabled={disabled}
          onClick={() => {
            action.reset()
            setKey(newActionKey())
          }}
        >
          {label}
        </button>
        {action.data && (
          <p role="status" className="text-sm" data-testid={`${kind}-result`}>
            Done: {action.data.change}
          </p>
        )}
      </div>
    )
  return (
    <div role="alertdialog" aria-label={label} className="flex flex-wrap items-center gap-2 rounded border border-amber-300 p-2 dark:border-amber-700">
      <span>{question}</span>
      <button
        type="button"
        className={kind === 'delete' ? dangerButtonClass : secondaryButtonClass}
        disabled={action.isPending}
        onClick={() => action.mutate({ key, replicas }, { onSuccess: () => setKey(null) })}
      >
        Confirm
      </button>
      <button type="button" className={secondaryButtonClass} onClick={() => setKey(null)}>
        Cancel
      </button>
      {action.error && <ErrorBox error={action.error} />}
    </div>
  )
}

/** Scale (a number and a button) and Restart, for a deployment wanting `desired` replicas. */
export function DeploymentActions({ id, name, desired }: { id: string; name: string; desired: number }) {
  const [text, setText] = useState(String(desired))
  if (!useCanAct()) return null
  const parsed = parseReplicas(text)
  return (
    <div className="flex flex-wrap items-start gap-4" data-testid="deployment-actions">
      <div className="space-y-1">
        <label className="flex items-center gap-2 text-sm">
          Replicas
          <input
            type="number"
            min={0}
            max={10000}
            className={`${inputClass} w-24`}
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-invalid={'error' in parsed}
          />
        </label>
        {'error' in parsed && <p className="text-sm text-red-700 dark:text-red-400">{parsed.error}</p>}
      </div>
      <ConfirmedAction
        kind="scale"
        id={id}
        label="Scale"
        question={'replicas' in parsed ? scaleQuestion(name, desired, parsed.replicas) : ''}
        replicas={'replicas' in parsed ? parsed.replicas : undefined}
        disabled={'error' in parsed}
      />
      <ConfirmedAction kind="restart" id={id} label="Restart" question={`Restart every pod of deployment “${name}” (a rolling restart)?`} />
    </div>
  )
}

/** Delete, for a pod. */
export function PodActions({ id, name }: { id: string; name: string }) {
  if (!useCanAct()) return null
  return (
    <div data-testid="pod-actions">
      <ConfirmedAction kind="delete" id={id} label="Delete pod" question={`Delete pod “${name}”? Its controller, if any, makes a new one.`} />
    </div>
  )
}
