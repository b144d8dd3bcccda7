import { isAuthError } from '../errors.js'
import type { ClockOffset } from './clock.js'
import type { Failures } from './failures.js'
import type { ResolvedOptions } from './options.js'
import { scheduleFor } from './schedule.js'
import { checkClaims, isNewer, parseToken, type TokenInput, type TokenSet } from './token-set.js'
import type { RefreshReason, TokenHealth, TokenProviderState, TokenReason } from './types.js'

/** A token a provider holds, with its schedule on the local clock. */
export interface Held {
  readonly set: TokenSet
  /** From here on the token SHOULD be refreshed: in the background, while it is still served. */
  readonly shouldRefreshAt: number
  /** From here on the token MUST be refreshed: it is expired, less the clock skew, and not served. */
  readonly mustRefreshAt: number
  /** A server rejected it (`invalidate`): it is no longer served. */
  rejected: boolean
  expiredEmitted: boolean
}

/** MUST refresh: the token may not be served (expired, less the clock skew, or refused by a server). */
export function mustRefresh(held: Held, now: number): boolean {
  return held.rejected || now >= held.mustRefreshAt
}

/** SHOULD refresh: past its refresh point, the token is refreshed in the background while it serves. */
export function shouldRefresh(held: Held, now: number): boolean {
  return now >= held.shouldRefreshAt
}

/**
 * supersedes tells whether a token from outside (`held`: pushed, or from the fleet's store) replaces
 * `current`: it must be valid, and newer (a push wins a tie), or differ from a refused one.
 */
export function supersedes(held: Held, current: Held | undefined, reason: TokenReason, now: number): boolean {
  if (mustRefresh(held, now)) return false
  if (current === undefined) return true
  return current.rejected
    ? held.set.accessToken !== current.set.accessToken
    : isNewer(held.set, current.set, reason === 'push')
}

/** The state of a provider that holds `held` and is neither disposed, refreshing nor failed. */
export function stateOf(held: Held | undefined, now: number): TokenProviderState {
  if (held === undefined) return 'empty'
  if (mustRefresh(held, now)) return 'expired'
  return shouldRefresh(held, now) ? 'stale' : 'fresh'
}

/** Whether the provider holding `held` serves `accessToken` (any token, when absent) and needs no refresh yet. */
export function isFresh(held: Held | undefined, now: number, accessToken?: string): boolean {
  if (held === undefined || (accessToken !== undefined && held.set.accessToken !== accessToken)) return false
  return stateOf(held, now) === 'fresh'
}

/** When the `expired` event of `held` is due (local clock); `Infinity` when none held, refused, or already told. */
export function expiredEventAt(held: Held | undefined): number {
  return held === undefined || held.rejected || held.expiredEmitted ? Number.POSITIVE_INFINITY : held.mustRefreshAt
}

/** Why a refresh started at `now` is needed. */
export function reasonFor(held: Held | undefined, now: number): RefreshReason {
  if (held === undefined) return 'initial'
  if (held.rejected) return 'unauthorized'
  return mustRefresh(held, now) ? 'expired' : 'scheduled'
}

/**
 * keepRefreshToken gives `set` the refresh token of `current` when it has none: servers that do
 * not rotate refresh tokens omit them, and a pushed or stored token may come without one, while
 * ours is the latest rotated.
 */
export function keepRefreshToken(set: TokenSet, current: TokenSet | undefined): TokenSet {
  return set.refreshToken === undefined && current?.refreshToken !== undefined
    ? { ...set, refreshToken: current.refreshToken }
    : set
}

/**
 * refusal says why a refreshed token (`held`) cannot replace `replaced`, or `'same'` when the
 * source handed back the token already held (a caching endpoint: a metadata server, a sidecar).
 * That is no refresh, and asking again every second would hammer it, so a refresh that was not
 * asked for explicitly (`manual`) backs off like a failure. The same token with a later expiry (a
 * sliding session) is a refresh. A token from the fleet's store is judged by the store instead.
 */
