import { duration } from '../internal/options.js'
import { endpointDefaults } from './endpoint-options.js'
import { discoveryError, fetchMetadata, type Identifier, isHttpsOrLoopback, parseIdentifier } from './metadata-fetch.js'

/**
 * DiscoverTokenEndpointOptions are the options of {@link discoverTokenEndpoint}: an authorization
 * server's `issuer`, or a `protectedResource` whose metadata names it (or both, to pick one of the
 * resource's authorization servers).
 *
 * @example
 * ```ts
 * const options: DiscoverTokenEndpointOptions = { protectedResource: 'https://tools.example.com/mcp' }
 * ```
 */
export interface DiscoverTokenEndpointOptions {
  /** The authorization server's issuer identifier (RFC 8414 §2), an absolute `https:` URL. */
  issuer?: string | URL | undefined
  /** A protected resource (RFC 9728 §1.2), such as an MCP server's URL. */
  protectedResource?: string | URL | undefined
  /** The `fetch` to call. @default globalThis.fetch */
  fetch?: typeof fetch | undefined
  /** Aborts the discovery; it rejects with the signal's reason. */
  signal?: AbortSignal | undefined
  /** How long each metadata request may take, in ms. @default 10_000 */
  timeoutMs?: number | undefined
}

/**
 * DiscoveredTokenEndpoint is what {@link discoverTokenEndpoint} found.
 *
 * @example
 * ```ts
 * const { tokenEndpoint, issuer, resource }: DiscoveredTokenEndpoint = await discoverTokenEndpoint({ issuer: 'https://auth.example.com' })
 * ```
 */
export interface DiscoveredTokenEndpoint {
  /** The authorization server's issuer identifier, checked against its metadata. */
  issuer: string
  /** The token endpoint from the authorization server's metadata: `https:`, or `http:` on loopback. */
  tokenEndpoint: string
  /** The protected resource's identifier (RFC 9728 `resource`), when discovered from one. */
  resource?: string
  /** The authorization server's metadata (RFC 8414 §2 or OpenID Connect Discovery), as served. */
  metadata: Record<string, unknown>
}

/**
 * discoverTokenEndpoint finds an authorization server's token endpoint from its metadata (RFC 8414,
 * falling back to OpenID Connect Discovery), or first from a protected resource's metadata (RFC
 * 9728: the well-known path goes between the host and the resource's path, and the first of its
 * `authorization_servers` is used).
 *
 * Every identifier is checked as the RFCs require: the resource metadata's `resource` must equal
 * the protected resource, and the server metadata's `issuer` the issuer (RFC 8414 §3.3, RFC 9728
 * §3.3), character for character. A token endpoint must be `https:` (plain `http:` only on a
 * loopback host). The token sources discover for you when given `issuer` or `protectedResource`;
 * call this to inspect what they would use.
 *
 * @throws TypeError for options that are not absolute URLs.
 * @throws AuthError (code `ERR_DISCOVERY`) when metadata cannot be fetched, is not a JSON object,
 * names another issuer or resource, lists no authorization server, or gives an unusable token
 * endpoint. The message names the URL and the field, never a credential.
 *
 * @example
 * ```ts
 * const { tokenEndpoint, resource } = await discoverTokenEndpoint({
 *   protectedResource: 'https://tools.example.com/mcp',
 * })
 * // fetches https://tools.example.com/.well-known/oauth-protected-resource/mcp, then the server's metadata
 * ```
 */
export async function discoverTokenEndpoint(options: DiscoverTokenEndpointOptions): Promise<DiscoveredTokenEndpoint> {
  const fail = (message: string) => new TypeError(`discoverTokenEndpoint: ${message}`)
  if (typeof options !== 'object' || options === null) throw fail('options must be an object')
  const { fetch, signal } = options
  const timeoutMs = duration('discoverTokenEndpoint: timeoutMs', options.timeoutMs, endpointDefaults.timeoutMs)
  const { issuer, protectedResource: resource } = identifiers(options, fail)
  if (issuer === undefined && resource === undefined) throw fail('give issuer or protectedResource')
  if (fetch !== undefined && typeof fetch !== 'function') throw fail('fetch must be a function')
  return discover({ issuer, protectedResource: resource, fetch, signal, timeoutMs })
}

/** identifiers checks the `issuer` and `protectedResource` options (each may be absent). */
export function identifiers(
  options: { issuer?: unknown; protectedResource?: unknown },
  fail: (message: string) => TypeError,
): { issuer: Identifier | undefined; protectedResource: Identifier | undefined } {
  const { issuer, protectedResource } = options
  return {
    issuer: issuer === undefined ? undefined : parseIdentifier(issuer, 'issuer', fail),
    protectedResource:
      protectedResource === undefined ? undefined : parseIdentifier(protectedResource, 'protectedResource', fail),
  }
}

