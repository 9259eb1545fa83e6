// In-app links to a part of a page (`/clusters/{id}#nodes`): the router changes the URL but
// the browser only scrolls to a fragment on a full load, so the page does it once it shows.
import { useEffect } from 'react'
import { useLocation } from 'react-router'

/** Scrolls to the element the URL's fragment names once `ready` (the page has rendered it). */
export function useScrollToHash(ready: boolean) {
  const { hash } = useLocation()
  useEffect(() => {
    if (!ready || hash.length < 2) return
    document.getElementById(decodeURIComponent(hash.slice(1)))?.scrollIntoView({ block: 'start' })
  }, [ready, hash])
}