export function refusal(
  held: Held,
  replaced: Held | undefined,
  reason: TokenReason,
  now: number,
): string | 'same' | undefined {
  if (mustRefresh(held, now)) return 'a token that has already expired'
  if (replaced === undefined || reason === 'store' || replaced.set.accessToken !== held.set.accessToken)
    return undefined
  if (replaced.rejected) return 'the token a server just rejected'
  if ((held.set.expiresAt ?? 0) > (replaced.set.expiresAt ?? 0)) return undefined
  return reason === 'manual' ? 'same' : 'the token the provider already holds'
}

/**
 * readToken parses token input for a provider: on the issuer's clock (as estimated from the
 * provider's own fetches), checked against `expectedClaims`. Throws a `TokenDecodeError`, or an
 * `AuthError` with code `ERR_CLAIMS_MISMATCH`.
 */
export function readToken(input: TokenInput, options: ResolvedOptions, clock: ClockOffset): TokenSet {
  const set = parseToken(input, { now: issuerNow(options, clock) })
  if (options.expectedClaims !== undefined) checkClaims(set, options.expectedClaims, options.label)
  return set
}

/** holdToken schedules a token: its times are on the issuer's clock; its schedule, like every timer, runs on ours. */
export function holdToken(set: TokenSet, options: ResolvedOptions, clock: ClockOffset): Held {
  const offset = clock.offsetMs ?? 0
  const { refreshAt, expiredAt } = scheduleFor(set, issuerNow(options, clock), options, Math.random)
  return {
    set: Object.freeze(set),
    shouldRefreshAt: refreshAt - offset,
    mustRefreshAt: expiredAt - offset,
    rejected: false,
    expiredEmitted: false,
  }
}

/** Now on the issuer's clock, as estimated: the base of `expiresIn` and of every schedule. */
function issuerNow(options: ResolvedOptions, clock: ClockOffset): number {
  return options.now() + (clock.offsetMs ?? 0)
}

/** What a provider's health is made of, besides its state. */
export interface HealthFacts {
  readonly held: Held | undefined
  readonly failures: Failures | undefined
  readonly lastRefreshAt: number | undefined
  readonly clock: ClockOffset
}

/**
 * providerHealth is a provider's token-free {@link TokenHealth} at `now` (local clock): cheap (readiness
 * probes call it often), one object, its fields set only when known.
 */
export function providerHealth(state: TokenProviderState, facts: HealthFacts, now: number): TokenHealth {
  const { held, failures } = facts
  const health: TokenHealth = {
    state,
    healthy: held !== undefined && !mustRefresh(held, now),
    consecutiveFailures: failures?.count ?? 0,
  }
  if (held?.set.expiresAt !== undefined) health.expiresAt = held.set.expiresAt
  // The refresh point, or later while failed refreshes back off; none once failed for good.
  const refreshAt =
    held === undefined ? Number.POSITIVE_INFINITY : Math.max(held.shouldRefreshAt, failures?.retryAt ?? 0)
  if (refreshAt < Number.POSITIVE_INFINITY) health.refreshAt = refreshAt
  if (facts.lastRefreshAt !== undefined) health.lastRefreshAt = facts.lastRefreshAt
  const error = failures?.lastError
  if (error !== undefined) health.lastErrorCode = isAuthError(error.cause) ? error.cause.code : error.code
  if (facts.clock.offsetMs !== undefined) health.clockOffsetMs = facts.clock.offsetMs
  return health
}

/**
 * nextUnforcedAt is when the next unforced refresh (the timer's, `getToken`'s) of a provider may
 * start, on the local clock: the held token's refresh point (at once for a refused token, or after
 * a failed first fetch), held back by the throttle and the backoff; `Infinity` when none will (no
 * token source, nothing to refresh, or failed for good).
 */
export function nextUnforcedAt(
  held: Held | undefined,
  failures: Failures | undefined,
  throttledUntil: number,
  hasSource: boolean,
): number {
  if (!hasSource || failures?.terminal) return Number.POSITIVE_INFINITY
  const due =
    held === undefined
      ? failures === undefined
        ? Number.POSITIVE_INFINITY
        : 0
      : held.rejected
        ? 0
        : held.shouldRefreshAt
  return Math.max(due, throttledUntil, failures?.retryAt ?? 0)
}
