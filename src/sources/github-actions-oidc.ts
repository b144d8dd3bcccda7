import ky, { isHTTPError, isTimeoutError } from 'ky'
import { AuthError } from '../errors.js'
import { isRecord } from '../internal/guards.js'
import { duration } from '../internal/options.js'
import type { FetchToken } from '../token/types.js'
import { endpointDefaults } from './endpoint-options.js'

/**
 * GithubActionsOidcOptions are the options of {@link githubActionsOidc}.
 *
 * @example
 * ```ts
 * const options: GithubActionsOidcOptions = { audience: 'https://auth.example.com', timeoutMs: 5_000 }
 * ```
 */
export interface GithubActionsOidcOptions {
  /** The `aud` of the token: whoever will accept it. @default none: GitHub's default, the repository owner's URL */
  audience?: string | undefined
  /** How long one request may take, in ms. @default 10_000 */
  timeoutMs?: number | undefined
  /** The `fetch` to call (a proxy-aware one on a self-hosted runner behind a proxy). @default globalThis.fetch */
  fetch?: typeof fetch | undefined
}

const source = 'githubActionsOidc'
// What @actions/core's getIDToken sends (its HttpClient's user agent): the same request, byte for byte.
const userAgent = 'actions/oidc-client'
const urlVariable = 'ACTIONS_ID_TOKEN_REQUEST_URL'
const tokenVariable = 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'

/**
 * githubActionsOidc is a {@link FetchToken} for the OIDC token of a GitHub Actions job: it sends
 * the request `@actions/core`'s `getIDToken(audience)` sends (a GET of `ACTIONS_ID_TOKEN_REQUEST_URL`
 * with `&audience=` appended, `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, `Accept:
 * application/json`, `User-Agent: actions/oidc-client`) and returns the JWT in the answer's `value`.
 * The token lives about five minutes; the provider refreshes it before it expires. Use it as the
 * `subjectToken` of `tokenExchange` or the `assertion` of `jwtBearer`, through a provider.
 *
 * The variables are read at each fetch. A missing one is a terminal `AuthError` (`ERR_TOKEN_SOURCE`)
 * at the first fetch, before any request: the job lacks `permissions: id-token: write`. A failed
 * request (a status, a timeout, an answer without a token) is a non-terminal `AuthError`; 5xx and
 * 429 are retried twice at once, then the provider's backoff takes over. No message carries a token.
 *
 * @throws TypeError or RangeError for invalid options, naming the option.
 *
 * @example
 * ```ts
 * import { githubActionsOidc } from 'refreshing-client/node'
 *
 * // in a job with `permissions: id-token: write`
 * const ci = createTokenProvider({ fetchToken: githubActionsOidc({ audience: 'https://auth.example.com' }) })
 * const api = tokenExchange({ issuer: 'https://auth.example.com', clientId: 'ci', subjectToken: ci })
 * ```
 */
export function githubActionsOidc(options: GithubActionsOidcOptions = {}): FetchToken {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${source}: options must be an object`)
  const { audience, fetch } = options
  if (audience !== undefined && (typeof audience !== 'string' || audience === '')) {
    throw new TypeError(`${source}: audience must be a non-empty string`)
  }
  if (fetch !== undefined && typeof fetch !== 'function') throw new TypeError(`${source}: fetch must be a function`)
  const timeoutMs = duration(`${source}: timeoutMs`, options.timeoutMs, endpointDefaults.timeoutMs)

  return async ({ signal }) => {
    const base = process.env[urlVariable]
    const bearer = process.env[tokenVariable]
    for (const [name, value] of [
      [urlVariable, base],
      [tokenVariable, bearer],
    ] as const) {
      if (value === undefined || value === '') {
        throw new AuthError(
          `${source}: ${name} is not set: the job needs \`permissions: id-token: write\` (for the job or the workflow)`,
          { code: 'ERR_TOKEN_SOURCE', terminal: true },
        )
      }
    }
    let url: URL
    try {
      // As @actions/core does: the variable's URL already has a query (`?api-version=2.0`).
      const query =
        audience === undefined ? '' : `${base?.includes('?') ? '&' : '?'}audience=${encodeURIComponent(audience)}`
      url = new URL(`${base}${query}`)
    } catch {
      throw new AuthError(`${source}: ${urlVariable} is not a URL`, { code: 'ERR_TOKEN_SOURCE', terminal: true })
    }
    const label = `${source}: ${url.origin}${url.pathname}`
    let body: unknown
    try {
      body = await ky
        .get(url, {
          headers: { accept: 'application/json', authorization: `Bearer ${bearer}`, 'user-agent': userAgent },
          signal,
          timeout: timeoutMs,
          retry: { limit: endpointDefaults.retry, statusCodes: [429, 500, 502, 503, 504], retryOnTimeout: false },
          ...(fetch === undefined ? {} : { fetch }),
        })
        .json()
    } catch (error) {
      if (signal.aborted) throw signal.reason
      // ky's errors hold the request, with its Authorization header: none is kept as a cause.
      const problem = isHTTPError(error)
        ? `answered ${error.response.status}`
        : isTimeoutError(error)
          ? `did not answer within ${timeoutMs} ms`
          : 'could not be reached, or answered with a body that is not JSON'
      throw new AuthError(`${label} ${problem}`, { code: 'ERR_TOKEN_SOURCE' })
    }
    const value = isRecord(body) ? body['value'] : undefined
    if (typeof value !== 'string' || value.trim() === '') {
      throw new AuthError(`${label} answered without a token in "value"`, { code: 'ERR_TOKEN_SOURCE' })
    }
    return value.trim()
  }
}
