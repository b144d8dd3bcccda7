import type { TokenInput, TokenSet } from './token-set.js'

/**
 * RefreshReason is why a refresh was started.
 *
 * @example
 * ```ts
 * const fetchToken: FetchToken = async ({ reason, signal }) => {
 *   if (reason === 'unauthorized') console.warn('a server refused the last token before its expiry')
 *   return (await fetch('https://auth.example.com/agents/7/token', { method: 'POST', signal })).text()
 * }
 * ```
 */
export type RefreshReason = 'initial' | 'scheduled' | 'expired' | 'unauthorized' | 'manual'

/**
 * TokenReason is why the provider's token changed: a refresh, a push (`setToken`), or the fleet's store.
 *
 * @example
 * ```ts
 * tokens.on('token', ({ token, reason }) => {
 *   console.log(`new token (${reason}), expires at ${token.expiresAt ?? 'an unknown time'}`) // never log the token
 * })
 * ```
 */
export type TokenReason = RefreshReason | 'push' | 'store'

/**
 * FetchTokenContext is what a {@link FetchToken} is called with.
 *
 * @example
 * ```ts
 * const fetchToken: FetchToken = async ({ signal, current, report }) => {
 *   const body = new URLSearchParams({ refresh_token: current?.refreshToken ?? savedRefreshToken })
 *   const response = await fetch('https://auth.example.com/refresh', { method: 'POST', body, signal })
 *   const { access_token, expires_in, refresh_token } = await response.json()
 *   vault.save(refresh_token).catch(report) // not fatal: it becomes an `error` event
 *   return { accessToken: access_token, expiresIn: expires_in, refreshToken: refresh_token }
 * }
 * ```
 */
export interface FetchTokenContext {
  /** Aborted when the refresh times out or the provider is disposed. */
  signal: AbortSignal
  /** Why this refresh runs. */
  reason: RefreshReason
  /** The token being replaced, if any (its `refreshToken` is the latest rotated one). */
  current?: TokenSet
  /** Reports a problem that did not fail the refresh; it becomes an `error` event. */
  report(error: unknown): void
  /**
   * Reports the token endpoint's clock: the `Date` header of its answer, in epoch ms. The provider
   * uses it (rather than the token's `iat`) to estimate how far the issuer's clock is from ours.
   * Absent on providers from older copies of the library: call it as `reportDate?.(ms)`.
   */
  reportDate?(date: number): void
}

/**
 * FetchToken is the type of `fetchToken`: it gets a fresh token from wherever tokens come from.
 * It may carry `attach(provider)`, which the provider calls once at creation and whose returned
 * function it calls at disposal (a watching token file pushes through it).
 *
 * @example
 * ```ts
 * const fetchToken: FetchToken = async ({ signal }) => {
 *   const response = await fetch('http://127.0.0.1:8080/token', { method: 'POST', signal })
 *   return (await response.json()).token
 * }
 * ```
 */
export interface FetchToken {
  (context: FetchTokenContext): Promise<TokenInput>
  /** Called once by the provider at its creation; the function it returns is called at disposal. */
  attach?: (provider: TokenProvider) => (() => void) | undefined
}

/**
 * TokenProviderErrorEvent is the payload of a provider `error` event. Never carries a token.
 *
 * @example
 * ```ts
 * tokens.on('error', ({ error, attempt, willRetry, retryInMs, store }) => {
 *   if (store) console.warn(`token store unavailable, refreshing locally: ${error.message}`)
 *   else if (willRetry) console.warn(`refresh ${attempt} failed, next try in ${retryInMs} ms: ${error.message}`)
 *   else console.error(error.message) // given up (state 'failed'), or a reported problem (attempt 0)
 * })
 * ```
 */
export interface TokenProviderErrorEvent {
  /** A `RefreshError` (with `cause`) for a failed refresh, or the reported problem. */
  error: Error
  /** How many refreshes in a row have failed; 0 for a problem that did not fail a refresh. */
  attempt: number
  /** Whether the provider will try again on its own. */
  willRetry: boolean
  /** When it will, in how many milliseconds. */
  retryInMs?: number
  /** `true` when the problem is the fleet's token store (the provider carried on locally). */
  store?: boolean
}

/**
 * TokenProviderEvents are the events of a {@link TokenProvider}. Only `token` carries a token.
 *
 * @example
 * ```ts
 * type TokenEvent = TokenProviderEvents['token'] // { token: TokenSet; reason: TokenReason }
 * tokens.on('expired', ({ expiresAt }) => console.warn(`token expired at ${new Date(expiresAt).toISOString()}`))
 * tokens.on('disposed', () => console.log('provider disposed'))
 * ```
 */
export type TokenProviderEvents = {
  /** The current token changed. */
  token: {
    /** The new token, the only place an event carries one: never log it. */
    token: TokenSet
    /** Why it changed. */
    reason: TokenReason
    /**
     * The provider's estimate of the issuer's clock minus the local clock, in ms, once it has
     * evidence (a token endpoint's `Date` header, or the `iat` of a token it fetched itself).
     */
    clockOffsetMs?: number
  }
  /** A refresh failed, or a non-fatal problem was reported. */
  error: TokenProviderErrorEvent
  /** The current token passed its expiry (less the clock skew) without being replaced. */
  expired: {
    /** When the token expires (epoch ms). */
    expiresAt: number
  }
  /** The provider was disposed. */
  disposed: undefined
}

