import type { DPoP } from '../dpop/dpop.js'
import { signerOf } from '../dpop/signer.js'
import { maxTimerDelayMs } from '../internal/timer.js'
import { dpopFetch } from './dpop-fetch.js'

/**
 * TokenEndpointOptions are the options every OAuth2 token source shares: where the token endpoint
 * is, who the client is, and how one token request behaves on the network.
 *
 * @example
 * ```ts
 * const endpoint: TokenEndpointOptions = {
 *   tokenUrl: 'https://auth.example.com/oauth2/token',
 *   clientId: 'agent-runner',
 *   params: { resource: 'https://api.example.com' },
 *   timeoutMs: 5_000,
 * }
 * ```
 */
export interface TokenEndpointOptions {
  /** The token endpoint, an absolute `http:` or `https:` URL. Errors name it without its query string. */
  tokenUrl: string | URL
  /** The client identifier (RFC 6749 §2.2). */
  clientId: string
  /** Extra form parameters, such as `resource` (RFC 8707). They cannot replace a parameter the grant sets. */
  params?: Record<string, string> | undefined
  /** Extra request headers. `Authorization` and `Content-Type` belong to the source and cannot be set here. */
  headers?: Record<string, string> | undefined
  /** How long one attempt may take to answer (and then to deliver its body), in ms. @default 10_000 */
  timeoutMs?: number | undefined
  /**
   * How many times one token request is retried after a network error, a 5xx or a 429 (honouring
   * `Retry-After`). Other 4xx answers and timeouts are never retried here; the provider's backoff
   * takes over. @default 2
   */
  retry?: number | undefined
  /** The `fetch` to call, for instrumentation or tests. @default globalThis.fetch */
  fetch?: typeof fetch | undefined
  /**
   * A DPoP key (RFC 9449) from `createDPoP()`: each token request carries a proof, the tokens are
   * bound to the key, and a `use_dpop_nonce` answer is retried once with the server's nonce. Give
   * the `RefreshingClient` that sends the tokens the same key. @default none: bearer tokens
   */
  dpop?: DPoP | undefined
}

/**
 * ClientAuthMethod is how a confidential client authenticates at the token endpoint (RFC 6749
 * §2.3.1): `client_secret_basic` in an `Authorization: Basic` header, or `client_secret_post` in
 * the form body.
 *
 * @example
 * ```ts
 * const authMethod: ClientAuthMethod = 'client_secret_post'
 * ```
 */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post'

/** endpointDefaults are the OAuth2 token sources' defaults, in one place. Times are milliseconds. */
export const endpointDefaults = Object.freeze({
  /** Long enough for a slow identity provider, short enough that a hung socket fails the attempt. */
  timeoutMs: 10_000,
  /** Two quick retries ride out a blip; longer outages are the provider's backoff's business. */
  retry: 2,
  /** The method every server must support (RFC 6749 §2.3.1). */
  authMethod: 'client_secret_basic' as ClientAuthMethod,
})

/** Endpoint is one validated token endpoint, ready for requests. It holds the client's credentials: never expose it. */
export interface Endpoint {
  /** The full URL to post to. */
  readonly url: string
  /** Names the source and the endpoint (without query string) in every message. */
  readonly label: string
  readonly headers: Readonly<Record<string, string>>
  /** Client authentication and extra parameters, sent after the grant's own. */
  readonly params: ReadonlyArray<readonly [string, string]>
  readonly timeoutMs: number
  readonly retry: number
  readonly fetch: typeof fetch | undefined
  /** Strings that must never reach a message: the secret in each form it is sent in. */
  readonly secrets: readonly string[]
}

/** ClientAuth is what a grant adds to the shared options. */
export interface ClientAuth {
  clientSecret: string | undefined
  authMethod: ClientAuthMethod | undefined
  /** Form parameters the grant sets itself, which `params` may not replace. */
  reserved: readonly string[]
}

/**
 * resolveEndpoint validates the options of the source called `source` and builds its endpoint. It
 * throws a `TypeError` or `RangeError` naming the option, and never quoting a value (it may be a
 * secret).
 */
