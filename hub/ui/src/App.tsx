// Routes. Every page but the login sits behind the session check and in the Layout.
import type { ReactNode } from 'react'
import { BrowserRouter, Navigate, Route, Routes } from 'react-router'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { ApiError } from './lib/api'
import { useIsAdmin, useMe } from './lib/queries'
import { Layout } from './components/Layout'
import { ErrorBox, Loading } from './components/ui'
import { Login } from './pages/Login'
import { Dashboard } from './pages/Dashboard'
import { Register } from './pages/Register'
import { ClusterDetail } from './pages/ClusterDetail'
import { SearchPage } from './pages/Search'
import { SavingsPage } from './pages/Savings'
import { BudgetsPage } from './pages/Budgets'
import { DeploymentDetail, NamespaceDetail, PodDetail } from './pages/Workloads'
import { WorkloadDetail } from './pages/WorkloadDetail'

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A 4xx will not get better by asking again.
        retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
        refetchOnWindowFocus: true,
      },
    },
  })
}

function RequireSession({ children }: { children: ReactNode }) {
  const me = useMe()
  if (me.isPending) return <Loading what="your session" />
  if (me.error) return <ErrorBox error={me.error} />
  if (!me.data) return <Navigate to="/login" replace />
  return <>{children}</>
}

function AdminRoute({ children }: { children: ReactNode }) {
  return useIsAdmin() ? <>{children}</> : <ErrorBox error="Only administrators can register clusters." />
}

function NotFound() {
  return <ErrorBox error="No such page." />
}

const client = makeQueryClient()

export function App() {
  return (
    <QueryClientProvider client={client}>
      <BrowserRouter>
        <Routes>
          <Route path="/login" element={<Login />} />
          <Route
            element={
              <RequireSession>
                <Layout />
              </RequireSession>
            }
          >
            <Route index element={<Navigate to="/admin/kubernetes" replace />} />
            <Route path="/admin/kubernetes" element={<Dashboard />} />
            <Route
              path="/admin/kubernetes/register"
              element={
                <AdminRoute>
                  <Register />
                </AdminRoute>
              }
            />
            <Route path="/admin/kubernetes/clusters/:id" element={<ClusterDetail />} />
            <Route path="/admin/kubernetes/namespaces/:id" element={<NamespaceDetail />} />
            <Route path="/admin/kubernetes/deployments/:id" element={<DeploymentDetail />} />
            <Route path="/admin/kubernetes/pods/:id" element={<PodDetail />} />
            <Route path="/admin/kubernetes/workloads/:kind/:id" element={<WorkloadDetail />} />
            <Route path="/admin/kubernetes/search" element={<SearchPage />} />
            <Route path="/admin/kubernetes/savings" element={<SavingsPage />} />
            <Route path="/admin/kubernetes/budgets" element={<BudgetsPage />} />
            <Route path="*" element={<NotFound />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  )
}
