import { signerOf } from '../dpop/signer.js'
import { AuthError, isAuthError } from '../errors.js'
import { duration, wholeNumber } from '../internal/options.js'
import { withSignal } from '../internal/signal.js'
import { type ClientAuthOptions, resolveClientAuth, signingFetch } from './client-auth.js'
import { discover, identifiers } from './discovery.js'
import { dpopFetch } from './dpop-fetch.js'
import {
  type Endpoint,
  endpointDefaults,
  parseTokenUrl,
  stringRecord,
  type TokenEndpointOptions,
} from './endpoint-options.js'

/** GrantAuth is what a grant adds to the shared options. */
export interface GrantAuth {
  auth: ClientAuthOptions
  /** Form parameters the grant sets itself, which `params` may not replace. */
  reserved: readonly string[]
}

/** EndpointResolver finds a source's endpoint: at once with `tokenUrl`, else by one shared discovery. */
export interface EndpointResolver {
  endpoint(signal: AbortSignal | undefined): Promise<Endpoint>
}

// Parameters of client authentication (RFC 6749 §2.3.1, RFC 7521 §4.2): never from `params`.
const clientParams = ['client_id', 'client_secret', 'client_assertion', 'client_assertion_type']

/**
 * resolveEndpoint validates the options of the source called `source` and builds its endpoint. It
 * throws a `TypeError` or `RangeError` naming the option, and never quoting a value (it may be a
 * secret).
 */
export function resolveEndpoint(source: string, options: TokenEndpointOptions, grant: GrantAuth): EndpointResolver {
  const fail = (message: string) => new TypeError(`${source}: ${message}`)
  const { tokenUrl, clientId, params = {}, headers = {}, fetch } = options
  const url = tokenUrl === undefined ? undefined : parseTokenUrl(tokenUrl, fail)
  const { issuer, protectedResource } = identifiers(options, fail)
  if (url === undefined && issuer === undefined && protectedResource === undefined) {
    throw fail('give tokenUrl, issuer or protectedResource')
  }
  if (url !== undefined && protectedResource !== undefined) throw fail('give tokenUrl or protectedResource, not both')
  if (typeof clientId !== 'string' || clientId === '') throw fail('clientId must be a non-empty string')
  const client = resolveClientAuth(source, clientId, grant.auth)
  if (fetch !== undefined && typeof fetch !== 'function') throw fail('fetch must be a function')
  const dpop = options.dpop === undefined ? undefined : signerOf(options.dpop, `${source}: dpop`)
  const resources = resourceList(options.resource, fail)

  const reserved = new Set([...grant.reserved, ...clientParams])
  if (resources !== undefined) reserved.add('resource')
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
  const timeoutMs = duration(`${source}: timeoutMs`, options.timeoutMs, endpointDefaults.timeoutMs)
  const retry = wholeNumber(`${source}: retry`, options.retry, endpointDefaults.retry, 0)
  const sent = Object.freeze({
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
    ...Object.fromEntries(extraHeaders),
    ...client.headers,
  })
  // An explicit resource (the option, or `params.resource`) wins over the discovered one.
  const explicit = resources ?? (extra.some(([name]) => name === 'resource') ? [] : undefined)

  const build = (endpoint: URL, audience: string, discovered: string | undefined): Endpoint => {
    const resource = explicit ?? (discovered === undefined ? [] : [discovered])
    // A fresh client assertion for every attempt; outside it, a DPoP proof (and its nonce retry,
    // which then gets a new assertion too).
    const signed = client.sign === undefined ? fetch : signingFetch(fetch, client.sign, audience)
    return {
      url: endpoint.href,
      label: `${source}: token endpoint ${endpoint.origin}${endpoint.pathname}`,
      headers: sent,
      params: Object.freeze([...extra, ...resource.map((value) => ['resource', value] as const), ...client.params]),
      timeoutMs,
      retry,
      fetch: dpop === undefined ? signed : dpopFetch(dpop, signed),
      secrets: Object.freeze([...client.secrets]),
    }
  }
  if (url !== undefined) {
    const ready = Promise.resolve(build(url, issuer?.given ?? url.href, undefined))
    return { endpoint: () => ready }
  }

  const run = async (): Promise<Endpoint> => {
    try {
      const found = await discover({ issuer, protectedResource, fetch, signal: undefined, timeoutMs })
      return build(new URL(found.tokenEndpoint), found.issuer, found.resource)
    } catch (error) {
      throw isAuthError(error) ? new AuthError(`${source}: ${error.message}`, { code: error.code }) : error
    }
  }
  let pending: Promise<Endpoint> | undefined
  return {
    endpoint(signal) {
      // One discovery for every caller, kept once it succeeds. A failure is forgotten, so the
      // next token request (which the provider's backoff paces) discovers again.
      if (pending === undefined) {
        const started = run()
        pending = started
        started.catch(() => {
          if (pending === started) pending = undefined
        })
      }
      return withSignal(pending, signal)
    },
  }
}

// RFC 8707 §2: each resource is an absolute URI without a fragment.
function resourceList(value: unknown, fail: (message: string) => TypeError): string[] | undefined {
  if (value === undefined) return undefined
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0) throw fail('resource must be a URI or a non-empty array of URIs')
  for (const item of list) {
    if (typeof item !== 'string' || !URL.canParse(item) || item.includes('#')) {
      throw fail('resource must be absolute URIs without a fragment (RFC 8707)')
    }
  }
  return [...list]
}