export function resolveEndpoint(source: string, options: TokenEndpointOptions, auth: ClientAuth): Endpoint {
  const fail = (message: string) => new TypeError(`${source}: ${message}`)
  const { tokenUrl, clientId, params = {}, headers = {}, fetch } = options
  const url = parseTokenUrl(tokenUrl, fail)
  if (typeof clientId !== 'string' || clientId === '') throw fail('clientId must be a non-empty string')
  if (auth.clientSecret !== undefined && (typeof auth.clientSecret !== 'string' || auth.clientSecret === '')) {
    throw fail('clientSecret must be a non-empty string')
  }
  const authMethod = auth.authMethod ?? endpointDefaults.authMethod
  if (authMethod !== 'client_secret_basic' && authMethod !== 'client_secret_post') {
    throw fail("authMethod must be 'client_secret_basic' or 'client_secret_post'")
  }
  if (auth.clientSecret === undefined && auth.authMethod !== undefined) {
    throw fail('authMethod needs a clientSecret: a public client only sends its client_id')
  }
  if (fetch !== undefined && typeof fetch !== 'function') throw fail('fetch must be a function')
  const dpop = options.dpop === undefined ? undefined : signerOf(options.dpop, `${source}: dpop`)

  const reserved = new Set([...auth.reserved, 'client_id', 'client_secret'])
  const extra = stringRecord(params, 'params', fail)
  for (const [name] of extra) if (reserved.has(name)) throw fail(`params.${name} is set by ${source} itself`)
  const extraHeaders = stringRecord(headers, 'headers', fail)
  for (const [name] of extraHeaders) {
    const lower = name.toLowerCase()
    if (lower === 'authorization' || lower === 'content-type') throw fail(`headers may not set ${name}`)
  }
  try {
    new Headers(extraHeaders as [string, string][])
  } catch {
    throw fail('headers must be valid HTTP header names and values')
  }

  const sent: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
    ...Object.fromEntries(extraHeaders),
  }
  const clientParams: (readonly [string, string])[] = []
  const secrets: string[] = []
  if (auth.clientSecret === undefined) {
    clientParams.push(['client_id', clientId])
  } else if (authMethod === 'client_secret_post') {
    clientParams.push(['client_id', clientId], ['client_secret', auth.clientSecret])
    secrets.push(auth.clientSecret, formEncode(auth.clientSecret))
  } else {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and base64-encoded,
    // so a `:` in the client id cannot split the pair. The result is ASCII, which `btoa` takes.
    const credentials = btoa(`${formEncode(clientId)}:${formEncode(auth.clientSecret)}`)
    sent['authorization'] = `Basic ${credentials}`
    secrets.push(auth.clientSecret, formEncode(auth.clientSecret), credentials)
  }
  return {
    url: url.href,
    label: `${source}: token endpoint ${url.origin}${url.pathname}`,
    headers: Object.freeze(sent),
    params: Object.freeze([...extra, ...clientParams]),
    timeoutMs: duration(source, 'timeoutMs', options.timeoutMs, endpointDefaults.timeoutMs),
    retry: retryLimit(source, options.retry),
    fetch: dpop === undefined ? fetch : dpopFetch(dpop, fetch),
    secrets: Object.freeze(secrets),
  }
}

/** formEncode encodes one value as application/x-www-form-urlencoded does: spaces become `+`. */
export function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1)
}

/**
 * redact replaces every secret in `text` (a server's error description may echo what it was sent)
 * and keeps the text short and on one line, since it ends up in an error message.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let result = text
  for (const secret of secrets) if (secret !== '') result = result.replaceAll(secret, '[redacted]')
  result = result.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim()
  return result.length > 200 ? `${result.slice(0, 200)}…` : result
}

function parseTokenUrl(tokenUrl: unknown, fail: (message: string) => TypeError): URL {
  let url: URL | undefined
  if (typeof tokenUrl === 'string' || tokenUrl instanceof URL) {
    try {
      url = new URL(tokenUrl)
    } catch {}
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw fail('tokenUrl must be an absolute http: or https: URL')
  }
  // `fetch` refuses URLs with credentials, and we would print them in errors: say so now.
  if (url.username !== '' || url.password !== '') throw fail('tokenUrl must not contain credentials')
  url.hash = ''
  return url
}

function stringRecord(
  value: unknown,
  name: string,
  fail: (message: string) => TypeError,
): (readonly [string, string])[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${name} must be an object`)
  const entries = Object.entries(value)
  for (const [key, item] of entries) if (typeof item !== 'string') throw fail(`${name}.${key} must be a string`)
  return entries as [string, string][]
}

function duration(source: string, name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !(value > 0 && value <= maxTimerDelayMs)) {
    throw new RangeError(`${source}: ${name} must be a number of milliseconds, greater than 0 and at most 2^31 - 1`)
  }
  return value
}

function retryLimit(source: string, value: number | undefined): number {
  if (value === undefined) return endpointDefaults.retry
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${source}: retry must be a whole number, at least 0`)
  }
  return value
}
