// Dark mode: the system preference until the person chooses, then their choice, kept in
// localStorage. The `dark` class on <html> drives Tailwind's dark variant.
import { useCallback, useEffect, useState } from 'react'

export const THEME_KEY = 'kubeworkz-theme'
export type Theme = 'light' | 'dark'

function systemTheme(): Theme {
  return typeof window.matchMedia === 'function' && window.matchMedia('(prefers-color-scheme: dark)').matches
    ? 'dark'
    : 'light'
}

export function currentTheme(): Theme {
  const stored = window.localStorage.getItem(THEME_KEY)
  return stored === 'dark' || stored === 'light' ? stored : systemTheme()
}

export function applyTheme(theme: Theme) {
  document.documentElement.classList.toggle('dark', theme === 'dark')
}

export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(currentTheme)
  useEffect(() => applyTheme(theme), [theme])
  const toggle = useCallback(() => {
    setTheme((t) => {
      const next = t === 'dark' ? 'light' : 'dark'
      window.localStorage.setItem(THEME_KEY, next)
      return next
    })
  }, [])
  return [theme, toggle]
}
