import type { Options as KyOptions } from 'ky'
import type { DPoP } from '../dpop/dpop.js'
import type { TokenProviderOptions } from '../token/options.js'
import type { TokenProvider } from '../token/types.js'
import type { ChallengeEvent } from './refusal.js'

/**
 * Authorize puts the token on the outgoing headers. It is given a fresh `Headers` to set the token
 * on; what it sets is applied last, over the static and the per-request headers, and removed again
 * on a redirect to another origin. The default sets `Authorization: Bearer <token>`.
 *
 * @example
 * ```ts
 * const authorize: Authorize = (headers, token) => headers.set('x-api-key', token)
 * ```
 */
export type Authorize = (headers: Headers, token: string) => void

/**
 * RefreshingClientOptions are the options of the `RefreshingClient` constructor. `baseUrl` or
 * `allowedOrigins` is required.
 *
 * @example
 * ```ts
 * const client = new RefreshingClient({
 *   tokens: { name: 'agent-7', fetchToken }, // options: the client makes the provider, and disposes it
 *   baseUrl: 'https://town.example.com/api/',
 *   allowedOrigins: ['https://uploads.example.com'],
 *   headers: { 'x-agent-id': 'agent-7' },
 *   authorize: (headers, token) => headers.set('x-api-key', token),
 *   ky: { timeout: 10_000 },
 * })
 * ```
 */
export interface RefreshingClientOptions {
  /** The provider of the token, or options to make one that the client then owns and disposes. */
  tokens: TokenProvider | TokenProviderOptions
  /** Relative URLs resolve against it, and its origin may receive the token. */
  baseUrl?: string | URL | undefined
  /** Other origins that may receive the token, such as `https://uploads.example.com`. */
  allowedOrigins?: string[] | undefined
  /** Headers sent with every request (identity headers, for instance); per-request headers win. */
  headers?: HeadersInit | undefined
  /** Puts the token on the request. @default sets `Authorization: Bearer <token>` */
  authorize?: Authorize | undefined
  /** Response statuses that mean "this token was refused": refresh and replay once. @default [401] */
  retryOnStatus?: number[] | undefined
  /** The underlying fetch. @default globalThis.fetch, looked up at each call */
  fetch?: typeof fetch | undefined
  /** Options for `client.ky`; `baseUrl` and `fetch` are the client's. */
  ky?: KyOptions | undefined
  /**
   * A DPoP key (RFC 9449) from `createDPoP()`: the token goes as `Authorization: DPoP <token>` with
   * a fresh proof per send, and `use_dpop_nonce` answers are replayed once with the server's nonce.
   * Give the token source the same key. Not with `authorize`. @default none: bearer tokens
   */
  dpop?: DPoP | undefined
}

/**
 * RefreshingClientEvents are the events of a `RefreshingClient`. URLs are given without query or
 * fragment.
 *
 * @example
 * ```ts
 * client.on('retry', ({ url }) => console.log(`token refused by ${url}: replaying with a fresh one`))
 * client.on('unauthorized', ({ url, status, retried }) => console.warn(`${url}: ${status} (retried: ${retried})`))
 * client.on('challenge', ({ url, error, scope }) => {
 *   if (error === 'insufficient_scope') console.warn(`${url} needs scope ${scope}`)
 * })
 * ```
 */
export type RefreshingClientEvents = {
  /**
   * A request ended rejected: `retried: false` when no fresh token could be had (the refresh
   * failed, or gave the same token back), `retried: true` when the replay was refused too.
   */
  unauthorized: {
    /** The request URL, without query or fragment. */
    url: string
    /** The final status. */
    status: number
    /** Whether the request was replayed with a fresh token before it ended refused. */
    retried: boolean
  }
  /**
   * A 401 or 403 carried a `WWW-Authenticate` challenge (one event per challenge; a DPoP nonce
   * request is a protocol step and is not reported). `insufficient_scope`,
   * `insufficient_user_authentication` and `invalid_request` are not refreshed: act on `scope`,
   * `acrValues` or `maxAge` and send again.
   */
  challenge: ChallengeEvent
  /** A refused request is being replayed with a fresh token. */
  retry: {
    /** The request URL, without query or fragment. */
    url: string
  }
}
