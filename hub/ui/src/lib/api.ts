// The hub's REST API as the UI uses it: same-origin fetches with the session cookie, the
// CSRF double submit on mutations, and the API's error shape turned into ApiError.
//
// Paths are the OpenAPI document's own templates (`/api/v1/k8s/clusters/{id}`) and every type
// comes from `api-types.ts`, which is generated from the document the hub serves
// (`npm run api-types`): a path, parameter, body or answer the hub no longer has fails the
// type check instead of failing in a browser.
import type { components, paths } from './api-types'

/** A failed API call: the hub's own message, shown to people verbatim. */
export class ApiError extends Error {
  status: number
  code: string
  /** The 1-based character of the request's query where the problem is (`bad_query`). */
  position?: number
  constructor(status: number, code: string, message: string, position?: number) {
    super(message)
    this.status = status
    this.code = code
    this.position = position
  }
}

/** Where the reason a single sign-on session ended waits for the login page. */
export const SIGNED_OUT_KEY = 'kubeworkz_signed_out'

function csrfToken(): string | undefined {
  return document.cookie
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([k]) => k === 'csrf_token')?.[1]
}

async function request<T>(url: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers)
  const method = (init.method ?? 'GET').toUpperCase()
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrfToken()
    if (token) headers.set('x-csrf-token', token)
  }
  if (typeof init.body === 'string') headers.set('content-type', 'application/json')
  const response = await fetch(url, { ...init, headers, credentials: 'same-origin' })
  if (!response.ok) {
    let code = 'error'
    let message = `${response.status} ${response.statusText}`
    let position: number | undefined
    try {
      const body = await response.json()
      code = body?.error?.code ?? code
      message = body?.error?.message ?? message
      if (typeof body?.error?.position === 'number') position = body.error.position
    } catch {
      // not the API's shape (a proxy's page): keep the status line
    }
    // The identity provider ended the session: the login page says so after the redirect.
    if (code === 'signed_out_by_idp') sessionStorage.setItem(SIGNED_OUT_KEY, message)
    throw new ApiError(response.status, code, message, position)
  }
  if (response.status === 204) return undefined as T
  return (await response.json()) as T
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete'
/** The document's paths that have an operation for `M`. */
type PathOf<M extends Method> = { [P in keyof paths]: paths[P][M] extends { responses: unknown } ? P : never }[keyof paths]
type Operation<P extends keyof paths, M extends Method> = paths[P][M]
/** `{id}` → `{ id: string }`, for each placeholder of the template. */
type ParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | ParamNames<Rest> : never
export type PathParams<P extends string> = { [K in ParamNames<P>]: string }
type QueryOf<Op> = Op extends { parameters: { query?: infer Q } } ? Exclude<Q, undefined> : never
/** The query parameters `GET path` takes, as the document declares them. */
export type GetQuery<P extends keyof paths> = QueryOf<Operation<P, 'get'>>
type BodyOf<Op> = Op extends { requestBody: { content: { 'application/json': infer B } } } ? B : never
type Success<R> = R extends { 200: infer A }
  ? A
  : R extends { 201: infer A }
    ? A
    : R extends { 202: infer A }
      ? A
      : { content?: never }
type JsonAnswer<Op> = Op extends { responses: infer R }
  ? Success<R> extends { content: { 'application/json': infer T } }
    ? T
    : void
  : never

/** The URL of `path` with its placeholders filled and `query`'s set values appended. */
export function apiUrl<P extends keyof paths>(path: P, params: PathParams<P>, query?: object): string {
  const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent((params as Record<string, string>)[name]))
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value != null) search.set(key, String(value))
  }
  const text = search.toString()
  return text ? `${filled}?${text}` : filled
}

/** `GET path`: the operation's JSON answer. */
export function apiGet<P extends PathOf<'get'>>(
  path: P,
  params: PathParams<P>,
  query?: QueryOf<Operation<P, 'get'>>,
): Promise<JsonAnswer<Operation<P, 'get'>>> {
  return request(apiUrl(path, params, query))
}

/** A mutation: `method path` with `body` as JSON; its JSON answer (nothing for a 204). */
export function apiSend<M extends Exclude<Method, 'get'>, P extends PathOf<M>>(
  method: M,
  path: P,
  params: PathParams<P>,
  body?: BodyOf<Operation<P, M>>,
  headers?: Record<string, string>,
): Promise<JsonAnswer<Operation<P, M>>> {
  return request(apiUrl(path, params), {
    method: method.toUpperCase(),
    body: body === undefined ? undefined : JSON.stringify(body),
    headers,
  })
}

/** Where a sign-in button sends the browser: the hub redirects on to the provider. */
export function signInUrl(provider: string): string {
  return apiUrl('/api/v1/auth/oidc/{provider}/login', { provider })
}

export type Schemas = components['schemas']

export type Me = Schemas['Me']
export type Reason = Schemas['ReasonView']
export type Health = Schemas['HealthView']
export type Cluster = Schemas['ClusterView']
export type UsageSeries = Schemas['UsageSeries']
export type CostLine = Schemas['CostLineView']
export type NamespaceCosts = Schemas['NamespaceCostsView']
export type CostReport = Schemas['CostReportView']
export type PricedHours = Schemas['PricedHoursView']
export type EfficiencyLine = Schemas['EfficiencyLineView']
export type Recommendation = Schemas['RecommendationView']
export type RecommendationPage = Schemas['RecommendationPage']
/** A monthly budget with its month so far (actual and run-rate forecast). */
export type Budget = Schemas['BudgetView']
export type BudgetInput = Schemas['BudgetInput']
/** A cost alert: a budget threshold reached, or an anomalous hour. */
export type CostAlert = Schemas['AlertView']
export type Webhook = Schemas['WebhookView']
export type WebhookInput = Schemas['WebhookInput']
export type CreatedWebhook = Schemas['CreatedWebhook']
export type Delivery = Schemas['DeliveryView']
export type LoginRequest = Schemas['Login']
export type RegisterCluster = Schemas['RegisterCluster']
export type CreateEnrollmentToken = Schemas['CreateEnrollmentToken']
/** An issued enrollment token: the token row's fields, the token and the helm command. */
export type EnrollmentCreated = Schemas['IssuedEnrollmentToken']

/** One match of a search. `link` is the UI route of the object. */
export type SearchHit = Schemas['SearchHit']
/** How many matches have one value of a facet (`label` is what people read). */
export type Facet = Schemas['FacetCount']
export type FacetName = keyof Schemas['SearchFacets']
export type SearchPage = Schemas['SearchPage']
/** The fleet's roll-up of the clusters that share one environment, provider or tag. */
export type FleetGroup = Schemas['FleetGroupView']
export type FleetGrouping = 'environment' | 'provider' | 'tag'

/** A page of `T` with the total of the filtered list (the document has one page type per item). */
export type Page<T> = Omit<Schemas['ObjectPage'], 'items'> & { items: T[] }
