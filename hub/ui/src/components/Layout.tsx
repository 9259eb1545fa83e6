// The frame of every signed-in page: the fleet search (Ctrl-K), the session banner (user,
// organization, role), the theme toggle and logout; and the live event stream while someone
// is signed in.
import { Link, Outlet, useNavigate } from 'react-router'
import { useQueryClient } from '@tanstack/react-query'
import { useLiveEvents } from '../lib/events'
import { endSession, useMe } from '../lib/queries'
import { useTheme } from '../lib/theme'
import { SearchBox } from './SearchBox'
import { secondaryButtonClass } from './ui'

export function Layout() {
  const me = useMe().data
  const [theme, toggleTheme] = useTheme()
  const client = useQueryClient()
  const navigate = useNavigate()
  useLiveEvents(Boolean(me))
  const logout = async () => {
    try {
      await endSession()
    } finally {
      client.clear()
      navigate('/login')
    }
  }
  return (
    <div className="min-h-screen bg-gray-50 text-gray-900 dark:bg-gray-950 dark:text-gray-100">
      <header className="border-b border-gray-200 bg-white dark:border-gray-800 dark:bg-gray-900">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center justify-between gap-2 px-4 py-3">
          <Link to="/admin/kubernetes" className="text-lg font-bold text-blue-800 dark:text-blue-300">
            Kubeworkz
          </Link>
          <SearchBox />
          <Link to="/admin/kubernetes/savings" className="text-sm font-medium text-blue-800 underline-offset-2 hover:underline dark:text-blue-300">
            Savings
          </Link>
          <Link to="/admin/kubernetes/budgets" className="text-sm font-medium text-blue-800 underline-offset-2 hover:underline dark:text-blue-300">
            Budgets
          </Link>
          <div className="flex flex-wrap items-center gap-2 text-sm" aria-label="Session">
            {me && (
              <span data-testid="session-banner">
                <span className="font-medium">{me.actor}</span>
                <span className="text-gray-600 dark:text-gray-300"> · {me.org} · </span>
                <span data-testid="role">{me.role}</span>
              </span>
            )}
            <button
              type="button"
              className={secondaryButtonClass}
              onClick={toggleTheme}
              aria-label={theme === 'dark' ? 'Switch to light mode' : 'Switch to dark mode'}
              aria-pressed={theme === 'dark'}
              data-testid="theme-toggle"
            >
              <span aria-hidden="true">{theme === 'dark' ? '☀' : '☾'}</span>
              <span className="hidden sm:inline">{theme === 'dark' ? 'Light' : 'Dark'}</span>
            </button>
            <button type="button" className={secondaryButtonClass} onClick={logout}>
              Log out
            </button>
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-7xl px-4 py-6">
        <Outlet />
      </main>
    </div>
  )
}
