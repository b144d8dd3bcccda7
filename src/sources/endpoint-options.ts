import type { DPoP } from '../dpop/dpop.js'

/**
 * TokenEndpointOptions are the options every OAuth2 token source shares: where the token endpoint
 * is (`tokenUrl`, or discovered from `issuer` or `protectedResource`), who the client is, what the
 * token is for (`resource`), and how one token request behaves on the network.
 *
 * Discovery happens on the first token request and its result is kept for the source's life (one
 * discovery in flight, whatever the number of callers); a failed discovery is tried again on the
 * next token request, which the provider's backoff paces. Each metadata request is bounded by
 * `timeoutMs`. See {@link discoverTokenEndpoint} for the checks.
 *
 * @example
 * ```ts
 * const endpoint: TokenEndpointOptions = {
 *   protectedResource: 'https://tools.example.com/mcp', // finds the token endpoint, and the resource to ask for
 *   clientId: 'agent-runner',
 *   timeoutMs: 5_000,
 * }
 * ```
 */
export interface TokenEndpointOptions {
  /**
   * The token endpoint, an absolute `http:` or `https:` URL. Errors name it without its query
   * string. Give this, `issuer` or `protectedResource`.
   */
  tokenUrl?: string | URL | undefined
  /**
   * The authorization server's issuer identifier: its token endpoint is discovered (RFC 8414, then
   * OpenID Connect Discovery) unless `tokenUrl` is given too, and it is the `aud` of
   * `private_key_jwt` assertions. With `protectedResource`, it picks one of the resource's servers.
   */
  issuer?: string | URL | undefined
  /**
   * A protected resource, such as an MCP server's URL: its metadata (RFC 9728) names the
   * authorization server, whose token endpoint is then discovered, and its identifier is the
   * default `resource`. Not with `tokenUrl`.
   */
  protectedResource?: string | URL | undefined
  /**
   * The resource indicator(s) the token is for (RFC 8707): absolute URIs, each sent as a `resource`
   * form parameter. @default the protected resource's identifier with `protectedResource`, else none
   */
  resource?: string | readonly string[] | undefined
  /** The client identifier (RFC 6749 §2.2). */
  clientId: string
  /** Extra form parameters. They cannot replace a parameter the grant or the client authentication sets. */
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

/** endpointDefaults are the OAuth2 token sources' defaults, in one place. Times are milliseconds. */
export const endpointDefaults = Object.freeze({
  /** Long enough for a slow identity provider, short enough that a hung socket fails the attempt. */
  timeoutMs: 10_000,
  /** Two quick retries ride out a blip; longer outages are the provider's backoff's business. */
  retry: 2,
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

/** parseTokenUrl checks `tokenUrl`: absolute, http: or https:, no credentials; the fragment is dropped. */
export function parseTokenUrl(tokenUrl: unknown, fail: (message: string) => TypeError): URL {
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

/** stringRecord checks an object of strings (`params`, `headers`) and returns its entries. */
export function stringRecord(
  value: unknown,
  name: string,
  fail: (message: string) => TypeError,
): (readonly [string, string])[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${name} must be an object`)
  const entries = Object.entries(value)
  for (const [key, item] of entries) if (typeof item !== 'string') throw fail(`${name}.${key} must be a string`)
  return entries as [string, string][]
}
