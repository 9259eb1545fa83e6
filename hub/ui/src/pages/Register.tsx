// Register a cluster (admins): install the agent with an enrollment token, or hand the hub
// a kubeconfig. The API's validation and connection errors are shown as it words them.
import { useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router'
import type { Cluster, EnrollmentCreated } from '../lib/api'
import { useClusterNamed, useCreateEnrollmentToken, useRegisterCluster } from '../lib/queries'
import { relativeTime } from '../lib/time'
import { ErrorBox, Panel, buttonClass, inputClass, linkClass, secondaryButtonClass } from '../components/ui'

const ENVIRONMENTS = ['production', 'staging', 'development']

/** Client-side checks before a registration is sent; the API checks again. */
export function validateRegistration(f: { name: string; kubeconfig: string }): string[] {
  const errors: string[] = []
  const name = f.name.trim()
  if (!name) errors.push('name is required')
  else if (name.length > 63) errors.push('name must be at most 63 characters')
  if (!f.kubeconfig.trim()) errors.push('paste a kubeconfig or choose a file')
  return errors
}

export function splitTags(text: string): string[] {
  return text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
}

export function KubeconfigForm({ onRegistered }: { onRegistered: (c: Cluster) => void }) {
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [environment, setEnvironment] = useState('production')
  const [tags, setTags] = useState('')
  const [kubeconfig, setKubeconfig] = useState('')
  const [errors, setErrors] = useState<string[]>([])
  const register = useRegisterCluster()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const problems = validateRegistration({ name, kubeconfig })
    setErrors(problems)
    if (problems.length) return
    try {
      const r = await register.mutateAsync({
        name: name.trim(),
        description,
        environment,
        tags: splitTags(tags),
        kubeconfig,
      })
      onRegistered(r.cluster)
    } catch (err) {
      setErrors([err instanceof Error ? err.message : String(err)])
    }
  }
  const upload = async (file: File | undefined) => {
    if (file) setKubeconfig(await file.text())
  }
  return (
    <form onSubmit={submit} className="space-y-3" noValidate aria-label="Register by kubeconfig">
      <div className="grid grid-cols-1 gap-3 sm:grid-cols-2">
        <label className="text-sm font-medium">
          Name
          <input className={inputClass} name="name" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="text-sm font-medium">
          Environment
          <select className={inputClass} name="environment" value={environment} onChange={(e) => setEnvironment(e.target.value)}>
            {ENVIRONMENTS.map((env) => (
              <option key={env}>{env}</option>
            ))}
          </select>
        </label>
        <label className="text-sm font-medium">
          Description
          <input className={inputClass} name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
        </label>
        <label className="text-sm font-medium">
          Tags (comma separated)
          <input className={inputClass} name="tags" value={tags} onChange={(e) => setTags(e.target.value)} />
        </label>
      </div>
      <label className="block text-sm font-medium">
        Kubeconfig (YAML)
        <textarea className={`${inputClass} h-48 font-mono`} name="kubeconfig" spellCheck={false} value={kubeconfig} onChange={(e) => setKubeconfig(e.target.value)} />
      </label>
      <label className="block text-sm font-medium">
        Or upload a kubeconfig file
        <input className="mt-1 block text-sm" type="file" name="kubeconfig-file" onChange={(e) => upload(e.target.files?.[0])} />
      </label>
      {errors.length > 0 && (
        <div role="alert" className="rounded border border-red-300 bg-red-50 p-3 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
          <ul className="list-disc pl-5">
            {errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      )}
      <button type="submit" className={buttonClass} disabled={register.isPending}>
        {register.isPending ? 'Connecting…' : 'Register'}
      </button>
    </form>
  )
}

function AgentInstall() {
  const [name, setName] = useState('')
  const [environment, setEnvironment] = useState('production')
  const [created, setCreated] = useState<EnrollmentCreated | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no')
  const issue = useCreateEnrollmentToken()
  const joined = useClusterNamed(created?.cluster_name ?? '', { enabled: created != null }).data ?? undefined
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      setCreated(await issue.mutateAsync({ cluster_name: name.trim(), environment, tags: [] }))
    } catch (err) {
      setError(err)
    }
  }
  const copy = async () => {
    if (!created) return
    try {
      await navigator.clipboard.writeText(created.helm)
      setCopied('yes')
    } catch {
      // No clipboard permission (e.g. plain HTTP): the command stays selectable.
      setCopied('failed')
    }
  }
  return (
    <div className="space-y-3">
      <form onSubmit={submit} className="grid grid-cols-1 gap-3 sm:grid-cols-3" aria-label="Create an enrollment token">
        <label className="text-sm font-medium">
          Cluster name
          <input className={inputClass} value={name} required onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="text-sm font-medium">
          Environment
          <select className={inputClass} value={environment} onChange={(e) => setEnvironment(e.target.value)}>
            {ENVIRONMENTS.map((env) => (
              <option key={env}>{env}</option>
            ))}
          </select>
        </label>
        <div className="flex items-end">
          <button type="submit" className={buttonClass}>
            Create token
          </button>
        </div>
      </form>
      {error != null && <ErrorBox error={error} />}
      {created && (
        <div className="space-y-2">
          <p className="text-sm">
            Run this in the cluster. The token expires {new Date(created.expires_at).toLocaleString()} and is shown only now.
          </p>
          <pre className="whitespace-pre-wrap break-all rounded bg-gray-900 p-3 text-sm text-gray-100" data-testid="helm-command">{created.helm}</pre>
          <button type="button" className={secondaryButtonClass} onClick={copy} aria-label="Copy the helm command">
            {copied === 'yes' ? 'Copied' : copied === 'failed' ? 'Copy failed: select the text' : 'Copy'}
          </button>
          <p role="status" className="text-sm">
            {joined ? (
              <>
                Connected: <Link className={linkClass} to={`/admin/kubernetes/clusters/${joined.id}`}>{joined.name}</Link> (last sync{' '}
                {relativeTime(joined.last_sync_at)})
              </>
            ) : (
              'Waiting for the agent to connect…'
            )}
          </p>
        </div>
      )}
    </div>
  )
}

export function Register() {
  const [tab, setTab] = useState<'agent' | 'kubeconfig'>('kubeconfig')
  const navigate = useNavigate()
  const tabClass = (active: boolean) =>
    `rounded-t-md px-4 py-2 text-sm font-medium ${active ? 'border-b-2 border-blue-700 text-blue-800 dark:text-blue-300' : 'text-gray-700 dark:text-gray-300'}`
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-bold">Register a cluster</h1>
      <div role="tablist" aria-label="How the cluster joins" className="flex gap-2 border-b border-gray-200 dark:border-gray-700">
        <button type="button" role="tab" aria-selected={tab === 'agent'} className={tabClass(tab === 'agent')} onClick={() => setTab('agent')}>
          Install agent
        </button>
        <button type="button" role="tab" aria-selected={tab === 'kubeconfig'} className={tabClass(tab === 'kubeconfig')} onClick={() => setTab('kubeconfig')}>
          Kubeconfig
        </button>
      </div>
      <Panel title={tab === 'agent' ? 'Install the agent with Helm' : 'Register by kubeconfig'}>
        {tab === 'agent' ? (
          <AgentInstall />
        ) : (
          <KubeconfigForm
            onRegistered={(c) => navigate(`/admin/kubernetes/clusters/${c.id}`)}
          />
        )}
      </Panel>
    </div>
  )
}