/** DiscoveryTarget is a validated discovery request. */
export interface DiscoveryTarget {
  issuer: Identifier | undefined
  protectedResource: Identifier | undefined
  fetch: typeof fetch | undefined
  signal: AbortSignal | undefined
  timeoutMs: number
}

/** discover runs a validated discovery. */
export async function discover(target: DiscoveryTarget): Promise<DiscoveredTokenEndpoint> {
  let issuer = target.issuer
  if (target.protectedResource === undefined) return serverMetadata(issuer as Identifier, target)
  const found = await resourceMetadata(target.protectedResource, target)
  if (issuer === undefined) {
    const first = found.servers[0] as string
    issuer = { given: first, url: new URL(first) }
  } else if (!found.servers.some((server) => sameIdentifier(server, issuer as Identifier))) {
    throw discoveryError(`${found.url} does not list the issuer ${issuer.given} in authorization_servers`)
  }
  return { ...(await serverMetadata(issuer, target)), resource: found.resource }
}

// Metadata must name an identifier exactly (RFC 8414 §3.3, RFC 9728 §3.3): as given, or as the URL
// parser spells it (`https://h` given and `https://h/` served are the same identifier).
function sameIdentifier(value: unknown, expected: Identifier): value is string {
  return typeof value === 'string' && (value === expected.given || value === expected.url.href)
}

// RFC 9728 §3.1 and RFC 8414 §3.1: the well-known path goes between the host and the path, and a
// path of just "/" counts as none.
function wellKnown(base: URL, suffix: string): string {
  const path = base.pathname === '/' ? '' : base.pathname
  return `${base.origin}/.well-known/${suffix}${path}${base.search}`
}

async function resourceMetadata(
  protectedResource: Identifier,
  target: DiscoveryTarget,
): Promise<{ url: string; resource: string; servers: string[] }> {
  const url = wellKnown(protectedResource.url, 'oauth-protected-resource')
  const metadata = await fetchMetadata(url, target, false)
  if (metadata === undefined) throw discoveryError(`${url} has no protected resource metadata (404)`)
  const resource = metadata['resource']
  if (!sameIdentifier(resource, protectedResource)) {
    throw discoveryError(
      `${url} describes the resource ${describe(resource)}, not the protected resource ${protectedResource.given}`,
    )
  }
  const servers = metadata['authorization_servers']
  if (!Array.isArray(servers) || servers.length === 0) {
    throw discoveryError(`${url} lists no authorization_servers`)
  }
  if (!servers.every((server) => typeof server === 'string' && URL.canParse(server))) {
    throw discoveryError(`${url} has an authorization_servers entry that is not a URL`)
  }
  return { url, resource, servers }
}

async function serverMetadata(issuer: Identifier, target: DiscoveryTarget): Promise<DiscoveredTokenEndpoint> {
  const base = issuer.url
  // The order MCP's authorization spec gives: RFC 8414, then OpenID Connect with the path inserted
  // (RFC 8414 §5), then OpenID Connect with the path appended (OpenID Connect Discovery §4).
  const urls = [wellKnown(base, 'oauth-authorization-server'), wellKnown(base, 'openid-configuration')]
  if (base.pathname !== '/') urls.push(`${base.href.replace(/\/$/, '')}/.well-known/openid-configuration`)
  for (const url of urls) {
    const metadata = await fetchMetadata(url, target, true)
    if (metadata === undefined) continue
    const named = metadata['issuer']
    if (!sameIdentifier(named, issuer)) {
      throw discoveryError(`${url} names the issuer ${describe(named)}, not ${issuer.given}`)
    }
    const endpoint = metadata['token_endpoint']
    if (typeof endpoint !== 'string' || !URL.canParse(endpoint)) {
      throw discoveryError(`${url} has no token_endpoint URL`)
    }
    const parsed = new URL(endpoint)
    if (parsed.username !== '' || parsed.password !== '') {
      throw discoveryError(`${url} has a token_endpoint with credentials in it`)
    }
    if (!isHttpsOrLoopback(parsed)) {
      throw discoveryError(
        `${url} has a token_endpoint that is not https: (${parsed.origin}${parsed.pathname}); plain http is only allowed on loopback`,
      )
    }
    return { issuer: named, tokenEndpoint: parsed.href, metadata }
  }
  throw discoveryError(`no authorization server metadata for ${issuer.given} (404 at ${urls.join(', ')})`)
}

// A value from a server, quoted only when it is a short URL-like string (never a whole object).
function describe(value: unknown): string {
  if (typeof value === 'string' && value.length <= 200 && /^[\x21-\x7e]*$/.test(value)) return JSON.stringify(value)
  return value === undefined ? 'no value' : `a ${typeof value}`
}