/**
 * TokenProviderState is where a {@link TokenProvider} stands: `empty` no token yet; `fresh` before
 * the refresh point; `stale` past it, still valid; `refreshing` a refresh in flight; `expired` past
 * expiry less the clock skew, or refused by a server; `failed` after a terminal error or the last
 * allowed attempt (an unexpired token is still served); `disposed`.
 *
 * @example
 * ```ts
 * // a readiness probe: not ready without a valid token, or once refreshing has given up
 * const unready: TokenProviderState[] = ['empty', 'expired', 'failed', 'disposed']
 * const ready = () => !unready.includes(tokens.state)
 * ```
 */
export type TokenProviderState = 'empty' | 'fresh' | 'stale' | 'refreshing' | 'expired' | 'failed' | 'disposed'

/**
 * GetTokenOptions are the options of `getToken()` and `getTokenSet()`.
 *
 * @example
 * ```ts
 * const token = await tokens.getToken({ signal: AbortSignal.timeout(5_000) }) // stop waiting after 5 s
 * const fresh = await tokens.getTokenSet({ forceRefresh: true }) // a new token, whatever the schedule says
 * ```
 */
export interface GetTokenOptions {
  /** Stops this caller's wait; a refresh shared with other callers carries on. */
  signal?: AbortSignal | undefined
  /** Refresh now, even if the current token is fresh. */
  forceRefresh?: boolean | undefined
}

/**
 * TokenProvider owns one identity's current token: it decodes expiry, refreshes on a timer
 * before expiry, keeps one refresh in flight, accepts pushed tokens and emits events.
 * Recognised by shape: a provider made by another copy of the library works as well.
 *
 * @example
 * ```ts
 * const tokens: TokenProvider = createTokenProvider({ name: 'agent-7', fetchToken })
 * const token = await tokens.getToken() // refreshed first if there is no valid token
 * tokens.setToken(pushedJwt) // false unless it is newer than the current token
 * tokens.invalidate(token) // a server refused it: if it is still current, it is replaced
 * console.log(tokens.state, tokens.current?.expiresAt)
 * console.log(JSON.stringify(tokens.health())) // {"state":"fresh","healthy":true,"consecutiveFailures":0,...}
 * tokens.dispose()
 * ```
 */
export interface TokenProvider extends Disposable {
  /** The access token to use now, refreshing first if there is no valid one. */
  getToken(options?: GetTokenOptions): Promise<string>
  /** Like `getToken`, with everything known about the token. */
  getTokenSet(options?: GetTokenOptions): Promise<TokenSet>
  /** The token held now, valid or not. */
  readonly current: TokenSet | undefined
  /** Where the provider stands; see {@link TokenProviderState}. */
  readonly state: TokenProviderState
  /** Refreshes now (joining a refresh in flight), whatever the schedule says. */
  refresh(options?: { signal?: AbortSignal }): Promise<TokenSet>
  /** Pushes a token; `false` when it is not newer than the current one (or already expired). */
  setToken(token: TokenInput): boolean
  /** Says a server rejected `accessToken`: if it is still the current token, it is replaced. */
  invalidate(accessToken: string): void
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof TokenProviderEvents>(type: K, handler: (event: TokenProviderEvents[K]) => void): () => void
  /**
   * A token-free snapshot for health checks: state, whether a token would be sent now, expiry,
   * refresh times and failures since the last success. Cheap and JSON-safe; see {@link TokenHealth}.
   * Providers made by copies of the library older than 0.2 lack it: registries, `createHealthHandler`
   * and `instrument` then derive what they can from `state` and `current`.
   */
  health(): TokenHealth
  /** Stops timers, aborts a refresh in flight, removes listeners. Idempotent. */
  dispose(): void
}

/**
 * TokenHealth is a token-free snapshot of one provider, for health checks and readiness probes:
 * plain numbers and strings only, so `JSON.stringify` gives it as it is. Times are epoch
 * milliseconds; a field whose value is unknown is absent.
 *
 * @example
 * ```ts
 * const health: TokenHealth = tokens.health()
 * // { state: 'stale', healthy: true, consecutiveFailures: 2, lastErrorCode: 'ERR_REFRESH',
 * //   expiresAt: 1767225600000, refreshAt: 1767225540000, lastRefreshAt: 1767222000000 }
 * if (!health.healthy) alert(`no usable token since ${new Date(health.expiresAt ?? 0).toISOString()}`)
 * ```
 */
export interface TokenHealth {
  /** Where the provider stands (see `TokenProviderState`). */
  state: TokenProviderState
  /**
   * Whether the provider holds a token it would send now: one that is neither past its expiry (less
   * the clock skew) nor refused by a server. Still `true` while a refresh is in flight.
   */
  healthy: boolean
  /**
   * When the held token expires (epoch ms), if that is known: on the issuer's clock, like the token's
   * own `exp` (`expiresAt − clockOffsetMs` is the local time).
   */
  expiresAt?: number
  /**
   * When the next unforced refresh is due (epoch ms, local clock): the refresh point, or later while failed
   * refreshes back off. Absent without a token of known expiry, or once refreshing has given up.
   */
  refreshAt?: number
  /** When a refresh last succeeded (epoch ms, local clock), if one has. */
  lastRefreshAt?: number
  /** The `code` of the latest failure since the last success (such as `ERR_OAUTH2` or `ERR_REFRESH`). */
  lastErrorCode?: string
  /** How many refreshes in a row have failed since the last success (or pushed token); 0 when none. */
  consecutiveFailures: number
  /** The estimated issuer clock minus the local clock (ms), once the provider has evidence of it. */
  clockOffsetMs?: number
}

/**
 * peekToken is the client's fast path across copies of the library: the valid access token, or
 * `undefined` when the caller must await `getToken()`. It starts a background refresh when due.
 */
export const peekToken = Symbol.for('refreshing-client.peekToken.v1')

/** A provider that may offer the {@link peekToken} fast path. */
export type PeekableProvider = TokenProvider & { [peekToken]?: () => string | undefined }
