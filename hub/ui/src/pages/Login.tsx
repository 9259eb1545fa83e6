import { useState, type FormEvent } from 'react'
import { useNavigate } from 'react-router'
import { useQueryClient } from '@tanstack/react-query'
import { post, type Me } from '../lib/api'
import { useTheme } from '../lib/theme'
import { ErrorBox, buttonClass, inputClass } from '../components/ui'

export function Login() {
  useTheme()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const client = useQueryClient()
  const navigate = useNavigate()
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const me = await post<Me>('/api/v1/auth/login', { email, password })
      client.setQueryData(['me'], me)
      navigate('/admin/kubernetes')
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <main className="flex min-h-screen items-center justify-center bg-gray-50 px-4 text-gray-900 dark:bg-gray-950 dark:text-gray-100">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4 rounded-lg border border-gray-200 bg-white p-6 shadow dark:border-gray-700 dark:bg-gray-900">
        <h1 className="text-2xl font-bold">Sign in to Kubeworkz</h1>
        <label className="block text-sm font-medium">
          Email
          <input className={inputClass} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="block text-sm font-medium">
          Password
          <input className={inputClass} type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error != null && <ErrorBox error={error} />}
        <button type="submit" className={buttonClass} disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  )
}
