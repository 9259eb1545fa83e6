import { useState, type FormEvent } from 'react'
import { useNavigate, useSearchParams } from 'react-router'
import { ApiError, SIGNED_OUT_KEY, signInUrl } from '../lib/api'
import { useLogin, useSignInOptions } from '../lib/queries'
import { useTheme } from '../lib/theme'
import { ErrorBox, buttonClass, inputClass } from '../components/ui'

export function Login() {
  useTheme()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  // An email may exist in several organizations; the hub answers 409 when the password
  // matches more than one, and only then is the organization asked for.
  const [organization, setOrganization] = useState('')
  const [askOrganization, setAskOrganization] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const login = useLogin()
  const navigate = useNavigate()
  const providers = useSignInOptions().data?.items ?? []
  // A refused single sign-on comes back as ?sso_error=<words>; an ended one left its words.
  const [params] = useSearchParams()
  const [notice] = useState(() => {
    const signedOut = sessionStorage.getItem(SIGNED_OUT_KEY)
    sessionStorage.removeItem(SIGNED_OUT_KEY)
    return params.get('sso_error') ?? signedOut
  })
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      const body = askOrganization ? { email, password, organization } : { email, password }
      await login.mutateAsync(body)
      navigate('/admin/kubernetes')
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) setAskOrganization(true)
      setError(err)
    }
  }
  return (
    <main className="flex min-h-screen items-center justify-center bg-gray-50 px-4 text-gray-900 dark:bg-gray-950 dark:text-gray-100">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4 rounded-lg border border-gray-200 bg-white p-6 shadow dark:border-gray-700 dark:bg-gray-900">
        <h1 className="text-2xl font-bold">Sign in to Kubeworkz</h1>
        {notice && <ErrorBox error={notice} />}
        {providers.length > 0 && (
          <div className="flex flex-col gap-2">
            {providers.map((p) => (
              <a key={p.id} href={signInUrl(p.id)} className={`${buttonClass} justify-center text-center`}>
                Sign in with {p.display_name}
              </a>
            ))}
            <p className="text-center text-xs text-gray-500 dark:text-gray-400">or with a password</p>
          </div>
        )}
        <label className="block text-sm font-medium">
          Email
          <input className={inputClass} type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label className="block text-sm font-medium">
          Password
          <input className={inputClass} type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {askOrganization && (
          <label className="block text-sm font-medium">
            Organization
            <input className={inputClass} type="text" autoComplete="organization" required value={organization} onChange={(e) => setOrganization(e.target.value)} />
          </label>
        )}
        {error != null && <ErrorBox error={error} />}
        <button type="submit" className={buttonClass} disabled={login.isPending}>
          Sign in
        </button>
      </form>
    </main>
  )
}
